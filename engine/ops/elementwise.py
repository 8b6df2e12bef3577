"""Elementwise ops: one input, two inputs with broadcasting, comparisons, logic, where, add_n.

Each VJP returns one gradient per input at the broadcast shape; autodiff sums it back to
the input's own shape (``builder.sum_to``), so no rule repeats that.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fn
from ..dtypes import np_dtype
from ..shapes import broadcast, num_elements, same
from . import array_loops
from . import attrs as parse
from .contexts import VJPContext
from .registry import ALL, Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import (
    broadcasting,
    broadcasting_batch,
    by_partials,
    elementwise_batch,
    same_shape_batch,
    unary,
)
from .special import erf as _erf

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def _zeros(t):
    return fn.zeros_like(t)


def _mask(cond, like):
    """A 0/1 tensor of ``like``'s dtype: multiplying by it keeps NaN * 0 = NaN, as kernels do."""
    return fn.cast(cond, dtype=like.dtype)


def _unless_zero_upstream(c: VJPContext, grad):
    """TensorFlow's SqrtGrad/RsqrtGrad/ReciprocalGrad give exactly 0 where the upstream
    gradient is 0, even where the local derivative is infinite; MindSpore multiplies."""
    if not c.tf:
        return grad
    return fn.where(fn.equal(c.g, c.g.scalar(0)), _zeros(grad), grad)


# -- one input --------------------------------------------------------------------------

defop("neg", aliases=("negative",), infer=unary("numeric"), forward=np.negative,
      linear=(0,), transpose=lambda c: [-c.g],
      batch=elementwise_batch)
defop("abs", infer=unary("numeric"), forward=np.abs,
      vjp=lambda c: [c.g * fn.sign(c.a)],
      batch=elementwise_batch)
defop("sign", infer=unary("numeric"), forward=np.sign,
      vjp=lambda c: [_zeros(c.a)],
      doc="Its gradient is zero everywhere (connected), as in both libraries.",
      batch=elementwise_batch)
defop("exp", infer=unary(), forward=np.exp, vjp=lambda c: [c.g * c.out],
      jvp=lambda c: [c.da * c.out], batch=elementwise_batch)
defop("expm1", infer=unary(), forward=np.expm1, vjp=lambda c: [c.g * (c.out + 1.0)],
      batch=elementwise_batch)
defop("log", infer=unary(), forward=np.log, vjp=lambda c: [c.g / c.a],
      batch=elementwise_batch)
defop("log1p", infer=unary(), forward=np.log1p, vjp=lambda c: [c.g / (c.a + 1.0)],
      batch=elementwise_batch)
defop("sqrt", infer=unary(), forward=np.sqrt,
      vjp=lambda c: [_unless_zero_upstream(c, c.g * 0.5 / c.out)],
      batch=elementwise_batch)
defop("rsqrt", infer=unary(), forward=lambda x: 1.0 / np.sqrt(x),
      vjp=lambda c: [_unless_zero_upstream(c, c.g * -0.5 * (c.out * c.out * c.out))],
      batch=elementwise_batch)
defop("square", infer=unary("numeric"), forward=np.square,
      vjp=lambda c: [c.g * (c.a * 2.0)],
      batch=elementwise_batch)
defop("reciprocal", aliases=("inv",), infer=unary(), forward=np.reciprocal,
      vjp=lambda c: [_unless_zero_upstream(c, -c.g * (c.out * c.out))],
      batch=elementwise_batch)
defop("sin", infer=unary(), forward=np.sin, vjp=lambda c: [c.g * fn.cos(c.a)],
      batch=elementwise_batch)
defop("cos", infer=unary(), forward=np.cos, vjp=lambda c: [-c.g * fn.sin(c.a)],
      batch=elementwise_batch)
defop("tan", infer=unary(), forward=np.tan,
      vjp=lambda c: [c.g / fn.square(fn.cos(c.a))],
      batch=elementwise_batch)
