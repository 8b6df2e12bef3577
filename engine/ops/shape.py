"""Shape and indexing ops, and the internal helpers their VJPs emit.

``sum_to_shape`` / ``sum_to_like`` and ``broadcast_to`` / ``broadcast_like`` are each
other's VJPs; ``builder.sum_to`` and ``builder.broadcast_like`` pick the static or the
run-time form. Each gradient helper (``split_like``, ``strided_slice_grad``,
``gather_grad``, ``tile_grad``) takes the forward input as a "like" operand for its
run-time shape, so unknown dimensions need no second path, and has the forward op as
its own VJP, so gradients of gradients work.
"""
from __future__ import annotations

import math

import numpy as np

from ..builder import broadcast_like, sum_to
from ..builder import ops as F
from ..dtypes import INTEGER
from ..shapes import broadcast, fmt, is_static, normalize_axis
from . import attrs as parse
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop
from .rules import VJPContext, unary


def _reshape_back(c: VJPContext, g):
    """``g`` reshaped to the first input's shape (static when known, else at run time)."""
    if is_static(c.x.shape):
        return F.reshape(g, shape=list(c.x.shape))
    return F.reshape_like(g, c.x)


# -- constants shaped like their input -------------------------------------------------

defop("zeros_like", aliases=("ZerosLike",), infer=unary("any"), forward=np.zeros_like)
defop("ones_like", aliases=("OnesLike",), infer=unary("any"), forward=np.ones_like)

# -- broadcasting and its undoing --------------------------------------------------------


def _broadcast_to_infer(specs, attrs):
    check_dtypes(specs, "any")
    target = attrs["shape"]
    try:
        out = broadcast(specs[0].shape, target)
    except ValueError as exc:
        raise OpTypeError(str(exc)) from None
    if len(out) != len(target) or any(
        t is not None and o is not None and t != o for t, o in zip(target, out)
    ):
        raise OpTypeError(f"cannot broadcast {list(specs[0].shape)} to {list(target)}")
    return TensorSpec(tuple(target), specs[0].dtype)


def _broadcast_to_kernel(attrs, specs):
    target = attrs["shape"]

    def run(x):
        lead = len(target) - x.ndim  # axes the input lacks: an unknown one there is 1

        def dim(i: int, d: int | None) -> int:
            return d if d is not None else (x.shape[i - lead] if i >= lead else 1)

        return np.broadcast_to(x, tuple(dim(i, d) for i, d in enumerate(target)))

    return run


defop("broadcast_to", aliases=("BroadcastTo",), infer=_broadcast_to_infer, forward=None,
      kernel=_broadcast_to_kernel, attrs={"shape": Attr(parse=parse.shape)},
      vjp=lambda c: [sum_to(c.g, c.x)])


def _sum_to_shape(t, shape):
    shape = tuple(shape)
    if t.shape == shape:
        return t
    lead = t.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and t.shape[lead + i] != 1)
    out = t.sum(axis=axes, keepdims=True, dtype=t.dtype) if axes else t
    return out.reshape(shape)


defop("sum_to_shape", infer=lambda specs, attrs: TensorSpec(attrs["shape"], specs[0].dtype),
      forward=_sum_to_shape, attrs={"shape": Attr(parse=parse.shape)},
      vjp=lambda c: [broadcast_like(c.g, c.x)],
      doc="Internal: sum a broadcast gradient back to a static shape.")
defop("sum_to_like", inputs=2, infer=lambda specs, attrs: TensorSpec(specs[1].shape,
                                                                        specs[0].dtype),
      forward=lambda t, like: _sum_to_shape(t, like.shape),
      vjp=lambda c: [broadcast_like(c.g, c.x), None],
      doc="Internal: sum a broadcast gradient back to the run-time shape of the second input.")
defop("broadcast_like", inputs=2,
      infer=lambda specs, attrs: TensorSpec(specs[1].shape, specs[0].dtype),
      forward=lambda t, like: np.broadcast_to(t, like.shape),
      vjp=lambda c: [sum_to(c.g, c.x), None],
      doc="Internal: broadcast to the run-time shape of the second input.")

# -- reshaping ---------------------------------------------------------------------------


