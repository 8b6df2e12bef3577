"""Diagonals of the trailing two axes: matrix_diag ([..., n] to [..., n, n], zeros off
the diagonal) and matrix_diag_part ([..., m, n] to [..., min(m, n)]). Each is linear and
the other's transpose (padded back to m x n for a non-square input).
"""
from __future__ import annotations

import numpy as np

from .. import fn
from .contexts import VJPContext
from .registry import OpTypeError, TensorSpec, check_dtypes, defop
from .rules import leading_batch


def _diag_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    if not shape:
        raise OpTypeError("matrix_diag needs rank >= 1 (the diagonal on the last axis)")
    return TensorSpec((*shape, shape[-1]), specs[0].dtype)


def _diag(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    out = np.zeros((*x.shape, n), dtype=x.dtype)
    idx = np.arange(n)
    out[..., idx, idx] = x
    return out


defop("matrix_diag", aliases=("MatrixDiag", "MatrixDiagV3"), infer=_diag_infer,
      forward=_diag, linear=(0,), transpose=lambda c: [fn.matrix_diag_part(c.g)],
      batch=leading_batch, doc="[..., n] to [..., n, n] with the input on the diagonal.")


def _part_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    if len(shape) < 2:
        raise OpTypeError("matrix_diag_part needs rank >= 2 (matrices on the last two axes)")
    m, n = shape[-2:]
    k = None if m is None or n is None else min(m, n)
    return TensorSpec((*shape[:-2], k), specs[0].dtype)


def _part_transpose(c: VJPContext):
    square = fn.matrix_diag(c.g)
    m, n = c.a.shape[-2:]
    if m is None or n is None or m == n:  # unknown dimensions: taken to be square
        return [square]
    k = min(m, n)
    return [fn.pad(square, paddings=[[0, 0]] * (c.a.ndim - 2) + [[0, m - k], [0, n - k]])]


defop("matrix_diag_part", aliases=("MatrixDiagPart", "MatrixDiagPartV3"),
      infer=_part_infer, forward=lambda x: np.diagonal(x, axis1=-2, axis2=-1).copy(),
      linear=(0,), transpose=_part_transpose, batch=leading_batch,
      doc="The main diagonal of the last two axes, [..., min(m, n)].")
