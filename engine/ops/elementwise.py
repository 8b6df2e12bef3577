"""Elementwise ops: one input, two inputs with broadcasting, comparisons, logic, where, add_n.

Each VJP returns one gradient per input at the broadcast shape; autodiff sums it back to
the input's own shape (``builder.sum_to``), so no rule repeats that.
"""
from __future__ import annotations

import math

import numpy as np

from ..builder import ops as F
from ..shapes import same
from .registry import OpTypeError, TensorSpec, check_dtypes, defop
from .rules import VJPContext, broadcasting, unary
from .special import erf as _erf

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def _zeros(t):
    return F.zeros_like(t)


def _mask(cond, like):
    """A 0/1 tensor of ``like``'s dtype: multiplying by it keeps NaN * 0 = NaN, as kernels do."""
    return F.cast(cond, dtype=like.dtype)


def _unless_zero_upstream(c: VJPContext, grad):
    """TensorFlow's SqrtGrad/RsqrtGrad/ReciprocalGrad give exactly 0 where the upstream
    gradient is 0, even where the local derivative is infinite; MindSpore multiplies."""
    if not c.tf:
        return grad
    return F.where(F.equal(c.g, c.g.scalar(0)), _zeros(grad), grad)


# -- one input --------------------------------------------------------------------------

defop("neg", aliases=("negative",), infer=unary("numeric"), forward=np.negative,
      vjp=lambda c: [-c.g])
defop("abs", infer=unary("numeric"), forward=np.abs,
      vjp=lambda c: [c.g * F.sign(c.x)])
defop("sign", infer=unary("numeric"), forward=np.sign,
      vjp=lambda c: [_zeros(c.x)],
      doc="Its gradient is zero everywhere (connected), as in both libraries.")
defop("exp", infer=unary(), forward=np.exp, vjp=lambda c: [c.g * c.out])
defop("expm1", infer=unary(), forward=np.expm1, vjp=lambda c: [c.g * (c.out + 1.0)])
defop("log", infer=unary(), forward=np.log, vjp=lambda c: [c.g / c.x])
defop("log1p", infer=unary(), forward=np.log1p, vjp=lambda c: [c.g / (c.x + 1.0)])
defop("sqrt", infer=unary(), forward=np.sqrt,
      vjp=lambda c: [_unless_zero_upstream(c, c.g * 0.5 / c.out)])
defop("rsqrt", infer=unary(), forward=lambda x: 1.0 / np.sqrt(x),
      vjp=lambda c: [_unless_zero_upstream(c, c.g * -0.5 * (c.out * c.out * c.out))])
defop("square", infer=unary("numeric"), forward=np.square,
      vjp=lambda c: [c.g * (c.x * 2.0)])
defop("reciprocal", aliases=("inv",), infer=unary(), forward=np.reciprocal,
      vjp=lambda c: [_unless_zero_upstream(c, -c.g * (c.out * c.out))])
defop("sin", infer=unary(), forward=np.sin, vjp=lambda c: [c.g * F.cos(c.x)])
defop("cos", infer=unary(), forward=np.cos, vjp=lambda c: [-c.g * F.sin(c.x)])
defop("tan", infer=unary(), forward=np.tan,
      vjp=lambda c: [c.g / F.square(F.cos(c.x))])
defop("tanh", infer=unary(), forward=np.tanh,
      vjp=lambda c: [c.g * (1.0 - c.out * c.out)])


def _sigmoid(x):
    # Stable on both tails: exp of a non-positive number only.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


defop("sigmoid", infer=unary(), forward=_sigmoid,
      vjp=lambda c: [c.g * (c.out * (1.0 - c.out))])
defop("relu", infer=unary("numeric"), forward=lambda x: np.maximum(x, x.dtype.type(0)),
      vjp=lambda c: [F.relu_grad(c.g, c.x)])