defop("tanh", infer=unary(), forward=np.tanh,
      vjp=lambda c: [c.g * (1.0 - c.out * c.out)],
      jvp=lambda c: [c.da * (1.0 - c.out * c.out)], batch=elementwise_batch)


def _sigmoid(x):
    # Stable on both tails: exp of a non-positive number only.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


defop("sigmoid", infer=unary(), forward=_sigmoid,
      vjp=lambda c: [c.g * (c.out * (1.0 - c.out))],
      batch=elementwise_batch)
ZEROS_LIMIT = 1 << 20  # elements: the largest relu given a zeros operand (4 MiB float32)
_ZERO_BUFFERS: dict[np.dtype, np.ndarray] = {}  # per dtype, read-only, grown on demand


def zeros_of(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A read-only array of zeros, a view of one buffer per dtype (so plans share it)."""
    size = math.prod(shape)
    buf = _ZERO_BUFFERS.get(dtype)
    if buf is None or buf.size < size:
        grown = min(2 * buf.size, ZEROS_LIMIT) if buf is not None else 0
        buf = np.zeros(max(size, grown), dtype)  # a large calloc: read-only pages, unbacked
        buf.setflags(write=False)
        _ZERO_BUFFERS[dtype] = buf
    return buf[:size].reshape(shape)


@kernel
def _relu(attrs, specs):
    """max(x, 0). numpy's maximum against a scalar runs a loop 2.5-4x slower than against
    an array of x's shape (W2's [64, 256]: 5.5 us, 1.4 us; the same numbers, NaN and -0
    included), so a static shape gets an array of zeros, bound here; x of another shape
    or dtype (never, in a plan of static shapes) takes the scalar. A large float x takes
    the compiled loop once it is ready (``array_loops``: the same bits, one pass)."""
    spec = specs[0]
    size = num_elements(spec.shape)
    maximum = np.maximum
    if size is None or not 0 < size <= ZEROS_LIMIT:
        return lambda x: maximum(x, x.dtype.type(0))
    shape, dtype = tuple(spec.shape), np_dtype(spec.dtype)
    zeros = zeros_of(shape, dtype)
    large = size >= array_loops.LOOP_MIN

    def run(x: np.ndarray) -> np.ndarray:
        if x.dtype is not dtype or x.shape != shape:
            return maximum(x, x.dtype.type(0))
        compiled = array_loops.loops(x) if large else None
        if compiled is None:
            return maximum(x, zeros)
        out = np.empty(shape, dtype)
        compiled.relu(x.reshape(-1), out.reshape(-1))
        return out

    return run


defop("relu", infer=unary("numeric"), forward=_relu,
      vjp=lambda c: [fn.relu_grad(c.g, c.a)],
      batch=elementwise_batch)


def _relu_grad_infer(specs, attrs):
    check_dtypes(specs, "numeric")
    return TensorSpec(specs[0].shape, specs[0].dtype)


def _relu_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * (x > 0); for large float arrays of one shape, once compiled, one pass of
    ``array_loops`` (the same bits), g of one value (a broadcast seed: every stride 0)
    read once."""
    compiled = array_loops.loops(x) if x.size >= array_loops.LOOP_MIN else None
    if compiled is None or g.shape != x.shape or g.dtype != x.dtype:
        return g * (x > 0)
    out = np.empty(x.shape, x.dtype)
    if not any(g.strides):
        compiled.relu_grad_one(g[(0,) * g.ndim].reshape(1), x.reshape(-1), out.reshape(-1))
    elif g.flags.c_contiguous:
        compiled.relu_grad(g.reshape(-1), x.reshape(-1), out.reshape(-1))
    else:
        return g * (x > 0)
    return out


defop("relu_grad", inputs=2, infer=_relu_grad_infer,
      forward=_relu_grad,
      vjp=lambda c: [fn.relu_grad(c.g, c.b), fn.zeros_like(c.b)],
      doc="Internal: relu's gradient g * (x > 0) in one pass (TensorFlow's ReluGrad: a "
          "product, so a NaN upstream stays NaN); linear in g, zero a.e. in x.",
      batch=broadcasting_batch)