def _reshape_infer(specs, attrs):
    check_dtypes(specs, "any")
    target = list(attrs["shape"])
    if sum(1 for d in target if d is None) > 1:
        raise OpTypeError("reshape allows at most one -1 in 'shape'")
    size = math.prod(d for d in specs[0].shape) if is_static(specs[0].shape) else None
    if None in target and size is not None:
        known = math.prod(d for d in target if d is not None)
        if known == 0 or size % known:
            raise OpTypeError(f"cannot reshape {list(specs[0].shape)} to "
                              f"{[-1 if d is None else d for d in target]}")
        target[target.index(None)] = size // known
    elif size is not None and math.prod(target) != size:
        raise OpTypeError(f"cannot reshape {list(specs[0].shape)} ({size} elements) to "
                          f"{target} ({math.prod(target)} elements)")
    return TensorSpec(tuple(target), specs[0].dtype)


def _reshape_kernel(attrs, specs):
    target = tuple(-1 if d is None else d for d in attrs["shape"])
    return lambda x: np.reshape(x, target)


defop("reshape", aliases=("Reshape",), infer=_reshape_infer, forward=None,
      kernel=_reshape_kernel, attrs={"shape": Attr(parse=parse.shape)},
      vjp=lambda c: [_reshape_back(c, c.g)], doc="One -1 (or null) is inferred.")
defop("reshape_like", inputs=2,
      infer=lambda specs, attrs: TensorSpec(specs[1].shape, specs[0].dtype),
      forward=lambda t, like: np.reshape(t, like.shape),
      vjp=lambda c: [_reshape_back(c, c.g), None],
      doc="Internal: reshape to the run-time shape of the second input.")


def _expand_axes(attrs, rank_in: int) -> tuple[int, ...]:
    """Positions of the new axes in the output; negatives count from the output's end."""
    axis = attrs["axis"]
    items = [axis] if isinstance(axis, int) else list(axis)
    out_rank = rank_in + len(items)
    norm = sorted(normalize_axis(a, out_rank) for a in items)
    if len(set(norm)) != len(norm):
        raise ValueError(f"axis {axis} repeats an axis")
    return tuple(norm)


def _expand_dims_infer(specs, attrs):
    check_dtypes(specs, "any")
    try:
        axes = _expand_axes(attrs, len(specs[0].shape))
    except ValueError as exc:
        raise OpTypeError(str(exc)) from None
    shape = list(specs[0].shape)
    for a in axes:
        shape.insert(a, 1)
    return TensorSpec(tuple(shape), specs[0].dtype)


def _expand_dims_kernel(attrs, specs):
    axes = _expand_axes(attrs, len(specs[0].shape))
    return lambda x: np.expand_dims(x, axes)


defop("expand_dims", aliases=("ExpandDims", "unsqueeze"), infer=_expand_dims_infer,
      forward=None, kernel=_expand_dims_kernel,
      attrs={"axis": Attr(parse=parse.int_or_list, aliases=("dim",))},
      vjp=lambda c: [_reshape_back(c, c.g)])


def _squeeze_axes(attrs, shape) -> tuple[int, ...]:
    axis = attrs["axis"]
    if axis is None:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    items = [axis] if isinstance(axis, int) else list(axis)
    return tuple(sorted({normalize_axis(a, len(shape)) for a in items}))


def _squeeze_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    try:
        axes = _squeeze_axes(attrs, shape)
    except ValueError as exc:
        raise OpTypeError(str(exc)) from None
    for a in axes:
        if shape[a] not in (1, None):
            raise OpTypeError(f"cannot squeeze axis {a} of size {shape[a]}")
    return TensorSpec(tuple(d for i, d in enumerate(shape) if i not in axes), specs[0].dtype)


def _squeeze_kernel(attrs, specs):
    axes = _squeeze_axes(attrs, specs[0].shape)
    return lambda x: np.squeeze(x, axis=axes)


defop("squeeze", aliases=("Squeeze",), infer=_squeeze_infer, forward=None,
      kernel=_squeeze_kernel,
      attrs={"axis": Attr(None, parse.axis_or_none, aliases=("squeeze_dims", "dim"))},
      vjp=lambda c: [_reshape_back(c, c.g)])


