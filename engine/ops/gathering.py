"""Gathering: gather (params at int indices along an axis) and its transpose gather_grad
(g added back at the gathered positions). Linear in params; indices get no gradient.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fn
from ..dtypes import INTEGER
from ..shapes import normalize_axis
from . import attrs as parse
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import shaped_like


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


@kernel
def _gather_kernel(attrs, specs):
    axis = normalize_axis(attrs["axis"], len(specs[0].shape))

    def run(params, indices):
        _check_indices(indices, params.shape[axis], axis)
        return np.take(params, indices, axis=axis)

    return run


defop("gather", aliases=("GatherV2", "Gather"), inputs=2, infer=_gather_infer,
      forward=_gather_kernel,
      attrs={"axis": Attr(0, parse.integer), "batch_dims": Attr(0, parse.zero_only)},
      linear=(0,),
      transpose=lambda c: [fn.gather_grad(c.g, c.b, c.a, axis=c.attrs["axis"]), None],
      doc="Inputs params and int32/int64 indices of any rank; indices get no gradient.")


@kernel
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
      infer=shaped_like(2),
      forward=_gather_grad_kernel, attrs={"axis": Attr(parse=parse.integer)},
      linear=(0,), transpose=lambda c: [fn.gather(c.g, c.b, axis=c.attrs["axis"]), None, None],
      doc="Internal (gather's VJP): g added into zeros shaped like the third input at the "
          "gathered positions; repeated indices add up.")