def _relu_grad_infer(specs, attrs):
    check_dtypes(specs, "numeric")
    return TensorSpec(specs[0].shape, specs[0].dtype)


defop("relu_grad", inputs=2, infer=_relu_grad_infer,
      forward=lambda g, x: g * (x > 0),
      vjp=lambda c: [F.relu_grad(c.g, c.y), F.zeros_like(c.y)],
      doc="Internal: relu's gradient g * (x > 0) in one pass (TensorFlow's ReluGrad: a "
          "product, so a NaN upstream stays NaN); linear in g, zero a.e. in x.")


def _relu6_vjp(c: VJPContext):
    upper = F.less(c.x, c.x.scalar(6)) if c.tf else F.less_equal(c.x, c.x.scalar(6))
    inside = F.logical_and(F.greater(c.x, c.x.scalar(0)), upper)
    return [c.g * _mask(inside, c.g)]


defop("relu6", infer=unary("numeric"),
      forward=lambda x: np.clip(x, 0, 6).astype(x.dtype), vjp=_relu6_vjp,
      doc="At 6 TensorFlow's gradient is 0, MindSpore's passes (1).")


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


defop("elu", infer=unary(), forward=_elu,
      vjp=lambda c: [F.where(F.less(c.x, c.x.scalar(0)), c.g * (c.out + 1.0), c.g)])


def _selu(x):
    neg = _SELU_SCALE * _SELU_ALPHA * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, _SELU_SCALE * x, neg).astype(x.dtype, copy=False)


defop("selu", infer=unary(), forward=_selu,
      vjp=lambda c: [F.where(F.less(c.x, c.x.scalar(0)),
                             c.g * (c.out + _SELU_SCALE * _SELU_ALPHA),
                             c.g * _SELU_SCALE)])
defop("softplus", infer=unary(), forward=lambda x: np.logaddexp(0, x).astype(x.dtype),
      vjp=lambda c: [c.g * F.sigmoid(c.x)])
defop("erf", infer=unary(), forward=_erf,
      vjp=lambda c: [c.g * (2.0 / math.sqrt(math.pi)) * F.exp(-F.square(c.x))])


def _gelu(x, approximate):
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
        return (0.5 * x * (1.0 + np.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype, copy=False)


def _gelu_vjp(c: VJPContext):
    x = c.x
    if c.attrs["approximate"]:
        t = F.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * (x * x * x)))
        slope = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * (x * x))
        return [c.g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * slope)]
    cdf = 0.5 * (1.0 + F.erf(x * (1.0 / math.sqrt(2.0))))
    pdf = F.exp(-0.5 * (x * x)) * (1.0 / math.sqrt(2.0 * math.pi))
    return [c.g * (cdf + x * pdf)]


def _approximate(v):
    if isinstance(v, str) and v.lower() in ("none", "tanh"):
        return v.lower() == "tanh"
    if not isinstance(v, bool):
        raise ValueError(f"expected true/false (or 'none'/'tanh'), got {v!r}")
    return v


from .registry import Attr  # noqa: E402  (kept beside its first use for reading order)

defop("gelu", infer=unary(), forward=_gelu, vjp=_gelu_vjp,
      attrs={"approximate": Attr(False, _approximate)},
      doc="approximate=false is the erf form (TensorFlow's default).")

# No gradient: TensorFlow returns None for these (unconnected), MindSpore zeros.
defop("floor", infer=unary(), forward=np.floor)
defop("ceil", infer=unary(), forward=np.ceil)
defop("round", infer=unary(), forward=np.round, doc="Half to even, as TensorFlow.")
defop("identity", infer=unary("any"), forward=lambda x: x, vjp=lambda c: [c.g])
defop("stop_gradient", aliases=("StopGradient",), infer=unary("any"),
      forward=lambda x: x, doc="Passes its value; no gradient flows through it.")


def _cast_infer(specs, attrs):
    check_dtypes(specs, "any")
    return TensorSpec(specs[0].shape, attrs["dtype"])