def _perm(attrs, rank: int) -> tuple[int, ...]:
    perm = attrs["perm"]
    if perm is None:
        return tuple(reversed(range(rank)))
    norm = tuple(normalize_axis(p, rank) for p in perm)
    if sorted(norm) != list(range(rank)):
        raise ValueError(f"perm {list(perm)} is not a permutation of {rank} axes")
    return norm


def _transpose_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    try:
        perm = _perm(attrs, len(shape))
    except ValueError as exc:
        raise OpTypeError(str(exc)) from None
    return TensorSpec(tuple(shape[p] for p in perm), specs[0].dtype)


def _transpose_kernel(attrs, specs):
    perm = _perm(attrs, len(specs[0].shape))
    return lambda x: np.transpose(x, perm)


def _transpose_vjp(c: VJPContext):
    perm = _perm(c.attrs, c.x.ndim)
    return [F.transpose(c.g, perm=[int(i) for i in np.argsort(perm)])]


defop("transpose", aliases=("Transpose",), infer=_transpose_infer, forward=None,
      kernel=_transpose_kernel,
      attrs={"perm": Attr(None, lambda v: None if v is None else parse.int_list(v))},
      vjp=_transpose_vjp, doc="perm defaults to the reversed axes.")


# -- joining and splitting ---------------------------------------------------------------


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


def _concat_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))
    return lambda *xs: np.concatenate(xs, axis=axis)


defop("concat", aliases=("ConcatV2", "Concat", "concatenate"), inputs=(1, None),
      infer=_concat_infer, forward=None, kernel=_concat_kernel,
      attrs={"axis": Attr(0, parse.integer, aliases=("dim",))},
      vjp=lambda c: list(F.split_like(c.g, *c.inputs, axis=c.attrs["axis"])),
      doc="Joins inputs along an existing axis; the gradient is g cut back into pieces.")


def _split_like_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))

    def run(g, *likes):
        cuts = np.cumsum([like.shape[axis] for like in likes])[:-1]
        return np.split(g, cuts, axis=axis)

    return run


defop("split_like", inputs=(2, None), multi_output=True,
      infer=lambda specs, attrs: [TensorSpec(s.shape, specs[0].dtype) for s in specs[1:]],
      forward=None, kernel=_split_like_kernel, attrs={"axis": Attr(parse=parse.integer)},
      vjp=lambda c: [F.concat(*c.gs, axis=c.attrs["axis"]), *[None] * len(c.outputs)],
      doc="Internal (concat's VJP): cut the first input along axis into pieces as long as "
          "the other inputs are at run time.")


def _stack_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = _merged_shape(specs, None, "stack takes tensors of one shape")
    shape.insert(normalize_axis(attrs["axis"], len(shape) + 1), len(specs))
    return TensorSpec(tuple(shape), specs[0].dtype)


def _stack_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape) + 1)
    return lambda *xs: np.stack(xs, axis=axis)


def _stack_vjp(c: VJPContext):
    axis = normalize_axis(c.attrs["axis"], c.g.ndim)
    pieces = F.split(c.g, num_or_size_splits=len(c.inputs), axis=axis)
    return [F.squeeze(p, axis=axis) for p in pieces]


defop("stack", aliases=("Pack", "Stack"), inputs=(1, None), infer=_stack_infer,
      forward=None, kernel=_stack_kernel, attrs={"axis": Attr(0, parse.integer)},
      vjp=_stack_vjp, doc="Joins same-shaped inputs along a new axis.")


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


def _split_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))
    split = attrs["num_or_size_splits"]

    def run(x):
        sizes = _split_sizes(split, x.shape[axis])
        return np.split(x, np.cumsum(sizes)[:-1], axis=axis)

    return run


defop("split", aliases=("Split", "SplitV"), multi_output=True, infer=_split_infer,
      forward=None, kernel=_split_kernel,
      attrs={"num_or_size_splits": Attr(parse=_split_spec,
                                        aliases=("num_split", "size_splits", "output_num")),
             "axis": Attr(0, parse.integer, aliases=("split_dim",))},
      vjp=lambda c: [F.concat(*c.gs, axis=c.attrs["axis"])],
      doc="Outputs are 'name:k'. The gradient joins the outputs' gradients (zeros for "
          "outputs that got none).")

# -- slicing -----------------------------------------------------------------------------

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