def _relu6_grad(g, x, passes_six):
    inside = (x > 0) & ((x <= 6) if passes_six else (x < 6))
    return g * inside


defop("relu6", infer=unary("numeric"),
      forward=lambda x: np.clip(x, 0, 6).astype(x.dtype),
      vjp=lambda c: [fn.relu6_grad(c.g, c.a, passes_six=not c.tf)],
      doc="At 6 TensorFlow's gradient is 0, MindSpore's passes (1).",
      batch=elementwise_batch)
defop("relu6_grad", inputs=2, infer=_relu_grad_infer, forward=_relu6_grad,
      attrs={"passes_six": Attr(False, parse.boolean)}, batch=broadcasting_batch,
      vjp=lambda c: [c.apply(c.g, c.b), fn.zeros_like(c.b)],
      doc="Internal: relu6's gradient g * (0 < x < 6) (x <= 6 with ``passes_six``, "
          "MindSpore's), a product as TensorFlow's Relu6Grad; linear in g, and its "
          "gradient in x is connected zeros (TensorFlow's Relu6GradGrad is zeros_like).")


def _leaky_relu_partials(c):
    """TensorFlow's LeakyReluGrad: 1 where x > 0, else alpha (so alpha at 0 and at NaN).
    MindSpore computes maximum(alpha x, x) (minimum for alpha > 1), whose bprop splits a
    tie and passes a NaN to both arguments: (1 + alpha) / 2 at 0, 1 + alpha at NaN."""
    x, alpha = c.a, c.attrs["alpha"]
    slope = fn.where(fn.greater(x, x.scalar(0)), x.scalar(1), x.scalar(alpha))
    if c.tf:
        return [slope]
    at_kink = fn.where(fn.equal(x, x.scalar(0)), x.scalar((1 + alpha) / 2), slope)
    return [fn.where(fn.not_equal(x, x), x.scalar(1 + alpha), at_kink)]


defop("leaky_relu", aliases=("LeakyRelu",), infer=unary(),
      forward=lambda x, alpha: np.where(x > 0, x, x * x.dtype.type(alpha)),
      attrs={"alpha": Attr(0.2, parse.number)}, **by_partials(_leaky_relu_partials),
      doc="x for x > 0, else alpha x (alpha defaults to 0.2, as TensorFlow); the slope at "
          "0 and at NaN is alpha (TensorFlow), (1 + alpha) / 2 and 1 + alpha (MindSpore's "
          "maximum(alpha x, x)).")


def _silu_partials(c):
    s = fn.sigmoid(c.a)
    return [s * (1.0 + c.a * (1.0 - s))]


defop("silu", aliases=("swish", "SiLU"), infer=unary(),
      forward=lambda x: x * _sigmoid(x), **by_partials(_silu_partials),
      doc="x sigmoid(x); derivative s (1 + x (1 - s)), -0 far on the left (both).")


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


defop("elu", infer=unary(), forward=_elu,
      vjp=lambda c: [fn.where(fn.less(c.a, c.a.scalar(0)), c.g * (c.out + 1.0), c.g)],
      batch=elementwise_batch)


def _selu(x):
    neg = _SELU_SCALE * _SELU_ALPHA * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, _SELU_SCALE * x, neg).astype(x.dtype, copy=False)


defop("selu", infer=unary(), forward=_selu,
      vjp=lambda c: [fn.where(fn.less(c.a, c.a.scalar(0)),
                             c.g * (c.out + _SELU_SCALE * _SELU_ALPHA),
                             c.g * _SELU_SCALE)],
      batch=elementwise_batch)
defop("softplus", infer=unary(), forward=lambda x: np.logaddexp(0, x).astype(x.dtype),
      vjp=lambda c: [c.g * fn.sigmoid(c.a)],
      batch=elementwise_batch)
