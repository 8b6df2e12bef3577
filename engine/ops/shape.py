"""Shape and indexing ops, and the internal helpers that undo broadcasting.

``sum_to_shape`` / ``sum_to_like`` and ``broadcast_to`` / ``broadcast_like`` are each
other's VJPs; ``builder.sum_to`` and ``builder.broadcast_like`` pick the static or the
run-time form.
"""
from __future__ import annotations

import math

import numpy as np

from ..builder import broadcast_like, sum_to
from ..builder import ops as F
from ..shapes import broadcast, is_static, normalize_axis
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
        shape = tuple(x.shape[i - len(target) + x.ndim] if d is None else d
                      for i, d in enumerate(target))
        return np.broadcast_to(x, shape)

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
    out = np.sum(t, axis=axes, keepdims=True, dtype=t.dtype) if axes else t
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
