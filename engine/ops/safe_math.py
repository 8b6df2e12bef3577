"""Arithmetic made total at zero, and floor division: div_no_nan, mul_no_nan, xlogy,
xlog1py, xdivy (0 where the guard says so, as TensorFlow defines them), floor_div,
truncate_div and floor_mod.

Each differentiable op here is declared by its partial derivatives (``rules.by_partials``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import fn
from .contexts import VJPContext
from .registry import defop
from .rules import broadcasting, broadcasting_batch, by_partials


def _where_zero(guard: np.ndarray, value: Callable[[], np.ndarray], like: np.ndarray):
    """``value()`` where the guard is false, exactly 0 where it is true (no 0 * inf)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = value()
    return np.where(guard, np.zeros((), like.dtype), out).astype(like.dtype, copy=False)


def _nonzero(t):
    """1 where t != 0 (NaN included), else 0, in t's dtype: TensorFlow's not_zero_x."""
    return fn.cast(fn.not_equal(t, t.scalar(0)), dtype=t.dtype)


# -- div_no_nan, mul_no_nan ------------------------------------------------------------------

def _div_no_nan_partials(c) -> list[Any]:
    x, y = c.a, c.b
    return [fn.div_no_nan(fn.ones_like(c.out), y), fn.div_no_nan(fn.div_no_nan(-x, y), y)]


defop("div_no_nan", aliases=("DivNoNan",), inputs=2, infer=broadcasting("float"),
      forward=lambda x, y: _where_zero(y == 0, lambda: x / y, x),
      **by_partials(_div_no_nan_partials),
      doc="x / y, and 0 where y = 0 (also for x NaN or inf). Gradients div_no_nan(g, y) "
          "and g div_no_nan(div_no_nan(-x, y), y): zeros where y = 0 (both libraries).")


def _mul_no_nan_transpose(c: VJPContext) -> list[Any]:
    return [fn.mul_no_nan(c.g, c.b), fn.mul_no_nan(c.a, c.g)]


defop("mul_no_nan", aliases=("MulNoNan",), inputs=2, infer=broadcasting("float"),
      forward=lambda x, y: _where_zero(y == 0, lambda: x * y, x),
      linear=(0, 1), multilinear=True, transpose=_mul_no_nan_transpose,
      batch=broadcasting_batch,
      doc="x * y, and 0 where y = 0 (also for x NaN or inf). Gradients mul_no_nan(g, y) "
          "and mul_no_nan(x, g): where y = 0, x's is 0 and y's is g x (NaN, inf pass).")

# -- xlogy, xlog1py, xdivy: 0 where x = 0 -------------------------------------------------------


def _xlogy_partials(c) -> list[Any]:
    x, y = c.a, c.b
    if c.tf:
        return [fn.xlogy(_nonzero(x), y), fn.xdivy(x, y)]
    # MindSpore 2.10 (recorded): d/dx is log(y), 0 only where x = y = 0; d/dy is x / y,
    # with -inf for a NaN x over y = 0.
    both_zero = fn.logical_and(fn.equal(x, x.scalar(0)), fn.equal(y, y.scalar(0)))
    nan_over_zero = fn.logical_and(fn.not_equal(x, x), fn.equal(y, y.scalar(0)))
    return [fn.where(both_zero, fn.zeros_like(c.out), fn.log(y)),
            fn.where(nan_over_zero, c.out.scalar(-math.inf), x / y)]


defop("xlogy", aliases=("Xlogy",), inputs=2, infer=broadcasting("float"),
      forward=lambda x, y: _where_zero(x == 0, lambda: x * np.log(y), x),
      **by_partials(_xlogy_partials),
      doc="x log(y), and 0 where x = 0. TensorFlow: d/dx = xlogy(x != 0, y), d/dy = "
          "xdivy(x, y); MindSpore: d/dx = log(y) except 0 at x = y = 0, d/dy = x / y.")
defop("xlog1py", aliases=("Xlog1py",), inputs=2, infer=broadcasting("float"),
      forward=lambda x, y: _where_zero(x == 0, lambda: x * np.log1p(y), x),
      **by_partials(lambda c: [fn.xlog1py(_nonzero(c.a), c.b),
                               fn.xdivy(c.a, c.b + 1.0)]),
      doc="x log1p(y), and 0 where x = 0; d/dx = xlog1py(x != 0, y), d/dy = "
          "xdivy(x, y + 1) (TensorFlow's; MindSpore's taken to be the same).")
defop("xdivy", aliases=("Xdivy",), inputs=2, infer=broadcasting("float"),
      forward=lambda x, y: _where_zero(x == 0, lambda: x / y, x),
      **by_partials(lambda c: [fn.xdivy(_nonzero(c.a), c.b),
                               fn.xdivy(-c.a, c.b * c.b)]),
      doc="x / y, and 0 where x = 0; d/dx = xdivy(x != 0, y), d/dy = xdivy(-x, y^2) "
          "(both libraries).")

# -- floor division ---------------------------------------------------------------------------

defop("floor_div", aliases=("FloorDiv",), inputs=2, infer=broadcasting(),
      forward=np.floor_divide, batch=broadcasting_batch,
      doc="floor(x / y). Piecewise constant: no gradient (TensorFlow: none; MindSpore: "
          "zeros).")


def _truncate_divide(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The quotient rounded toward zero, in integer arithmetic for integers (exact for any
    int64, where trunc(x / y) through float64 is not): floor's quotient, one up where the
    division leaves a remainder and the signs differ."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if x.dtype.kind == "f":
            return np.trunc(x / y)
        q, r = np.divmod(x, y)
    return q + ((r != 0) & ((x < 0) != (y < 0))).astype(q.dtype)


defop("truncate_div", aliases=("TruncateDiv",), inputs=2, infer=broadcasting(),
      forward=_truncate_divide, batch=broadcasting_batch,
      doc="x / y rounded toward zero (C's integer division, ONNX's Div on integers; "
          "trunc(x / y) on floats, as TensorFlow's TruncateDiv). Piecewise constant: no "
          "gradient.")
defop("floor_mod", aliases=("FloorMod", "mod"), inputs=2, infer=broadcasting(),
      forward=np.mod,
      **by_partials(lambda c: [None, -fn.floor_div(c.a, c.b)]),
      doc="x - floor(x / y) y (the sign of y, as TensorFlow's floormod); gradients g and "
          "-g floor_div(x, y) in both libraries.")