defop("erf", infer=unary(), forward=_erf,
      vjp=lambda c: [c.g * (2.0 / math.sqrt(math.pi)) * fn.exp(-fn.square(c.a))],
      batch=elementwise_batch)


def _gelu(x, approximate):
    if approximate:
        inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
        return (0.5 * x * (1.0 + np.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype, copy=False)


def _gelu_vjp(c: VJPContext):
    x = c.a
    if c.attrs["approximate"]:
        t = fn.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * (x * x * x)))
        slope = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * (x * x))
        return [c.g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * slope)]
    cdf = 0.5 * (1.0 + fn.erf(x * (1.0 / math.sqrt(2.0))))
    pdf = fn.exp(-0.5 * (x * x)) * (1.0 / math.sqrt(2.0 * math.pi))
    return [c.g * (cdf + x * pdf)]


def _approximate(v):
    if isinstance(v, str) and v.lower() in ("none", "tanh"):
        return v.lower() == "tanh"
    if not isinstance(v, bool):
        raise ValueError(f"expected true/false (or 'none'/'tanh'), got {v!r}")
    return v


defop("gelu", infer=unary(), forward=_gelu, vjp=_gelu_vjp,
      attrs={"approximate": Attr(False, _approximate)},
      doc="approximate=false is the erf form (TensorFlow's default).",
      batch=elementwise_batch)

# No gradient: TensorFlow returns None for these (unconnected), MindSpore zeros.
defop("floor", infer=unary(), forward=np.floor,
      batch=elementwise_batch)
defop("ceil", infer=unary(), forward=np.ceil,
      batch=elementwise_batch)
defop("round", infer=unary(), forward=np.round, doc="Half to even, as TensorFlow.",
      batch=elementwise_batch)
defop("identity", infer=unary("any"), forward=lambda x: x, moves=True,
      linear=(0,), transpose=lambda c: [c.g],
      batch=elementwise_batch)
defop("stop_gradient", aliases=("StopGradient",), infer=unary("any"),
      forward=lambda x: x, doc="Passes its value; no gradient flows through it.",
      batch=elementwise_batch)


def _cast_infer(specs, attrs):
    check_dtypes(specs, "any")
    return TensorSpec(specs[0].shape, attrs["dtype"])


def _cast_vjp(c: VJPContext):
    from ..dtypes import is_floating

    src, dst = c.a.dtype, c.out.dtype
    if c.tf and not (is_floating(src) and is_floating(dst)):
        return [None]  # TensorFlow: no gradient into or out of integers
    if src == "bool":
        return [None]
    return [fn.cast(c.g, dtype=src)]


def _dtype_attr(v):
    from ..dtypes import canonical_dtype

    return canonical_dtype(v)


defop("cast", aliases=("Cast",), infer=_cast_infer,
      forward=lambda x, dtype: x.astype(dtype, copy=False), vjp=_cast_vjp, moves=True,
      attrs={"dtype": Attr(parse=_dtype_attr, aliases=("DstT", "to"))},
      doc="The gradient is cast back to the source dtype (truncating toward zero for "
          "integers in the MindSpore dialect; none through integers in TensorFlow's).",
      batch=elementwise_batch)

# -- two inputs, broadcasting -----------------------------------------------------------

defop("add", aliases=("AddV2",), inputs=2, infer=broadcasting(), forward=np.add,
      linear=ALL, transpose=lambda c: [c.g, c.g],
      batch=broadcasting_batch)
defop("sub", aliases=("subtract",), inputs=2, infer=broadcasting(), forward=np.subtract,
      linear=ALL, transpose=lambda c: [c.g, -c.g],
      batch=broadcasting_batch)
defop("mul", aliases=("multiply",), inputs=2, infer=broadcasting(), forward=np.multiply,
      linear=ALL, multilinear=True, transpose=lambda c: c.each(lambda: c.g * c.b,
                                                               lambda: c.g * c.a),
      batch=broadcasting_batch)


