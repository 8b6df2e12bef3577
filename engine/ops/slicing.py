"""Slicing: strided_slice (TensorFlow's masks, Python's slice rules per axis), slice
(begin, size), and their transpose strided_slice_grad (g placed back into zeros).
"""
from __future__ import annotations

import numpy as np

from .. import fn
from . import attrs as parse
from .registry import Attr, TensorSpec, check_dtypes, defop, kernel
from .rules import leading_with, shaped_like

Index = tuple[int | slice, ...]


def _optional_ints(v) -> tuple[int | None, ...]:
    """begin/end of strided_slice: ints, or null for the open end."""
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"expected a list of ints or nulls, got {v!r}")
    return tuple(None if x is None else parse.integer(x) for x in v)


def _mask(v) -> int:
    if parse.integer(v) < 0:
        raise ValueError(f"a mask is a non-negative bit field, got {v}")
    return v


def _strided_index(attrs, rank: int) -> Index:
    """The numpy index of a strided_slice: one slice (or shrinking int) per listed axis."""
    begin, end = attrs["begin"], attrs["end"]
    strides = attrs["strides"] if attrs["strides"] is not None else (1,) * len(begin)
    if not len(begin) == len(end) == len(strides):
        raise ValueError(f"begin, end and strides have {len(begin)}, {len(end)} and "
                         f"{len(strides)} entries; they must have as many")
    if len(begin) > rank:
        raise ValueError(f"begin has {len(begin)} entries but the input has rank {rank}")
    items: list[int | slice] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if attrs["shrink_axis_mask"] & bit:
            if b is None:
                raise ValueError(f"shrink_axis_mask takes axis {i} at begin[{i}], a null")
            items.append(b)
            continue
        if s == 0:
            raise ValueError(f"strides[{i}] is 0")
        items.append(slice(None if attrs["begin_mask"] & bit else b,
                           None if attrs["end_mask"] & bit else e, s))
    return tuple(items)


def _indexed_shape(index: Index, shape) -> tuple[int | None, ...]:
    """The shape of ``x[index]`` for a static shape with unknown dimensions."""
    out = []
    for a, d in enumerate(shape):
        item = index[a] if a < len(index) else slice(None)
        if isinstance(item, int):
            if d is not None and not -d <= item < d:
                raise ValueError(f"index {item} is out of range for axis {a} of size {d}")
            continue
        out.append(None if d is None else len(range(d)[item]))
    return tuple(out)


@kernel
def _strided_slice_kernel(attrs, specs):
    index = _strided_index(attrs, len(specs[0].shape))
    return lambda x: np.asarray(x[index])


STRIDED_ATTRS = {
    "begin": Attr(parse=_optional_ints),
    "end": Attr(parse=_optional_ints),
    "strides": Attr(None, lambda v: None if v is None else parse.int_list(v)),
    "begin_mask": Attr(0, _mask),
    "end_mask": Attr(0, _mask),
    "shrink_axis_mask": Attr(0, _mask),
    "ellipsis_mask": Attr(0, parse.zero_only),
    "new_axis_mask": Attr(0, parse.zero_only),
}


def _strided_slice_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    return TensorSpec(_indexed_shape(_strided_index(attrs, len(shape)), shape),
                      specs[0].dtype)


def _strided_attrs(c) -> dict:
    """strided_slice attrs with a whole batch axis in front: each mask bit moves up one."""
    a = c.attrs
    strides = a["strides"] or [1] * len(a["begin"])
    return {"begin": [None, *a["begin"]], "end": [None, *a["end"]], "strides": [1, *strides],
            "begin_mask": a["begin_mask"] << 1, "end_mask": a["end_mask"] << 1,
            "shrink_axis_mask": a["shrink_axis_mask"] << 1}


_strided_batch = leading_with(_strided_attrs)

defop("strided_slice", aliases=("StridedSlice",), batch=_strided_batch, infer=_strided_slice_infer,
      forward=_strided_slice_kernel, attrs=STRIDED_ATTRS,
      linear=(0,), transpose=lambda c: [fn.strided_slice_grad(c.g, c.a, **c.attrs)],
      doc="Python slice rules per axis; null begin/end is the open end; axes past the "
          "lists are taken whole.")


@kernel
def _strided_slice_grad_kernel(attrs, specs):
    index = _strided_index(attrs, len(specs[1].shape))
    def run(g, like):
        out = np.zeros(like.shape, dtype=g.dtype)
        out[index] = g
        return out

    return run


defop("strided_slice_grad", inputs=2, batch=_strided_batch,
      infer=shaped_like(1),
      forward=_strided_slice_grad_kernel, attrs=STRIDED_ATTRS,
      linear=(0,), transpose=lambda c: [fn.strided_slice(c.g, **c.attrs), None],
      doc="Internal (VJP of slicing): g placed into zeros shaped like the second input, "
          "where strided_slice with the same attrs took its values.")


def _slice_as_strided(attrs, rank: int) -> dict:
    """slice's (begin, size) as strided_slice attrs; refuses what TensorFlow refuses."""
    begin, size = attrs["begin"], attrs["size"]
    if not len(begin) == len(size) == rank:
        raise ValueError(f"begin and size have {len(begin)} and {len(size)} entries; the "
                         f"input has rank {rank}")
    if any(b < 0 for b in begin) or any(s < -1 for s in size):
        raise ValueError(f"begin must be >= 0 and size >= -1, got {list(begin)} and "
                         f"{list(size)}")
    return {"begin": begin, "end": tuple(None if s == -1 else b + s
                                         for b, s in zip(begin, size)),
            "strides": None, "begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0}


def _check_slice_bounds(attrs, shape) -> None:
    """A slice past the end is an error (not silently cut short, as Python would)."""
    for a, (b, s, d) in enumerate(zip(attrs["begin"], attrs["size"], shape)):
        if d is not None and (b > d or b + max(s, 0) > d):
            raise ValueError(f"slice of axis {a} from {b} with size {s} runs past its "
                             f"size {d}")


def _slice_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    strided = _slice_as_strided(attrs, len(shape))
    _check_slice_bounds(attrs, shape)
    dims = _indexed_shape(_strided_index(strided, len(shape)), shape)
    # a given size holds even where the input's dim is unknown: run time checks the bounds
    return TensorSpec(tuple(d if s == -1 else s for d, s in zip(dims, attrs["size"])),
                      specs[0].dtype)


@kernel
def _slice_kernel(attrs, specs):
    index = _strided_index(_slice_as_strided(attrs, len(specs[0].shape)), len(specs[0].shape))

    def run(x):
        _check_slice_bounds(attrs, x.shape)
        return x[index]

    return run


defop("slice", aliases=("Slice",), infer=_slice_infer, forward=_slice_kernel,
      batch=leading_with(lambda c: {"begin": [0, *c.attrs["begin"]],
                                    "size": [-1, *c.attrs["size"]]}),
      attrs={"begin": Attr(parse=parse.int_list), "size": Attr(parse=parse.int_list)},
      linear=(0,), transpose=lambda c: [
          fn.strided_slice_grad(c.g, c.a, **_slice_as_strided(c.attrs, c.a.ndim))],
      doc="size -1 takes the rest of the axis.")
