"""Tensors made from attrs (and indices): ``fill`` (a shape filled with one value),
``range``, ``one_hot``. None has a gradient."""
from __future__ import annotations

import math

import numpy as np

from ..dtypes import INTEGER
from ..shapes import normalize_axis
from . import attrs as parse
from .contexts import BatchContext
from .registry import Attr, OpTypeError, TensorSpec, defop
from .rules import shift_axis

# An op of no inputs depends on no mapped leaf, so vmap keeps its node as it is.
NO_INPUTS = "no inputs: never downstream of a mapped leaf, kept as it is"


def _fill_infer(specs, attrs):
    if any(d is None for d in attrs["shape"]):
        raise OpTypeError("fill needs a static shape")
    return TensorSpec(attrs["shape"], attrs["dtype"])


defop("fill", inputs=0, infer=_fill_infer, unbatchable=NO_INPUTS,
      forward=lambda shape, value, dtype: np.full(shape, value, dtype=dtype),
      attrs={"shape": Attr(parse=parse.shape), "value": Attr(parse=parse.number),
             "dtype": Attr("float32", parse.dtype)},
      doc="A static shape filled with one value; autodiff seeds ys with it (ones), so "
          "the seed does not depend on computing the y itself.")


# -- range and one_hot ---------------------------------------------------------------------


def _range_dtype(attrs) -> str:
    if attrs["dtype"] is not None:
        return attrs["dtype"]
    numbers = (attrs["start"], attrs["limit"], attrs["delta"])
    return "int32" if all(isinstance(v, int) for v in numbers) else "float32"


def _range_length(attrs) -> int:
    start, limit, delta = attrs["start"], attrs["limit"], attrs["delta"]
    if delta == 0:
        raise OpTypeError("range's delta must not be 0")
    return max(0, math.ceil((limit - start) / delta))


def _range_infer(specs, attrs):
    return TensorSpec((_range_length(attrs),), _range_dtype(attrs))


def _range(start, limit, delta, dtype):
    n = _range_length({"start": start, "limit": limit, "delta": delta})
    attrs = {"start": start, "limit": limit, "delta": delta, "dtype": dtype}
    return (start + delta * np.arange(n)).astype(_range_dtype(attrs))


def _int_or_number(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else parse.number(v)


def _optional_dtype(v):
    return None if v is None else parse.dtype(v)


defop("range", aliases=("Range",), inputs=0, infer=_range_infer, forward=_range,
      unbatchable=NO_INPUTS,
      attrs={"start": Attr(0, _int_or_number), "limit": Attr(parse=_int_or_number),
             "delta": Attr(1, _int_or_number), "dtype": Attr(None, _optional_dtype)},
      doc="start, start + delta, ... up to but excluding limit (TensorFlow's range). The "
          "dtype defaults to int32 if all three are ints, else float32.")


def _one_hot_infer(specs, attrs):
    (indices,) = specs
    if indices.dtype not in INTEGER:
        raise OpTypeError(f"indices have dtype {indices.dtype}; one_hot takes int32, int64 "
                          "or uint8 indices", input_index=0)
    shape = list(indices.shape)
    shape.insert(normalize_axis(attrs["axis"], len(shape) + 1), attrs["depth"])
    return TensorSpec(tuple(shape), attrs["dtype"])


def _one_hot(indices, depth, on_value, off_value, axis, dtype):
    hot = indices[..., None] == np.arange(depth)
    out = np.where(hot, np.asarray(on_value, dtype), np.asarray(off_value, dtype))
    return np.moveaxis(out, -1, normalize_axis(axis, indices.ndim + 1))


def _depth(v):
    if parse.integer(v) < 0:
        raise ValueError(f"depth must be >= 0, got {v}")
    return v


def _one_hot_batch(c: BatchContext):
    axis = c.attrs["axis"]
    rank = c.a.ndim  # the example's output rank (its indices' rank + 1)
    return [c.apply(c.moved(0, 0), axis=-1 if axis == -1 else shift_axis(axis, rank))], [0]


defop("one_hot", aliases=("OneHot",), infer=_one_hot_infer, forward=_one_hot,
      batch=_one_hot_batch,
      attrs={"depth": Attr(parse=_depth), "on_value": Attr(1.0, parse.number),
             "off_value": Attr(0.0, parse.number), "axis": Attr(-1, parse.integer),
             "dtype": Attr("float32", parse.dtype)},
      doc="on_value where the index equals the position along the new ``axis`` (of size "
          "``depth``), off_value elsewhere (an index out of range: all off). No gradient.")