def _div_vjp(c: VJPContext):
    x, y = c.a, c.b
    dx = c.g / y
    if c.tf:
        return [dx, c.g * ((-x / y) / y)]
    # MindSpore: -dout * (out / y); recorded: 0/0 gives dy = inf, the sign of dout/y.
    both_zero = fn.logical_and(fn.equal(x, x.scalar(0)), fn.equal(y, y.scalar(0)))
    return [dx, fn.where(both_zero, dx, -c.g * (c.out / y))]


defop("div", aliases=("truediv", "RealDiv", "divide"), inputs=2, infer=broadcasting("float"),
      forward=np.true_divide, vjp=_div_vjp,
      doc="At y = 0: TensorFlow 0/0 gives [inf, NaN]; MindSpore gives [inf, inf].",
      batch=broadcasting_batch)


def _pow_vjp(c: VJPContext):
    x, y, out = c.a, c.b, c.out
    dx = c.g * y * fn.pow(x, y - 1.0)
    if c.tf:
        positive = fn.greater(x, x.scalar(0))
        safe = fn.where(positive, x, fn.ones_like(x))
        log_x = fn.where(positive, fn.log(safe), _zeros(x))
        return [dx, c.g * out * log_x]
    zero_base = fn.logical_and(fn.equal(x, x.scalar(0)), fn.greater_equal(y, y.scalar(0)))
    dy = c.g * out * fn.log(x)
    return [dx, fn.where(zero_base, _zeros(dy), dy)]


defop("pow", aliases=("power",), inputs=2, infer=broadcasting(), forward=np.power,
      vjp=_pow_vjp,
      doc="d/dy uses log(x) taken as 0 where x <= 0 (TensorFlow); MindSpore leaves log "
          "unmasked except 0 ** (y >= 0), where d/dy is 0.",
      batch=broadcasting_batch)


def _tie_split(c: VJPContext, wins_x, tie):
    """MindSpore splits a tie 0.5 / 0.5 and gives the whole gradient to both inputs where
    either is NaN; TensorFlow gives a tie to the first argument, a NaN to the second."""
    g = c.g
    zero = _zeros(g)
    if c.tf:
        return [fn.where(fn.logical_or(wins_x, tie), g, zero),
                fn.where(fn.logical_or(wins_x, tie), zero, g)]
    half = g * 0.5
    nan = fn.logical_or(fn.not_equal(c.a, c.a), fn.not_equal(c.b, c.b))
    return [fn.where(fn.logical_or(wins_x, nan), g, fn.where(tie, half, zero)),
            fn.where(fn.logical_or(wins_x, tie),
                     fn.where(tie, half, zero), g)]


def _maximum_vjp(c: VJPContext):
    return _tie_split(c, fn.greater(c.a, c.b), fn.equal(c.a, c.b))


def _minimum_vjp(c: VJPContext):
    return _tie_split(c, fn.less(c.a, c.b), fn.equal(c.a, c.b))


defop("maximum", inputs=2, infer=broadcasting(), forward=np.maximum, vjp=_maximum_vjp,
      batch=broadcasting_batch)
defop("minimum", inputs=2, infer=broadcasting(), forward=np.minimum, vjp=_minimum_vjp,
      batch=broadcasting_batch)


def _share(wins, tie, nan, like):
    """MindSpore's share of a maximum/minimum's gradient for its first argument: 1 where
    it wins or a NaN is involved, 1/2 at a tie, else 0 (the second gets 1 - that, or 1
    at a NaN)."""
    one, half, zero = like.scalar(1), like.scalar(0.5), like.scalar(0)
    return fn.where(fn.logical_or(wins, nan), one, fn.where(tie, half, zero))