def _zero_only(v) -> int:
    """An attr TensorFlow exports as 0; any other value asks for what we do not support."""
    if parse.integer(v) != 0:
        raise ValueError(f"only 0 is supported, got {v}")
    return 0


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


def _index_kernel(to_index):
    """A kernel ``x -> x[index]``, the index derived once from the attrs and rank."""

    def kernel(attrs, specs):
        index = to_index(attrs, len(specs[0].shape))
        return lambda x: np.asarray(x[index])

    return kernel


STRIDED_ATTRS = {
    "begin": Attr(parse=_optional_ints),
    "end": Attr(parse=_optional_ints),
    "strides": Attr(None, lambda v: None if v is None else parse.int_list(v)),
    "begin_mask": Attr(0, _mask),
    "end_mask": Attr(0, _mask),
    "shrink_axis_mask": Attr(0, _mask),
    "ellipsis_mask": Attr(0, _zero_only),
    "new_axis_mask": Attr(0, _zero_only),
}


def _strided_slice_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    return TensorSpec(_indexed_shape(_strided_index(attrs, len(shape)), shape),
                      specs[0].dtype)


defop("strided_slice", aliases=("StridedSlice",), infer=_strided_slice_infer, forward=None,
      kernel=_index_kernel(_strided_index), attrs=STRIDED_ATTRS,
      vjp=lambda c: [F.strided_slice_grad(c.g, c.x, **c.attrs)],
      doc="Python slice rules per axis; null begin/end is the open end; axes past the "
          "lists are taken whole.")


def _strided_slice_grad_kernel(attrs, specs):
    index = _strided_index(attrs, len(specs[1].shape))

    def run(g, like):
        out = np.zeros(like.shape, dtype=g.dtype)
        out[index] = g
        return out

    return run


defop("strided_slice_grad", inputs=2,
      infer=lambda specs, attrs: TensorSpec(specs[1].shape, specs[0].dtype),
      forward=None, kernel=_strided_slice_grad_kernel, attrs=STRIDED_ATTRS,
      vjp=lambda c: [F.strided_slice(c.g, **c.attrs), None],
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


def _slice_kernel(attrs, specs):
    index = _strided_index(_slice_as_strided(attrs, len(specs[0].shape)), len(specs[0].shape))

    def run(x):
        _check_slice_bounds(attrs, x.shape)
        return x[index]

    return run


defop("slice", aliases=("Slice",), infer=_slice_infer, forward=None, kernel=_slice_kernel,
      attrs={"begin": Attr(parse=parse.int_list), "size": Attr(parse=parse.int_list)},
      vjp=lambda c: [F.strided_slice_grad(c.g, c.x,
                                          **_slice_as_strided(c.attrs, c.x.ndim))],
      doc="size -1 takes the rest of the axis.")

# -- gathering ---------------------------------------------------------------------------


def _check_indices(indices: np.ndarray, size: int, axis: int) -> None:
    """Out-of-range indices are an error naming the first culprit (as TensorFlow's CPU)."""
    bad = (indices < 0) | (indices >= size)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"indices{list(where)} = {int(indices[where])} is not in "
                         f"[0, {size}) (axis {axis} of params)")


def _gather_infer(specs, attrs):
    params, indices = specs
    check_dtypes([params], "any")
    if indices.dtype not in INTEGER:
        raise OpTypeError(f"indices have dtype {indices.dtype}; gather takes int32 or "
                          "int64 indices", input_index=1)
    if not params.shape:
        raise OpTypeError("params is a scalar; gather needs rank >= 1", input_index=0)
    axis = normalize_axis(attrs["axis"], len(params.shape))
    return TensorSpec(params.shape[:axis] + indices.shape + params.shape[axis + 1:],
                      params.dtype)


def _gather_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))

    def run(params, indices):
        _check_indices(indices, params.shape[axis], axis)
        return np.take(params, indices, axis=axis)

    return run


defop("gather", aliases=("GatherV2", "Gather"), inputs=2, infer=_gather_infer,
      forward=None, kernel=_gather_kernel,
      attrs={"axis": Attr(0, parse.integer), "batch_dims": Attr(0, _zero_only)},
      vjp=lambda c: [F.gather_grad(c.g, c.y, c.x, axis=c.attrs["axis"]), None],
      doc="Inputs params and int32/int64 indices of any rank; indices get no gradient.")


