"""Linear algebra: matmul (batched, broadcasting, transposes, rank-1 as numpy)."""
from __future__ import annotations

import numpy as np

from ..builder import ops as F
from ..shapes import broadcast
from . import attrs as parse
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop
from .rules import VJPContext

MATMUL_ATTRS = {
    "transpose_a": Attr(False, parse.boolean, aliases=("adj_x", "adjoint_a", "transpose_x1")),
    "transpose_b": Attr(False, parse.boolean, aliases=("adj_y", "adjoint_b", "transpose_x2")),
}


def _matmul_infer(specs, attrs):
    dt = check_dtypes(specs, "numeric")
    a, b = specs[0].shape, specs[1].shape
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    if not a or not b:
        raise OpTypeError("matmul needs operands of rank >= 1, got a scalar",
                          input_index=0 if not a else 1)
    if (ta and len(a) == 1) or (tb and len(b) == 1):
        raise OpTypeError("transpose_a / transpose_b need an operand of rank >= 2")
    a2 = (1, a[0]) if len(a) == 1 else ((*a[:-2], a[-1], a[-2]) if ta else a)
    b2 = (b[0], 1) if len(b) == 1 else ((*b[:-2], b[-1], b[-2]) if tb else b)
    k_a, k_b = a2[-1], b2[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise OpTypeError(
            f"cannot multiply {list(specs[0].shape)}{' (transposed)' if ta else ''} by "
            f"{list(specs[1].shape)}{' (transposed)' if tb else ''}: inner dimensions "
            f"{k_a} and {k_b} differ")
    try:
        batch = broadcast(a2[:-2], b2[:-2])
    except ValueError as exc:
        raise OpTypeError(f"batch dimensions: {exc}") from None
    out = batch + (() if len(a) == 1 else (a2[-2],)) + (() if len(b) == 1 else (b2[-1],))
    return TensorSpec(out, dt)


def _matmul_kernel(attrs, specs):
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    if not ta and not tb:
        return np.matmul

    def run(a, b):
        return np.matmul(np.swapaxes(a, -1, -2) if ta else a,
                         np.swapaxes(b, -1, -2) if tb else b)

    return run


def _matmul_grads(g, a, b, ta: bool, tb: bool):
    """Gradients for operands of rank >= 2, each in its operand's stored layout."""
    if not ta and not tb:
        return F.matmul(g, b, transpose_b=True), F.matmul(a, g, transpose_a=True)
    if ta and not tb:
        return F.matmul(b, g, transpose_b=True), F.matmul(a, g)
    if not ta and tb:
        return F.matmul(g, b), F.matmul(g, a, transpose_a=True)
    return (F.matmul(b, g, transpose_a=True, transpose_b=True),
            F.matmul(g, a, transpose_a=True, transpose_b=True))


def _matmul_vjp(c: VJPContext):
    a, b, g = c.x, c.y, c.g
    ta, tb = c.attrs["transpose_a"], c.attrs["transpose_b"]
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec and b_vec:
        return [g * b, g * a]
    a2 = F.expand_dims(a, axis=0) if a_vec else a
    b2 = F.expand_dims(b, axis=-1) if b_vec else b
    g2 = F.expand_dims(g, axis=-2) if a_vec else g
    g2 = F.expand_dims(g2, axis=-1) if b_vec else g2
    da, db = _matmul_grads(g2, a2, b2, ta, tb)
    if a_vec:
        da = F.squeeze(da, axis=-2)
    if b_vec:
        db = F.squeeze(db, axis=-1)
    return [da, db]


defop("matmul", aliases=("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"),
      inputs=2, infer=_matmul_infer, forward=None, kernel=_matmul_kernel, vjp=_matmul_vjp,
      attrs=MATMUL_ATTRS,
      doc="Rank >= 2 with broadcast batch dimensions; rank-1 operands as numpy does.")