def _cast_vjp(c: VJPContext):
    from ..dtypes import is_floating

    src, dst = c.x.dtype, c.out.dtype
    if c.tf and not (is_floating(src) and is_floating(dst)):
        return [None]  # TensorFlow: no gradient into or out of integers
    if src == "bool":
        return [None]
    return [F.cast(c.g, dtype=src)]


def _dtype_attr(v):
    from ..dtypes import canonical_dtype

    return canonical_dtype(v)


defop("cast", aliases=("Cast",), infer=_cast_infer,
      forward=lambda x, dtype: x.astype(dtype, copy=False), vjp=_cast_vjp,
      attrs={"dtype": Attr(parse=_dtype_attr, aliases=("DstT", "to"))},
      doc="The gradient is cast back to the source dtype (truncating toward zero for "
          "integers in the MindSpore dialect; none through integers in TensorFlow's).")

# -- two inputs, broadcasting -----------------------------------------------------------

defop("add", aliases=("AddV2",), inputs=2, infer=broadcasting(), forward=np.add,
      vjp=lambda c: [c.g, c.g])
defop("sub", aliases=("subtract",), inputs=2, infer=broadcasting(), forward=np.subtract,
      vjp=lambda c: [c.g, -c.g])
defop("mul", aliases=("multiply",), inputs=2, infer=broadcasting(), forward=np.multiply,
      vjp=lambda c: [c.g * c.y, c.g * c.x])


def _div_vjp(c: VJPContext):
    x, y = c.x, c.y
    dx = c.g / y
    if c.tf:
        return [dx, c.g * ((-x / y) / y)]
    # MindSpore: -dout * (out / y); recorded: 0/0 gives dy = inf, the sign of dout/y.
    both_zero = F.logical_and(F.equal(x, x.scalar(0)), F.equal(y, y.scalar(0)))
    return [dx, F.where(both_zero, dx, -c.g * (c.out / y))]


defop("div", aliases=("truediv", "RealDiv", "divide"), inputs=2, infer=broadcasting("float"),
      forward=np.true_divide, vjp=_div_vjp,
      doc="At y = 0: TensorFlow 0/0 gives [inf, NaN]; MindSpore gives [inf, inf].")


def _pow_vjp(c: VJPContext):
    x, y, out = c.x, c.y, c.out
    dx = c.g * y * F.pow(x, y - 1.0)
    if c.tf:
        positive = F.greater(x, x.scalar(0))
        safe = F.where(positive, x, F.ones_like(x))
        log_x = F.where(positive, F.log(safe), _zeros(x))
        return [dx, c.g * out * log_x]
    zero_base = F.logical_and(F.equal(x, x.scalar(0)), F.greater_equal(y, y.scalar(0)))
    dy = c.g * out * F.log(x)
    return [dx, F.where(zero_base, _zeros(dy), dy)]


defop("pow", aliases=("power",), inputs=2, infer=broadcasting(), forward=np.power,
      vjp=_pow_vjp,
      doc="d/dy uses log(x) taken as 0 where x <= 0 (TensorFlow); MindSpore leaves log "
          "unmasked except 0 ** (y >= 0), where d/dy is 0.")


def _tie_split(c: VJPContext, wins_x, tie):
    """MindSpore splits a tie 0.5 / 0.5; TensorFlow gives it all to the first argument."""
    g = c.g
    zero = _zeros(g)
    if c.tf:
        return [F.where(F.logical_or(wins_x, tie), g, zero),
                F.where(F.logical_or(wins_x, tie), zero, g)]
    half = g * 0.5
    return [F.where(wins_x, g, F.where(tie, half, zero)),
            F.where(F.logical_or(wins_x, tie), F.where(tie, half, zero), g)]


def _maximum_vjp(c: VJPContext):
    return _tie_split(c, F.greater(c.x, c.y), F.equal(c.x, c.y))


