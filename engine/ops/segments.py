"""Segment reductions: unsorted_segment_sum, unsorted_segment_max, unsorted_segment_min
(inputs data and integer segment ids whose shape is a prefix of data's; attr
``num_segments``), and segment_gather, the internal read-back of a per-segment tensor at
each id (0 for a negative id), which is unsorted_segment_sum's transpose.

As TensorFlow: a negative id drops its row; an empty segment is 0 (sum), the lowest
(max) or highest (min) value of the dtype; the gradient of max/min goes to the rows equal
to their segment's extreme, shared evenly among ties.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import fn
from ..dtypes import INTEGER
from ..shapes import same
from . import attrs as parse
from .contexts import BatchContext, JVPContext, VJPContext
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import batched_first


def _count(v: Any) -> int:
    if parse.integer(v) < 0:
        raise ValueError(f"num_segments must be >= 0, got {v}")
    return v


SEGMENT_ATTRS = {"num_segments": Attr(parse=_count)}


def _segment_infer(specs, attrs):
    data, ids = specs
    dt = check_dtypes([data], "numeric")
    if ids.dtype not in INTEGER:
        raise OpTypeError(f"segment ids have dtype {ids.dtype}; they must be int32 or int64",
                          input_index=1)
    k = len(ids.shape)
    if k > len(data.shape) or not same(data.shape[:k], ids.shape):
        raise OpTypeError(f"segment ids of shape {list(ids.shape)} are not a prefix of the "
                          f"data's shape {list(data.shape)}", input_index=1)
    return TensorSpec((attrs["num_segments"], *data.shape[k:]), dt)


def _in_range(ids: np.ndarray, n: int) -> None:
    bad = ids >= n
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"segment_ids{list(where)} = {int(ids[where])} is not below "
                         f"num_segments = {n}")


def _segment_kernel(ufunc: np.ufunc, empty: str):
    @kernel
    def build(attrs, specs):
        n = attrs["num_segments"]

        def run(data: np.ndarray, ids: np.ndarray) -> np.ndarray:
            _in_range(ids, n)
            flat = ids.reshape(-1)
            rows = data.reshape((flat.size, *data.shape[ids.ndim:]))
            keep = flat >= 0
            out = np.full((n, *rows.shape[1:]), _empty_value(data.dtype, empty), data.dtype)
            ufunc.at(out, flat[keep], rows[keep])
            return out

        return run

    return build


def _empty_value(dtype: np.dtype, which: str) -> Any:
    if which == "zero":
        return 0
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    return info.min if which == "lowest" else info.max


def _valid_rows(ids, data):
    """ids >= 0, with data's trailing axes added so that it masks data."""
    valid = fn.greater_equal(ids, ids.scalar(0))
    extra = list(range(ids.ndim, data.ndim))
    return fn.expand_dims(valid, axis=extra) if extra else valid


def _extreme_vjp(c: VJPContext):
    """TensorFlow's (and MindSpore's) rule: rows equal to their segment's extreme share
    the segment's gradient evenly; other rows, and dropped ones, get 0."""
    data, ids = c.inputs
    n = c.attrs["num_segments"]
    picked = fn.segment_gather(c.out, ids, num_segments=n)
    selected = fn.logical_and(fn.equal(data, picked), _valid_rows(ids, data))
    count = fn.unsorted_segment_sum(fn.cast(selected, dtype=c.g.dtype), ids, num_segments=n)
    share = fn.segment_gather(c.g / count, ids, num_segments=n)
    return [fn.where(selected, share, fn.zeros_like(share)), None]


def _extreme_jvp(c: JVPContext):
    """The mean of the tangents of the rows that attain their segment's extreme."""
    data, ids = c.inputs
    n = c.attrs["num_segments"]
    picked = fn.segment_gather(c.out, ids, num_segments=n)
    selected = fn.logical_and(fn.equal(data, picked), _valid_rows(ids, data))
    count = fn.unsorted_segment_sum(fn.cast(selected, dtype=c.da.dtype), ids, num_segments=n)
    moved = fn.where(selected, c.da, fn.zeros_like(c.da))
    return [fn.unsorted_segment_sum(moved, ids, num_segments=n) / count]


