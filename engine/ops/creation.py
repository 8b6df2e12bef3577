"""Tensors made from attrs alone: ``fill`` (a shape filled with one value)."""
from __future__ import annotations

import numpy as np

from . import attrs as parse
from .registry import Attr, OpTypeError, TensorSpec, defop


def _fill_infer(specs, attrs):
    if any(d is None for d in attrs["shape"]):
        raise OpTypeError("fill needs a static shape")
    return TensorSpec(attrs["shape"], attrs["dtype"])


defop("fill", inputs=0, infer=_fill_infer,
      forward=lambda shape, value, dtype: np.full(shape, value, dtype=dtype),
      attrs={"shape": Attr(parse=parse.shape), "value": Attr(parse=parse.number),
             "dtype": Attr("float32", parse.dtype)},
      doc="A static shape filled with one value; autodiff seeds ys with it (ones), so "
          "the seed does not depend on computing the y itself.")