def _clip_partials(c):
    t, lo, hi = c.inputs
    if c.tf:  # TensorFlow's ClipByValue gradient: t's where lo <= t <= hi, else the bound's
        below, above = fn.less(t, lo), fn.greater(t, hi)
        inside = fn.logical_not(fn.logical_or(below, above))
        return [_mask(inside, t), _mask(below, t), _mask(above, t)]
    # MindSpore composes minimum(maximum(t, lo), hi), each splitting its ties
    def isnan(v):
        return fn.not_equal(v, v)

    m = fn.maximum(t, lo)
    t_share = _share(fn.greater(t, lo), fn.equal(t, lo), fn.logical_or(isnan(t), isnan(lo)), t)
    m_nan = fn.logical_or(isnan(m), isnan(hi))
    m_share = _share(fn.less(m, hi), fn.equal(m, hi), m_nan, t)
    lo_share = fn.where(fn.logical_or(isnan(t), isnan(lo)), t.scalar(1), 1.0 - t_share)
    hi_share = fn.where(m_nan, t.scalar(1), 1.0 - m_share)
    return [m_share * t_share, m_share * lo_share, hi_share]


defop("clip_by_value", aliases=("ClipByValue", "clip"), inputs=3, infer=broadcasting(),
      forward=lambda t, lo, hi: np.minimum(np.maximum(t, lo), hi),
      **by_partials(_clip_partials),
      doc="Inputs t, min, max (broadcasting). At a bound TensorFlow gives the gradient to "
          "t; MindSpore (minimum of maximum) splits it 0.5 / 0.5 with the bound.")


def _sqdiff_vjp(c: VJPContext):
    d = c.g * (2.0 * (c.a - c.b))
    return [d, -d]


defop("squared_difference", inputs=2, infer=broadcasting(),
      forward=lambda x, y: np.square(x - y), vjp=_sqdiff_vjp,
      batch=broadcasting_batch)


def _atan2_vjp(c: VJPContext):
    a, b = c.a, c.b  # atan2(a, b): angle of the point (b, a)
    scale = c.g / (fn.square(a) + fn.square(b))
    return [b * scale, -a * scale]


defop("atan2", inputs=2, infer=broadcasting("float"), forward=np.arctan2, vjp=_atan2_vjp,
      batch=broadcasting_batch)

# -- comparisons and logic: bool out, no gradient ----------------------------------------

for _name, _fn, _allowed in (
    ("equal", np.equal, "any"), ("not_equal", np.not_equal, "any"),
    ("less", np.less, "numeric"), ("less_equal", np.less_equal, "numeric"),
    ("greater", np.greater, "numeric"), ("greater_equal", np.greater_equal, "numeric"),
):
    defop(_name, inputs=2, infer=broadcasting(_allowed, out_dtype="bool"), forward=_fn,
          batch=broadcasting_batch)

defop("logical_and", inputs=2, infer=broadcasting("bool"), forward=np.logical_and,
      batch=broadcasting_batch)
defop("logical_or", inputs=2, infer=broadcasting("bool"), forward=np.logical_or,
      batch=broadcasting_batch)
defop("logical_not", inputs=1, infer=unary("bool"), forward=np.logical_not,
      batch=elementwise_batch)


def _where_infer(specs, attrs):
    if specs[0].dtype != "bool":
        raise OpTypeError(f"the condition must be bool, got {specs[0].dtype}", input_index=0)
    a, b = specs[1].dtype, specs[2].dtype
    if a != b:  # named here, not by check_dtypes, so the indices count the condition too
        raise OpTypeError(f"input 2 has dtype {b} but input 1 has {a}; the two branches "
                          f"must share one dtype (insert a 'cast' node)", input_index=2)
    return TensorSpec(broadcast(*(s.shape for s in specs)), a)


def _where_transpose(c: VJPContext):
    zero = c.g.scalar(0)
    return [None, fn.where(c.a, c.g, zero), fn.where(c.a, zero, c.g)]


defop("where", aliases=("select", "SelectV2"), inputs=3, infer=_where_infer,
      forward=np.where, linear=(1, 2), transpose=_where_transpose,
      doc="numpy broadcasting of condition, a and b (TensorFlow's where_v2).",
      batch=broadcasting_batch)

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
      linear=ALL, transpose=lambda c: [c.g] * len(c.inputs),
      batch=same_shape_batch)