def _offset_ids(c: BatchContext, ids, n: int):
    """Batched ids [B, ...] made into ids of one flat problem with B n segments."""
    offsets = np.arange(c.size).reshape((c.size,) + (1,) * (ids.ndim - 1)) * n
    shifted = ids + ids.builder.constant(offsets.astype(ids.dtype), ids.dtype)
    return fn.where(fn.greater_equal(ids, ids.scalar(0)), shifted, ids)


def _segment_batch(c: BatchContext):
    ids = c.inputs[1]
    n = c.attrs["num_segments"]
    if c.axes[1] is None:  # the batch axis rides along after the segmented ones
        return [c.apply(c.moved(0, ids.ndim), ids)], [1]
    flat = c.apply(batched_first(c, 0), _offset_ids(c, c.moved(1, 0), n),
                   num_segments=c.size * n)
    return [fn.reshape(flat, shape=[c.size, *c.outputs[0].shape])], [0]


def _segment_gather_batch(c: BatchContext):
    ids = c.inputs[1]
    n = c.attrs["num_segments"]
    if c.axes[1] is None:
        return [c.apply(c.moved(0, 1), ids)], [ids.ndim]
    g = batched_first(c, 0)
    rows = fn.reshape(g, shape=[c.size * n, *g.shape[2:]])
    return [c.apply(rows, _offset_ids(c, c.moved(1, 0), n), num_segments=c.size * n)], [0]


defop("unsorted_segment_sum", aliases=("UnsortedSegmentSum",), inputs=2,
      infer=_segment_infer, forward=_segment_kernel(np.add, "zero"), attrs=SEGMENT_ATTRS,
      linear=(0,), batch=_segment_batch,
      transpose=lambda c: [fn.segment_gather(c.g, c.b, **c.attrs), None],
      doc="Sums of data's rows per segment id; a negative id drops its row. Linear: the "
          "gradient reads each row's segment back (0 for a dropped row).")
defop("unsorted_segment_max", aliases=("UnsortedSegmentMax",), inputs=2,
      infer=_segment_infer, forward=_segment_kernel(np.maximum, "lowest"),
      attrs=SEGMENT_ATTRS, vjp=_extreme_vjp, jvp=_extreme_jvp, batch=_segment_batch,
      doc="Maxima per segment (an empty one: the dtype's lowest value). The gradient "
          "goes to the rows equal to the maximum, shared among ties (both libraries).")
defop("unsorted_segment_min", aliases=("UnsortedSegmentMin",), inputs=2,
      infer=_segment_infer, forward=_segment_kernel(np.minimum, "highest"),
      attrs=SEGMENT_ATTRS, vjp=_extreme_vjp, jvp=_extreme_jvp, batch=_segment_batch,
      doc="Minima per segment (an empty one: the dtype's highest value); gradient as max.")


def _segment_gather_infer(specs, attrs):
    g, ids = specs
    if ids.dtype not in INTEGER:
        raise OpTypeError(f"segment ids have dtype {ids.dtype}", input_index=1)
    return TensorSpec((*ids.shape, *g.shape[1:]), g.dtype)


def _segment_gather(g: np.ndarray, ids: np.ndarray, num_segments: int) -> np.ndarray:
    _in_range(ids, num_segments)
    rows = np.take(g, np.maximum(ids, 0), axis=0)
    keep = (ids >= 0).reshape(ids.shape + (1,) * (g.ndim - 1))
    return np.where(keep, rows, np.zeros((), g.dtype))


defop("segment_gather", inputs=2, infer=_segment_gather_infer, forward=_segment_gather,
      attrs=SEGMENT_ATTRS, linear=(0,), batch=_segment_gather_batch,
      transpose=lambda c: [fn.unsorted_segment_sum(c.g, c.b, **c.attrs), None],
      doc="Internal (unsorted_segment_sum's transpose): row ``ids[i]`` of g for each id, "
          "0 for a negative id.")