def _minimum_vjp(c: VJPContext):
    return _tie_split(c, F.less(c.x, c.y), F.equal(c.x, c.y))


defop("maximum", inputs=2, infer=broadcasting(), forward=np.maximum, vjp=_maximum_vjp)
defop("minimum", inputs=2, infer=broadcasting(), forward=np.minimum, vjp=_minimum_vjp)


def _sqdiff_vjp(c: VJPContext):
    d = c.g * (2.0 * (c.x - c.y))
    return [d, -d]


defop("squared_difference", inputs=2, infer=broadcasting(),
      forward=lambda x, y: np.square(x - y), vjp=_sqdiff_vjp)


def _atan2_vjp(c: VJPContext):
    a, b = c.x, c.y  # atan2(a, b): angle of the point (b, a)
    scale = c.g / (F.square(a) + F.square(b))
    return [b * scale, -a * scale]


defop("atan2", inputs=2, infer=broadcasting("float"), forward=np.arctan2, vjp=_atan2_vjp)

# -- comparisons and logic: bool out, no gradient ----------------------------------------

for _name, _fn, _allowed in (
    ("equal", np.equal, "any"), ("not_equal", np.not_equal, "any"),
    ("less", np.less, "numeric"), ("less_equal", np.less_equal, "numeric"),
    ("greater", np.greater, "numeric"), ("greater_equal", np.greater_equal, "numeric"),
):
    defop(_name, inputs=2, infer=broadcasting(_allowed, out_dtype="bool"), forward=_fn)

defop("logical_and", inputs=2, infer=broadcasting("bool"), forward=np.logical_and)
defop("logical_or", inputs=2, infer=broadcasting("bool"), forward=np.logical_or)
defop("logical_not", inputs=1, infer=unary("bool"), forward=np.logical_not)


def _where_infer(specs, attrs):
    if specs[0].dtype != "bool":
        raise OpTypeError(f"the condition must be bool, got {specs[0].dtype}", input_index=0)
    a, b = specs[1].dtype, specs[2].dtype
    if a != b:  # named here, not by check_dtypes, so the indices count the condition too
        raise OpTypeError(f"input 2 has dtype {b} but input 1 has {a}; the two branches "
                          f"must share one dtype (insert a 'cast' node)", input_index=2)
    dt = a
    try:
        from ..shapes import broadcast

        shape = broadcast(*(s.shape for s in specs))
    except ValueError as exc:
        raise OpTypeError(str(exc)) from None
    return TensorSpec(shape, dt)


def _where_vjp(c: VJPContext):
    zero = c.g.scalar(0)
    return [None, F.where(c.x, c.g, zero), F.where(c.x, zero, c.g)]


defop("where", aliases=("select", "SelectV2"), inputs=3, infer=_where_infer,
      forward=np.where, vjp=_where_vjp,
      doc="numpy broadcasting of condition, a and b (TensorFlow's where_v2).")

# -- many inputs --------------------------------------------------------------------------


def _add_n_infer(specs, attrs):
    dt = check_dtypes(specs, "numeric")
    first = specs[0].shape
    for i, s in enumerate(specs[1:], start=1):
        if not same(first, s.shape):
            raise OpTypeError(f"input {i} has shape {list(s.shape)} but input 0 has "
                              f"{list(first)}; add_n takes same-shaped inputs", input_index=i)
    merged = tuple(next((d for d in dims if d is not None), None)
                   for dims in zip(*(s.shape for s in specs)))
    return TensorSpec(merged, dt)


def _add_n(*xs):
    total = xs[0] + xs[1] if len(xs) > 1 else xs[0].copy()
    for x in xs[2:]:
        total += x
    return total


defop("add_n", aliases=("AddN",), inputs=(1, None), infer=_add_n_infer, forward=_add_n,
      vjp=lambda c: [c.g] * len(c.inputs))