def _gather_grad_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[2].shape))

    def run(g, indices, like):
        shape = like.shape
        outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
        _check_indices(indices, shape[axis], axis)
        out = np.zeros((outer, shape[axis], inner), dtype=g.dtype)
        np.add.at(out, (slice(None), indices.reshape(-1)),
                  g.reshape(outer, indices.size, inner))
        return out.reshape(shape)

    return run


defop("gather_grad", inputs=3,
      infer=lambda specs, attrs: TensorSpec(specs[2].shape, specs[0].dtype),
      forward=None, kernel=_gather_grad_kernel, attrs={"axis": Attr(parse=parse.integer)},
      vjp=lambda c: [F.gather(c.g, c.y, axis=c.attrs["axis"]), None, None],
      doc="Internal (gather's VJP): g added into zeros shaped like the third input at the "
          "gathered positions; repeated indices add up.")

# -- padding and tiling ------------------------------------------------------------------


def _paddings(v) -> tuple[tuple[int, int], ...]:
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"expected [[before, after], ...] per axis, got {v!r}")
    out = []
    for row in v:
        pair = parse.int_list(row)
        if len(pair) != 2:
            raise ValueError(f"each entry is a pair [before, after], got {row!r}")
        if min(pair) < 0:
            raise ValueError(f"negative padding {list(pair)} is not supported")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _constant_mode(v) -> str:
    if not isinstance(v, str) or v.upper() != "CONSTANT":
        raise ValueError(f"only mode CONSTANT is supported, got {v!r}")
    return "CONSTANT"


def _check_per_axis(values, rank: int, name: str) -> None:
    if len(values) != rank:
        raise ValueError(f"{name} has {len(values)} entries but the input has rank {rank}")


def _pad_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    _check_per_axis(attrs["paddings"], len(shape), "paddings")
    return TensorSpec(tuple(None if d is None else d + b + a
                            for d, (b, a) in zip(shape, attrs["paddings"])), specs[0].dtype)


def _pad(x, paddings, mode, constant_values):
    return np.pad(x, paddings, constant_values=np.asarray(constant_values).astype(x.dtype))


def _pad_vjp(c: VJPContext):
    pads = c.attrs["paddings"]
    return [F.strided_slice(c.g, begin=[b for b, _ in pads],
                            end=[-a if a else None for _, a in pads])]


defop("pad", aliases=("Pad", "PadV2"), infer=_pad_infer, forward=_pad,
      attrs={"paddings": Attr(parse=_paddings),
             "mode": Attr("CONSTANT", _constant_mode),
             "constant_values": Attr(0.0, parse.number, aliases=("constant_value",))},
      vjp=_pad_vjp, doc="Constant padding only; the gradient slices the padding off.")


def _multiples(v) -> tuple[int, ...]:
    items = parse.int_list(v)
    if min(items, default=0) < 0:
        raise ValueError(f"multiples must be >= 0, got {list(items)}")
    return items


def _tile_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    _check_per_axis(attrs["multiples"], len(shape), "multiples")
    return TensorSpec(tuple(0 if m == 0 else (None if d is None else d * m)
                            for d, m in zip(shape, attrs["multiples"])), specs[0].dtype)


def _tile_grad(g, like, multiples):
    """Each output axis is (multiple, size) interleaved: sum out the multiples."""
    split = [n for m, d in zip(multiples, like.shape) for n in (m, d)]
    return np.asarray(np.sum(g.reshape(split), axis=tuple(range(0, len(split), 2)),
                             dtype=g.dtype))


defop("tile", aliases=("Tile",), infer=_tile_infer,
      forward=lambda x, multiples: np.tile(x, multiples),
      attrs={"multiples": Attr(parse=_multiples)},
      vjp=lambda c: [F.tile_grad(c.g, c.x, multiples=c.attrs["multiples"])],
      doc="Repeats the input multiples[i] times along each axis i.")
defop("tile_grad", inputs=2,
      infer=lambda specs, attrs: TensorSpec(specs[1].shape, specs[0].dtype),
      forward=_tile_grad, attrs={"multiples": Attr(parse=_multiples)},
      vjp=lambda c: [F.tile(c.g, multiples=c.attrs["multiples"]), None],
      doc="Internal (tile's VJP): the sum of g's copies, shaped like the second input.")
