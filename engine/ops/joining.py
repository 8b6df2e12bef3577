"""Joining and splitting: concat and its transpose split_like (cut at the run-time sizes
of "like" inputs), stack, split. All linear: each one's transpose is the other's join or cut.
"""
from __future__ import annotations

import numpy as np

from .. import fn
from ..shapes import fmt, normalize_axis
from . import attrs as parse
from .contexts import BatchContext, VJPContext
from .registry import ALL, Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import axis_batch, batched_first, example_rank, example_shape


def _merged_shape(specs, skip_axis: int | None, what: str) -> list[int | None]:
    """The one shape several inputs share (all axes but ``skip_axis``); unknown dims defer."""
    rank = len(specs[0].shape)
    merged = list(specs[0].shape)
    for i, s in enumerate(specs[1:], start=1):
        if len(s.shape) != rank:
            raise OpTypeError(f"input {i} has rank {len(s.shape)} but input 0 has rank "
                              f"{rank}; {what}", input_index=i)
        for a, d in enumerate(s.shape):
            if a == skip_axis or d is None:
                continue
            if merged[a] is not None and merged[a] != d:
                raise OpTypeError(f"input {i} has shape {fmt(s.shape)}, which differs from "
                                  f"input 0's {fmt(specs[0].shape)} on axis {a}; {what}",
                                  input_index=i)
            merged[a] = d
    return merged


def _concat_infer(specs, attrs):
    check_dtypes(specs, "any")
    if not specs[0].shape:
        raise OpTypeError("cannot concatenate scalars (stack them instead)", input_index=0)
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))
    shape = _merged_shape(specs, axis, "concat joins tensors that agree off the axis")
    dims = [s.shape[axis] for s in specs]
    shape[axis] = None if None in dims else sum(dims)
    return TensorSpec(tuple(shape), specs[0].dtype)


@kernel
def _concat_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))
    return lambda *xs: np.concatenate(xs, axis=axis)


defop("concat", aliases=("ConcatV2", "Concat", "concatenate"), inputs=(1, None),
      infer=_concat_infer, forward=_concat_kernel,
      attrs={"axis": Attr(0, parse.integer, aliases=("dim",))}, batch=axis_batch(),
      linear=ALL, transpose=lambda c: list(fn.split_like(c.g, *c.inputs, axis=c.attrs["axis"])),
      doc="Joins inputs along an existing axis; the gradient is g cut back into pieces.")


@kernel
def _split_like_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))

    def run(g, *likes):
        cuts = np.cumsum([like.shape[axis] for like in likes])[:-1]
        return np.split(g, cuts, axis=axis)

    return run


def _split_like_batch(c: BatchContext):
    """Only the pieces' lengths come from the likes: when they are known, a split with
    static sizes (no like tiled along the batch)."""
    axis = normalize_axis(c.attrs["axis"], example_rank(c))
    sizes = [example_shape(c, k)[axis] for k in range(1, len(c.inputs))]
    if None in sizes:
        return axis_batch()(c)
    out = fn.split(batched_first(c, 0), num_or_size_splits=sizes, axis=axis + 1)
    pieces = list(out) if isinstance(out, tuple) else [out]
    return pieces, [0] * len(pieces)


defop("split_like", inputs=(2, None), multi_output=True, batch=_split_like_batch,
      infer=lambda specs, attrs: [TensorSpec(s.shape, specs[0].dtype) for s in specs[1:]],
      forward=_split_like_kernel, attrs={"axis": Attr(parse=parse.integer)},
      linear=(0,),
      transpose=lambda c: [fn.concat(*c.gs, axis=c.attrs["axis"]), *[None] * len(c.outputs)],
      doc="Internal (concat's VJP): cut the first input along axis into pieces as long as "
          "the other inputs are at run time.")


def _stack_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = _merged_shape(specs, None, "stack takes tensors of one shape")
    shape.insert(normalize_axis(attrs["axis"], len(shape) + 1), len(specs))
    return TensorSpec(tuple(shape), specs[0].dtype)


@kernel
def _stack_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape) + 1)
    return lambda *xs: np.stack(xs, axis=axis)


def _stack_transpose(c: VJPContext):
    axis = normalize_axis(c.attrs["axis"], c.g.ndim)
    pieces = fn.split(c.g, num_or_size_splits=len(c.inputs), axis=axis)
    return [fn.squeeze(p, axis=axis) for p in pieces]


defop("stack", aliases=("Pack", "Stack"), inputs=(1, None), infer=_stack_infer,
      forward=_stack_kernel, attrs={"axis": Attr(0, parse.integer)},
      linear=ALL, transpose=_stack_transpose, batch=axis_batch(extra=1),
      doc="Joins same-shaped inputs along a new axis.")


def _split_spec(v) -> int | tuple[int, ...]:
    """A count of equal pieces (int >= 1) or a list of sizes with at most one -1."""
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 1:
            raise ValueError(f"a count of pieces must be at least 1, got {v}")
        return v
    sizes = parse.int_list(v)
    if not sizes:
        raise ValueError("the list of sizes is empty")
    if any(s < -1 for s in sizes) or sizes.count(-1) > 1:
        raise ValueError(f"sizes must be >= 0 with at most one -1, got {list(sizes)}")
    return sizes


def _split_sizes(split: int | tuple[int, ...], dim: int | None) -> list[int | None]:
    """Sizes of the pieces of an axis of size ``dim`` (None: unknown until run time)."""
    if isinstance(split, int):
        if dim is None:
            return [None] * split
        if dim % split:
            raise ValueError(f"an axis of size {dim} cannot be split into {split} equal pieces")
        return [dim // split] * split
    known = sum(s for s in split if s != -1)
    if -1 not in split:
        if dim is not None and known != dim:
            raise ValueError(f"sizes {list(split)} add up to {known}, but the axis has "
                             f"size {dim}")
        return list(split)
    if dim is not None and known > dim:
        raise ValueError(f"sizes {list(split)} add up to more than the axis size {dim}")
    rest = None if dim is None else dim - known
    return [rest if s == -1 else s for s in split]


def _split_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    if not shape:
        raise OpTypeError("cannot split a scalar", input_index=0)
    axis = normalize_axis(attrs["axis"], len(shape))
    return [TensorSpec((*shape[:axis], d, *shape[axis + 1:]), specs[0].dtype)
            for d in _split_sizes(attrs["num_or_size_splits"], shape[axis])]


@kernel
def _split_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))
    split = attrs["num_or_size_splits"]

    def run(x):
        sizes = _split_sizes(split, x.shape[axis])
        return np.split(x, np.cumsum(sizes)[:-1], axis=axis)

    return run


defop("split", aliases=("Split", "SplitV"), multi_output=True, infer=_split_infer,
      forward=_split_kernel,
      attrs={"num_or_size_splits": Attr(parse=_split_spec,
                                        aliases=("num_split", "size_splits", "output_num")),
             "axis": Attr(0, parse.integer, aliases=("split_dim",))},
      linear=(0,), batch=axis_batch(), transpose=lambda c: [fn.concat(*c.gs, axis=c.attrs["axis"])],
      doc="Outputs are 'name:k'. The gradient joins the outputs' gradients (zeros for "
          "outputs that got none).")
