"""Entries of the ONNX import table (``import_ops.TABLE``) composed from elementwise ops:
activations torch exports (PRelu, Mish, Celu, ...), the hyperbolic and inverse
trigonometric functions, the float tests (IsNaN, IsInf), Xor, CumSum and
LpNormalization.

Each is a short formula in our ops, so every derivative follows from theirs.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from engine.shapes import normalize_axis

from .import_ops import Ctx, onnx_op, rank
from .scope import Value


def _where_positive(ctx: Ctx, x: Value, negative: Value, threshold: float = 0.0) -> Value:
    return ctx.emit("where", ctx.emit("greater", x, ctx.scalar(threshold, x)), x, negative)


@onnx_op("PRelu")
def _prelu(ctx: Ctx) -> Value:
    """where(x > 0, x, slope * x), the slope broadcast against x"""
    x = ctx.x(0)
    return _where_positive(ctx, x, ctx.emit("mul", x, ctx.x(1)))


@onnx_op("Mish")
def _mish(ctx: Ctx) -> Value:
    """x * tanh(softplus(x))"""
    x = ctx.x(0)
    return ctx.emit("mul", x, ctx.emit("tanh", ctx.emit("softplus", x)))


@onnx_op("Celu", attrs=("alpha",))
def _celu(ctx: Ctx) -> Value:
    """where(x > 0, x, alpha * expm1(x / alpha))"""
    x = ctx.x(0)
    alpha = float(ctx.attr("alpha", 1.0))
    if alpha == 0:
        raise ctx.fail("alpha 0 is not defined")
    below = ctx.emit("mul", ctx.emit("expm1", ctx.emit("div", x, ctx.scalar(alpha, x))),
                     ctx.scalar(alpha, x))
    return _where_positive(ctx, x, below)


@onnx_op("ThresholdedRelu", attrs=("alpha",))
def _thresholded_relu(ctx: Ctx) -> Value:
    """where(x > alpha, x, 0)"""
    x = ctx.x(0)
    return _where_positive(ctx, x, ctx.emit("zeros_like", x), float(ctx.attr("alpha", 1.0)))


@onnx_op("Shrink", attrs=("bias", "lambd"))
def _shrink(ctx: Ctx) -> Value:
    """where(x < -lambd, x + bias, where(x > lambd, x - bias, 0))"""
    x = ctx.x(0)
    bias, lambd = float(ctx.attr("bias", 0.0)), float(ctx.attr("lambd", 0.5))
    above = ctx.emit("where", ctx.emit("greater", x, ctx.scalar(lambd, x)),
                     ctx.emit("sub", x, ctx.scalar(bias, x)), ctx.emit("zeros_like", x))
    return ctx.emit("where", ctx.emit("less", x, ctx.scalar(-lambd, x)),
                    ctx.emit("add", x, ctx.scalar(bias, x)), above)


def _half_exp_sum(sign: float) -> Callable[[Ctx], Value]:
    def lower(ctx: Ctx) -> Value:
        x = ctx.x(0)
        both = ctx.emit("add" if sign > 0 else "sub", ctx.emit("exp", x),
                        ctx.emit("exp", ctx.emit("neg", x)))
        return ctx.emit("mul", both, ctx.scalar(0.5, x))

    return lower


def _root(ctx: Ctx, x: Value, form: str) -> Value:
    """sqrt(x^2 + 1), sqrt(x^2 - 1) or sqrt(1 - x^2) (``form`` "+1", "-1", "1-")"""
    sq, one = ctx.emit("square", x), ctx.scalar(1, x)
    inner = {"+1": lambda: ctx.emit("add", sq, one), "-1": lambda: ctx.emit("sub", sq, one),
             "1-": lambda: ctx.emit("sub", one, sq)}[form]()
    return ctx.emit("sqrt", inner)


def _asinh(ctx: Ctx) -> Value:
    x = ctx.x(0)
    return ctx.emit("log", ctx.emit("add", x, _root(ctx, x, "+1")))


def _acosh(ctx: Ctx) -> Value:
    x = ctx.x(0)
    return ctx.emit("log", ctx.emit("add", x, _root(ctx, x, "-1")))


def _atanh(ctx: Ctx) -> Value:
    x = ctx.x(0)
    one = ctx.scalar(1, x)
    ratio = ctx.emit("div", ctx.emit("add", one, x), ctx.emit("sub", one, x))
    return ctx.emit("mul", ctx.emit("log", ratio), ctx.scalar(0.5, x))


def _atan(ctx: Ctx) -> Value:
    x = ctx.x(0)
    return ctx.emit("atan2", x, ctx.emit("ones_like", x))


def _asin(ctx: Ctx) -> Value:
    x = ctx.x(0)
    return ctx.emit("atan2", x, _root(ctx, x, "1-"))


def _acos(ctx: Ctx) -> Value:
    x = ctx.x(0)
    return ctx.emit("atan2", _root(ctx, x, "1-"), x)


for _onnx, _lower, _doc in (
        ("Sinh", _half_exp_sum(-1), "(exp(x) - exp(-x)) / 2"),
        ("Cosh", _half_exp_sum(1), "(exp(x) + exp(-x)) / 2"),
        ("Asinh", _asinh, "log(x + sqrt(x^2 + 1))"),
        ("Acosh", _acosh, "log(x + sqrt(x^2 - 1))"),
        ("Atanh", _atanh, "log((1 + x) / (1 - x)) / 2"),
        ("Atan", _atan, "atan2(x, 1)"),
        ("Asin", _asin, "atan2(x, sqrt(1 - x^2))"),
        ("Acos", _acos, "atan2(sqrt(1 - x^2), x)")):
    onnx_op(_onnx, doc=_doc)(_lower)


@onnx_op("IsNaN")
def _is_nan(ctx: Ctx) -> Value:
    """not_equal(x, x)"""
    x = ctx.x(0)
    return ctx.emit("not_equal", x, x)


@onnx_op("IsInf", attrs=("detect_negative", "detect_positive"))
def _is_inf(ctx: Ctx) -> Value:
    """equal(x, inf), equal(x, -inf) or equal(|x|, inf), as the attributes ask"""
    x = ctx.x(0)
    negative, positive = ctx.attr("detect_negative", 1), ctx.attr("detect_positive", 1)
    if negative and positive:
        return ctx.emit("equal", ctx.emit("abs", x), ctx.scalar(math.inf, x))
    if negative or positive:
        return ctx.emit("equal", x, ctx.scalar(math.inf if positive else -math.inf, x))
    # neither: false everywhere (x == x and x != x never both hold)
    return ctx.emit("logical_and", ctx.emit("equal", x, x), ctx.emit("not_equal", x, x))


@onnx_op("Xor")
def _xor(ctx: Ctx) -> Value:
    """not_equal of the two bools"""
    return ctx.emit("not_equal", ctx.x(0), ctx.x(1))


@onnx_op("CumSum", attrs=("exclusive", "reverse"))
def _cumsum(ctx: Ctx) -> Value:
    """cumsum (the axis input known at import; exclusive, reverse)"""
    x = ctx.x(0)
    axis = ctx.ints(1, "axis")
    if not axis or len(axis) != 1:
        raise ctx.fail("the axis input must be one integer")
    return ctx.emit("cumsum", x, axis=normalize_axis(axis[0], rank(x)),
                    exclusive=bool(ctx.attr("exclusive", 0)),
                    reverse=bool(ctx.attr("reverse", 0)))


@onnx_op("LpNormalization", attrs=("axis", "p"))
def _lp_normalization(ctx: Ctx) -> Value:
    """x / sum(|x|) (p 1) or x / sqrt(sum(x^2)) (p 2) along axis, kept; a zero vector
    stays zeros (divided by 1 where its norm is 0, as ONNX's reference and onnxruntime
    answer, and with no NaN in the gradient that a where after the division would keep)"""
    x = ctx.x(0)
    axis = [normalize_axis(ctx.attr("axis", -1), rank(x))]
    p = ctx.attr("p", 2)
    if p not in (1, 2):
        raise ctx.fail(f"p {p} is not supported (1, 2)")
    if p == 1:
        norm = ctx.emit("sum", ctx.emit("abs", x), axis=axis, keepdims=True)
    else:
        norm = ctx.emit("sqrt", ctx.emit("sum", ctx.emit("square", x), axis=axis,
                                         keepdims=True))
    zero = ctx.emit("equal", norm, ctx.scalar(0.0, norm))
    return ctx.emit("div", x, ctx.emit("where", zero, ctx.scalar(1.0, norm), norm))
