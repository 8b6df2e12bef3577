"""Gathering: gather (params at int indices along an axis, with TensorFlow's
``batch_dims``: the leading axes that params and indices share, one gather per batch) and
its transpose gather_grad (g added back at the gathered positions). Linear in params;
indices get no gradient.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fn
from ..dtypes import INTEGER
from ..shapes import normalize_axis, same
from . import attrs as parse
from .contexts import BatchContext
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import batched_first, shaped_like


def _check_indices(indices: np.ndarray, size: int, axis: int) -> None:
    """Out-of-range indices are an error naming the first culprit (as TensorFlow's CPU).
    One index (a loop's row, each iteration) is compared as an int: no mask to build."""
    if indices.ndim == 0 and 0 <= int(indices) < size:
        return
    bad = (indices < 0) | (indices >= size)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"indices{list(where)} = {int(indices[where])} is not in "
                         f"[0, {size}) (axis {axis} of params)")


def gather_axes(attrs, params_rank: int, indices_rank: int) -> tuple[int, int]:
    """(axis, batch_dims) normalized: a negative batch_dims counts from the indices' rank."""
    axis = normalize_axis(attrs["axis"], params_rank)
    bd = attrs["batch_dims"]
    bd = bd + indices_rank if bd < 0 else bd
    if not 0 <= bd <= indices_rank:
        raise ValueError(f"batch_dims {attrs['batch_dims']} is out of range for indices of "
                         f"rank {indices_rank}")
    if bd > axis:
        raise ValueError(f"batch_dims ({bd}) must not exceed axis ({axis})")
    return axis, bd


def _gather_infer(specs, attrs):
    params, indices = specs
    check_dtypes([params], "any")
    if indices.dtype not in INTEGER:
        raise OpTypeError(f"indices have dtype {indices.dtype}; gather takes int32 or "
                          "int64 indices", input_index=1)
    if not params.shape:
        raise OpTypeError("params is a scalar; gather needs rank >= 1", input_index=0)
    axis, bd = gather_axes(attrs, len(params.shape), len(indices.shape))
    if not same(params.shape[:bd], indices.shape[:bd]):
        raise OpTypeError(f"with batch_dims {bd}, params {list(params.shape)} and indices "
                          f"{list(indices.shape)} must share their first {bd} dimensions",
                          input_index=1)
    return TensorSpec(params.shape[:axis] + indices.shape[bd:] + params.shape[axis + 1:],
                      params.dtype)


class _Batched:
    """The index plan of a gather with batch dimensions: params as [B, A, pre..., post...]
    (B the product of the batch dims, A the gathered axis), indices as [B, ...], and the
    permutation from the fancy-indexed [B, ind..., pre..., post...] to the output order
    [B, pre..., ind..., post...]."""

    def __init__(self, params_shape, indices_shape, axis: int, bd: int):
        self.lead = tuple(params_shape[:bd])
        size = math.prod(self.lead)
        self.params = (size, *params_shape[bd:])
        self.indices = (size, *indices_shape[bd:])
        self.axis = axis - bd + 1  # the gathered axis in self.params
        n_pre, n_ind = self.axis - 1, len(indices_shape) - bd
        n_post = len(params_shape) - axis - 1
        self.perm = (0, *range(1 + n_ind, 1 + n_ind + n_pre), *range(1, 1 + n_ind),
                     *range(1 + n_ind + n_pre, 1 + n_ind + n_pre + n_post))
        self.rows = np.arange(size).reshape((size,) + (1,) * n_ind)

    def take(self, params: np.ndarray, indices: np.ndarray) -> np.ndarray:
        moved = np.moveaxis(params.reshape(self.params), self.axis, 1)
        picked = moved[self.rows, indices.reshape(self.indices)].transpose(self.perm)
        return picked.reshape(self.lead + picked.shape[1:])

    def add_back(self, g: np.ndarray, indices: np.ndarray, shape) -> np.ndarray:
        p, a = self.params, self.axis
        out = np.zeros((p[0], p[a], *p[1:a], *p[a + 1:]), dtype=g.dtype)
        flat = g.reshape((p[0], *g.shape[len(self.lead):]))
        np.add.at(out, (self.rows, indices.reshape(self.indices)),
                  flat.transpose(np.argsort(self.perm)))
        return np.moveaxis(out, 1, self.axis).reshape(shape)


@kernel
def _gather_kernel(attrs, specs):
    axis, bd = gather_axes(attrs, len(specs[0].shape), len(specs[1].shape))

    def run(params, indices):
        if indices.ndim == 0:  # one index (a loop's row): taken as an int, ~0.3 us less
            i = int(indices)
            if 0 <= i < params.shape[axis]:
                return params.take(i, axis=axis)
        _check_indices(indices, params.shape[axis], axis)
        if bd == 0:
            return params.take(indices, axis=axis)  # np.take's own wrapper costs 0.6 us
        return _Batched(params.shape, indices.shape, axis, bd).take(params, indices)

    return run


def _gather_batch(c: BatchContext):
    """Both operands get the batch axis first (tiled where unbatched); it becomes one
    more batch dimension of the gather."""
    params, indices = batched_first(c, 0), batched_first(c, 1)
    axis, bd = gather_axes(c.attrs, params.ndim - 1, indices.ndim - 1)
    return [c.apply(params, indices, axis=axis + 1, batch_dims=bd + 1)], [0]


_GATHER_ATTRS = {"axis": Attr(0, parse.integer), "batch_dims": Attr(0, parse.integer)}

defop("gather", aliases=("GatherV2", "Gather"), inputs=2, infer=_gather_infer,
      forward=_gather_kernel, attrs=_GATHER_ATTRS, linear=(0,), batch=_gather_batch,
      transpose=lambda c: [fn.gather_grad(c.g, c.b, c.a, **c.attrs), None], moves=True,
      doc="Inputs params and int32/int64 indices of any rank; indices get no gradient. "
          "``batch_dims``: the leading dimensions params and indices share (TensorFlow's).")


@kernel
def _gather_grad_kernel(attrs, specs):
    axis, bd = gather_axes(attrs, len(specs[2].shape), len(specs[1].shape))
    before = (slice(None),) * axis

    def run(g, indices, like):
        shape = like.shape
        _check_indices(indices, shape[axis], axis)
        if bd:
            return _Batched(shape, indices.shape, axis, bd).add_back(g, indices, shape)
        if indices.ndim == 0:  # one row (a loop's, each iteration): nothing to add up
            out = np.zeros(shape, dtype=g.dtype)
            out[(*before, int(indices))] += g  # 0 + g, as np.add.at gives (-0.0 too)
            return out
        outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
        out = np.zeros((outer, shape[axis], inner), dtype=g.dtype)
        np.add.at(out, (slice(None), indices.reshape(-1)),
                  g.reshape(outer, indices.size, inner))
        return out.reshape(shape)

    return run


def _gather_grad_batch(c: BatchContext):
    """As gather's: the batch axis becomes one more batch dimension of all three."""
    g, indices, like = (batched_first(c, k) for k in range(3))
    axis, bd = gather_axes(c.attrs, like.ndim - 1, indices.ndim - 1)
    return [c.apply(g, indices, like, axis=axis + 1, batch_dims=bd + 1)], [0]


defop("gather_grad", inputs=3,
      infer=shaped_like(2), batch=_gather_grad_batch,
      forward=_gather_grad_kernel, attrs=_GATHER_ATTRS,
      linear=(0,), transpose=lambda c: [fn.gather(c.g, c.b, **c.attrs), None, None],
      doc="Internal (gather's VJP): g added into zeros shaped like the third input at the "
          "gathered positions; repeated indices add up.")
