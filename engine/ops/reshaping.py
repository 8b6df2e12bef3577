"""Reshaping: reshape (and its run-time form reshape_like), expand_dims, squeeze,
transpose. Each only moves elements, so each is linear and its transpose moves them back.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fn
from ..shapes import is_static, normalize_axis
from . import attrs as parse
from .contexts import BatchContext, VJPContext
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import example_shape, leading_batch, leading_with, shaped_like


def _reshape_back(c: VJPContext, g):
    """``g`` reshaped to the first input's shape (static when known, else at run time)."""
    if is_static(c.a.shape):
        return fn.reshape(g, shape=list(c.a.shape))
    return fn.reshape_like(g, c.a)


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


@kernel
def _reshape_kernel(attrs, specs):
    target = tuple(-1 if d is None else d for d in attrs["shape"])
    return lambda x: np.reshape(x, target)


defop("reshape", aliases=("Reshape",), infer=_reshape_infer, forward=_reshape_kernel,
      attrs={"shape": Attr(parse=parse.shape)}, moves=True,
      linear=(0,), transpose=lambda c: [_reshape_back(c, c.g)],
      batch=leading_with(lambda c: {"shape": [c.size, *c.attrs["shape"]]}),
      doc="One -1 (or null) is inferred.")


def _reshape_like_batch(c: BatchContext):
    """The like lends its example shape: a batched like's is the batched answer's; a
    shared like's static shape, grown by the batch in front, needs no tiled copy of it."""
    if c.axes[1] is None and is_static(c.b.shape):
        return [fn.reshape(c.moved(0, 0), shape=[c.size, *c.b.shape])], [0]
    return leading_batch(c)


defop("reshape_like", inputs=2,
      infer=shaped_like(1),
      forward=lambda t, like: np.reshape(t, like.shape),
      linear=(0,), transpose=lambda c: [_reshape_back(c, c.g), None], batch=_reshape_like_batch,
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
    axes = _expand_axes(attrs, len(specs[0].shape))
    shape = list(specs[0].shape)
    for a in axes:
        shape.insert(a, 1)
    return TensorSpec(tuple(shape), specs[0].dtype)


@kernel
def _expand_dims_kernel(attrs, specs):
    axes = _expand_axes(attrs, len(specs[0].shape))
    return lambda x: np.expand_dims(x, axes)


defop("expand_dims", aliases=("ExpandDims", "unsqueeze"), infer=_expand_dims_infer,
      forward=_expand_dims_kernel,
      attrs={"axis": Attr(parse=parse.int_or_list, aliases=("dim",))}, moves=True,
      linear=(0,), transpose=lambda c: [_reshape_back(c, c.g)],
      batch=leading_with(lambda c: {"axis": [a + 1 for a in _expand_axes(
          c.attrs, len(example_shape(c)))]}))


def _squeeze_axes(attrs, shape) -> tuple[int, ...]:
    axis = attrs["axis"]
    if axis is None:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    items = [axis] if isinstance(axis, int) else list(axis)
    return tuple(sorted({normalize_axis(a, len(shape)) for a in items}))


def _squeeze_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    axes = _squeeze_axes(attrs, shape)
    for a in axes:
        if shape[a] not in (1, None):
            raise OpTypeError(f"cannot squeeze axis {a} of size {shape[a]}")
    return TensorSpec(tuple(d for i, d in enumerate(shape) if i not in axes), specs[0].dtype)


@kernel
def _squeeze_kernel(attrs, specs):
    axes = _squeeze_axes(attrs, specs[0].shape)
    return lambda x: np.squeeze(x, axis=axes)


defop("squeeze", aliases=("Squeeze",), infer=_squeeze_infer, forward=_squeeze_kernel,
      attrs={"axis": Attr(None, parse.axis_or_none, aliases=("squeeze_dims", "dim"))},
      linear=(0,), transpose=lambda c: [_reshape_back(c, c.g)], moves=True,
      batch=leading_with(lambda c: {"axis": [a + 1 for a in _squeeze_axes(
          c.attrs, example_shape(c))]}))


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
    perm = _perm(attrs, len(shape))
    return TensorSpec(tuple(shape[p] for p in perm), specs[0].dtype)


@kernel
def _transpose_kernel(attrs, specs):
    perm = _perm(attrs, len(specs[0].shape))
    return lambda x: np.transpose(x, perm)


def _transpose_transpose(c: VJPContext):
    perm = _perm(c.attrs, c.a.ndim)
    return [fn.transpose(c.g, perm=[int(i) for i in np.argsort(perm)])]


def _transpose_batch(c: BatchContext):
    """The batch axis goes first and stays out of the permutation."""
    if c.axes[0] is None:
        return [c.apply(c.a)], [None]
    x = c.moved(0, 0)
    perm = _perm(c.attrs, x.ndim - 1)
    return [c.apply(x, perm=[0, *(p + 1 for p in perm)])], [0]


defop("transpose", aliases=("Transpose",), infer=_transpose_infer,
      forward=_transpose_kernel, batch=_transpose_batch,
      attrs={"perm": Attr(None, lambda v: None if v is None else parse.int_list(v))},
      linear=(0,), transpose=_transpose_transpose, doc="perm defaults to the reversed axes.")
