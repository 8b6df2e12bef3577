"""One table of small float64 examples for every registered op, for the mechanical sweep
in ``test_every_op.py``.

Each op name maps to one or more ``Example``s: input arrays (from one seeded generator),
attrs, which inputs to differentiate, which output to take. Points are chosen away from
kinks and ties (distinct values for max/min and pools, no zeros under abs/relu/sign, no
6 under relu6), so central differences are valid there. ``NO_GRADIENT`` lists the ops
that have no VJP on purpose; ``LEAVES`` the ops whose values come from outside.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.ops import registry

from . import op_forms as F
from .control_examples import control_flow_examples
from .gradcheck import rand

_RNG = np.random.default_rng(20240611)


@dataclass(frozen=True)
class Example:
    """One op applied to concrete inputs.

    ``zero_hvp``: the Hessian block of each differentiated input with itself is zero
    (the op is linear, or piecewise linear, in that input), which the sweep also asserts.
    ``needs_static``: the op refuses unknown dimensions here (an einsum diagonal).
    ``second_order``: false where the second derivative is knowingly not exact (prod at
    zeros: its gradient's VJP divides by x, as TensorFlow's does).
    """

    op: str
    inputs: tuple[np.ndarray, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    wrt: tuple[int, ...] = (0,)
    out: int = 0
    zero_hvp: bool = False
    needs_static: bool = False
    second_order: bool = True
    tag: str = ""
    eps: float = 1e-6
    rtol: float = 1e-5
    atol: float = 1e-7

    @property
    def label(self) -> str:
        return f"{self.op}[{self.tag}]" if self.tag else self.op


def normal(*shape: int) -> np.ndarray:
    return _RNG.normal(size=shape)


def uniform(low: float, high: float, *shape: int) -> np.ndarray:
    return _RNG.uniform(low, high, size=shape)


def away_from_zero(*shape: int, low: float = 0.3, high: float = 2.0) -> np.ndarray:
    """Values with |x| in [low, high] and random signs: no kink at 0 is near."""
    return uniform(low, high, *shape) * _RNG.choice([-1.0, 1.0], size=shape)


def distinct(*shape: int, gap: float = 0.25) -> np.ndarray:
    """Values at least ``gap`` apart, shuffled: no ties for max, min or pools."""
    n = int(np.prod(shape))
    steps = _RNG.permutation(n) * gap + uniform(0.0, gap / 4, n)
    return (steps - steps.mean()).reshape(shape)


def scalar(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float64)


def ints(values: Any, dtype: str = "int64") -> np.ndarray:
    return np.asarray(values, dtype=dtype)


def bools(*shape: int) -> np.ndarray:
    return _RNG.uniform(size=shape) < 0.5


def simplex(*shape: int) -> np.ndarray:
    """Rows that sum to 1 on the last axis (softmax cross-entropy labels)."""
    p = uniform(0.1, 1.0, *shape)
    return p / p.sum(axis=-1, keepdims=True)


def ex(op: str, *inputs: np.ndarray, **kw: Any) -> Example:
    return Example(op, tuple(inputs), **kw)


LEAVES = frozenset({"placeholder", "variable", "constant"})

NO_GRADIENT = frozenset({
    "floor", "ceil", "round", "stop_gradient",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_not",
    "zeros_like", "ones_like", "fill", "reduction_count",
    "floor_div", "truncate_div", "argmax", "argmin", "range", "one_hot",
})

# Ops whose VJP switches on the dialect: at regular points the two must agree.
DIALECT_RULES = frozenset({"maximum", "minimum", "relu6", "sqrt", "rsqrt", "reciprocal",
                           "pow", "div", "cast", "max", "min", "xlogy", "clip_by_value",
                           "cumprod", "cond", "while_loop"})

_LINEAR = {"zero_hvp": True}
_CONV = {"strides": [1, 1], "padding": "VALID"}
_CONV_SAME = {"strides": 2, "padding": "SAME", "dilations": [1, 1]}
_CONV_DILATED = {"padding": "SAME", "dilations": 2}
_POOL = {"ksize": 2, "strides": 2, "padding": "VALID"}
_POOL_SAME = {"ksize": [3, 3], "strides": [1, 1], "padding": "SAME"}
_STRIDED = {"begin": [1, 4], "end": [4, None], "strides": [2, -2]}
_SHRINK = {"begin": [-1, 0], "end": [0, 3], "shrink_axis_mask": 1}

EXAMPLES: dict[str, list[Example]] = {
    # -- elementwise, one input --------------------------------------------------------
    "neg": [ex("neg", normal(2, 3), **_LINEAR)],
    "abs": [ex("abs", away_from_zero(2, 3), **_LINEAR)],
    "sign": [ex("sign", away_from_zero(2, 3), **_LINEAR)],
    "exp": [ex("exp", normal(2, 3))],
    "expm1": [ex("expm1", normal(2, 3))],
    "log": [ex("log", uniform(0.3, 2.0, 2, 3))],
    "log1p": [ex("log1p", uniform(-0.5, 2.0, 2, 3))],
    "sqrt": [ex("sqrt", uniform(0.3, 2.0, 2, 3))],
    "rsqrt": [ex("rsqrt", uniform(0.3, 2.0, 2, 3))],
    "square": [ex("square", normal(2, 3))],
    "reciprocal": [ex("reciprocal", away_from_zero(2, 3, low=0.4))],
    "sin": [ex("sin", normal(2, 3))],
    "cos": [ex("cos", normal(2, 3))],
    "tan": [ex("tan", uniform(-1.2, 1.2, 2, 3))],
    "tanh": [ex("tanh", normal(2, 3))],
    "sigmoid": [ex("sigmoid", normal(2, 3) * 2)],
    "relu": [ex("relu", away_from_zero(2, 3), **_LINEAR)],
    "relu_grad": [ex("relu_grad", normal(2, 3), away_from_zero(2, 3), wrt=(0, 1), **_LINEAR)],
    "relu6": [ex("relu6", np.array([[-1.0, 0.4, 2.5], [5.6, 6.7, 3.3]]), **_LINEAR)],
    "relu6_grad": [ex("relu6_grad", normal(2, 3), np.array([[-1.0, 0.4, 2.5], [5.6, 6.7, 3.3]]),
                      wrt=(0, 1), **_LINEAR),
                   ex("relu6_grad", normal(2, 3), np.array([[-1.0, 0.4, 2.5], [5.6, 6.7, 3.3]]),
                      attrs={"passes_six": True}, wrt=(0, 1), tag="passes-six", **_LINEAR)],
    "elu": [ex("elu", away_from_zero(2, 3))],
    "selu": [ex("selu", away_from_zero(2, 3))],
    "softplus": [ex("softplus", normal(2, 3) * 2)],
    "erf": [ex("erf", normal(2, 3))],
    "gelu": [ex("gelu", normal(2, 3) * 2, tag="erf"),
             ex("gelu", normal(2, 3) * 2, attrs={"approximate": True}, tag="tanh")],
    "identity": [ex("identity", normal(2, 3), **_LINEAR)],
    "cast": [ex("cast", normal(2, 3), attrs={"dtype": "float64"}, tag="f64", **_LINEAR),
             ex("cast", normal(2, 3), attrs={"dtype": "float32"}, tag="f32", eps=1e-3,
                rtol=1e-3, atol=1e-4, **_LINEAR)],
    "floor": [ex("floor", normal(2, 3) * 3)],
    "ceil": [ex("ceil", normal(2, 3) * 3)],
    "round": [ex("round", normal(2, 3) * 3)],
    "stop_gradient": [ex("stop_gradient", normal(2, 3))],
    # -- elementwise, two or more inputs (with broadcasting) ---------------------------
    "add": [ex("add", normal(2, 3), normal(3), wrt=(0, 1), **_LINEAR)],
    "sub": [ex("sub", normal(2, 1), normal(1, 3), wrt=(0, 1), **_LINEAR)],
    "mul": [ex("mul", normal(2, 3), normal(3), wrt=(0, 1), **_LINEAR)],
    "div": [ex("div", normal(2, 3), away_from_zero(3, low=0.5), wrt=(0, 1))],
    "pow": [ex("pow", uniform(0.5, 2.0, 2, 3), normal(3), wrt=(0, 1))],
    "maximum": [ex("maximum", distinct(2, 3), distinct(3) + 0.1, wrt=(0, 1), **_LINEAR)],
    "minimum": [ex("minimum", distinct(2, 3), distinct(3) + 0.1, wrt=(0, 1), **_LINEAR)],
    "squared_difference": [ex("squared_difference", normal(2, 3), normal(3), wrt=(0, 1))],
    "atan2": [ex("atan2", normal(2, 3), away_from_zero(3), wrt=(0, 1))],
    "where": [ex("where", bools(2, 3), normal(2, 3), normal(3), wrt=(1, 2), **_LINEAR)],
    "add_n": [ex("add_n", normal(2, 3), normal(2, 3), normal(2, 3), wrt=(0, 1, 2),
                 **_LINEAR)],
    "equal": [ex("equal", np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]))],
    "not_equal": [ex("not_equal", np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]))],
    "less": [ex("less", normal(2, 3), normal(3))],
    "less_equal": [ex("less_equal", normal(2, 3), normal(3))],
    "greater": [ex("greater", normal(2, 3), normal(3))],
    "greater_equal": [ex("greater_equal", normal(2, 3), normal(3))],
    "logical_and": [ex("logical_and", bools(2, 3), bools(3))],
    "logical_or": [ex("logical_or", bools(2, 3), bools(3))],
    "logical_not": [ex("logical_not", bools(2, 3))],
    # -- reductions ---------------------------------------------------------------------
    "sum": [ex("sum", normal(2, 3, 4), attrs={"axis": [0, 2]}, **_LINEAR),
            ex("sum", normal(2, 3), tag="all", **_LINEAR)],
    "mean": [ex("mean", normal(2, 3, 4), attrs={"axis": 1, "keepdims": True}, **_LINEAR),
             ex("mean", normal(3, 2), tag="all", **_LINEAR)],
    "max": [ex("max", distinct(3, 4), attrs={"axis": 1}, **_LINEAR),
            ex("max", distinct(2, 3), attrs={"axis": None, "keepdims": True}, tag="all",
               **_LINEAR)],
    "min": [ex("min", distinct(3, 4), attrs={"axis": -2}, **_LINEAR)],
    "prod": [ex("prod", away_from_zero(3, 4, low=0.5, high=1.5), attrs={"axis": 1}),
             ex("prod", away_from_zero(2, 3, low=0.5, high=1.5), tag="all")],
    "logsumexp": [ex("logsumexp", normal(3, 4), attrs={"axis": 1}),
                  ex("logsumexp", normal(2, 3), attrs={"keepdims": True}, tag="all")],
    "prod_others": [ex("prod_others", away_from_zero(3, 4, low=0.5, high=1.5),
                       attrs={"axis": [1]}),
                    ex("prod_others", away_from_zero(2, 3, 2, low=0.5, high=1.5),
                       attrs={"axis": [0, 2]}, tag="two-axes")],
    "reduction_count": [ex("reduction_count", normal(2, 3), attrs={"axis": [1]})],
    # -- shapes, broadcasting and their helpers ----------------------------------------
    "zeros_like": [ex("zeros_like", normal(2, 3))],
    "ones_like": [ex("ones_like", normal(2, 3))],
    "fill": [ex("fill", attrs={"shape": [2, 3], "value": 1.5, "dtype": "float64"},
                wrt=())],
    "broadcast_to": [ex("broadcast_to", normal(3, 1), attrs={"shape": [2, 3, 4]},
                        **_LINEAR)],
    "sum_to_shape": [ex("sum_to_shape", normal(2, 3, 4), attrs={"shape": [3, 1]},
                        **_LINEAR)],
    "sum_to_like": [ex("sum_to_like", normal(2, 3, 4), normal(3, 1), **_LINEAR)],
    "broadcast_like": [ex("broadcast_like", normal(3, 1), normal(2, 3, 4), **_LINEAR)],
    "reshape": [ex("reshape", normal(2, 3, 2), attrs={"shape": [3, -1]}, **_LINEAR)],
    "reshape_like": [ex("reshape_like", normal(2, 6), normal(3, 4), **_LINEAR)],
    "expand_dims": [ex("expand_dims", normal(2, 3), attrs={"axis": 1}, **_LINEAR)],
    "squeeze": [ex("squeeze", normal(2, 1, 3), attrs={"axis": 1}, **_LINEAR)],
    "transpose": [ex("transpose", normal(2, 3, 4), attrs={"perm": [2, 0, 1]}, **_LINEAR)],
    "concat": [ex("concat", normal(2, 3), normal(2, 2), attrs={"axis": 1}, wrt=(0, 1),
                  **_LINEAR)],
    "split_like": [ex("split_like", normal(2, 5), normal(2, 3), normal(2, 2),
                      attrs={"axis": 1}, out=1, **_LINEAR)],
    "stack": [ex("stack", normal(2, 3), normal(2, 3), normal(2, 3), attrs={"axis": 1},
                 wrt=(0, 1, 2), **_LINEAR)],
    "split": [ex("split", normal(4, 3), attrs={"num_or_size_splits": 2}, out=1, **_LINEAR),
              ex("split", normal(2, 5), attrs={"num_or_size_splits": [1, -1], "axis": 1},
                 tag="sizes", **_LINEAR)],
    "strided_slice": [ex("strided_slice", normal(4, 5), attrs=_STRIDED, **_LINEAR),
                      ex("strided_slice", normal(4, 3), attrs=_SHRINK, tag="shrink",
                         **_LINEAR)],
    "strided_slice_grad": [ex("strided_slice_grad", normal(2, 3), normal(4, 5),
                              attrs=_STRIDED, **_LINEAR),
                           ex("strided_slice_grad", normal(3), normal(4, 3), attrs=_SHRINK,
                              tag="shrink", **_LINEAR)],
    "slice": [ex("slice", normal(4, 5), attrs={"begin": [1, 2], "size": [2, -1]},
                 **_LINEAR)],
    "gather": [ex("gather", normal(5, 3), ints([[0, 2], [2, 4]]), **_LINEAR),
               ex("gather", normal(2, 4, 3), ints([3, 1, 3], "int32"), attrs={"axis": 1},
                  tag="axis1", **_LINEAR)],
    "gather_grad": [ex("gather_grad", normal(2, 2, 3), ints([[0, 2], [2, 4]]),
                       normal(5, 3), attrs={"axis": 0}, **_LINEAR)],
    "pad": [ex("pad", normal(2, 3), attrs={"paddings": [[1, 0], [2, 1]]}, **_LINEAR)],
    "tile": [ex("tile", normal(2, 3), attrs={"multiples": [2, 3]}, **_LINEAR)],
    "tile_grad": [ex("tile_grad", normal(4, 9), normal(2, 3), attrs={"multiples": [2, 3]},
                     **_LINEAR)],
    # -- linear algebra -----------------------------------------------------------------
    "matmul": [ex("matmul", normal(2, 3), normal(3, 4), wrt=(0, 1), **_LINEAR),
               ex("matmul", normal(3, 2), normal(4, 3), wrt=(0, 1), tag="transposed",
                  attrs={"transpose_a": True, "transpose_b": True}, **_LINEAR),
               ex("matmul", normal(2, 2, 3), normal(3, 2), wrt=(0, 1), tag="batched",
                  **_LINEAR),
               ex("matmul", normal(3), normal(2, 3, 2), wrt=(0, 1), tag="vector",
                  **_LINEAR)],
    "einsum": [ex("einsum", normal(2, 3), normal(3, 4), attrs={"equation": "ij,jk->ik"},
                  wrt=(0, 1), **_LINEAR),
               ex("einsum", normal(3, 3, 2), attrs={"equation": "iij->j"}, tag="diagonal",
                  needs_static=True, **_LINEAR),
               ex("einsum", normal(2, 3), normal(2, 3), normal(3),
                  attrs={"equation": "ij,ij,j->i"}, wrt=(0, 1, 2), tag="three",
                  **_LINEAR)],
    "tensordot": [ex("tensordot", normal(2, 3, 4), normal(4, 3), attrs={"axes": 1},
                     wrt=(0, 1), **_LINEAR),
                  ex("tensordot", normal(2, 3), normal(4, 3), attrs={"axes": [[1], [1]]},
                     wrt=(0, 1), tag="pairs", **_LINEAR)],
    # -- neural-network ops ------------------------------------------------------------
    "softmax": [ex("softmax", normal(2, 4)),
                ex("softmax", normal(3, 2), attrs={"axis": 0}, tag="axis0")],
    "log_softmax": [ex("log_softmax", normal(2, 4)),
                    ex("log_softmax", normal(3, 2), attrs={"axis": 0}, tag="axis0")],
    "softmax_cross_entropy_with_logits": [
        ex("softmax_cross_entropy_with_logits", simplex(2, 4), normal(2, 4), wrt=(0, 1)),
        ex("softmax_cross_entropy_with_logits", uniform(0.1, 1.0, 2, 4), normal(2, 4),
           wrt=(0, 1), out=1, tag="backprop-output")],
    "sigmoid_cross_entropy_with_logits": [
        ex("sigmoid_cross_entropy_with_logits", uniform(0.0, 1.0, 2, 3), normal(2, 3) * 2,
           wrt=(0, 1))],
    "l2_loss": [ex("l2_loss", normal(2, 3))],
    "conv2d": [ex("conv2d", normal(1, 4, 4, 2), normal(3, 3, 2, 2), attrs=_CONV,
                  wrt=(0, 1), **_LINEAR),
               ex("conv2d", normal(2, 5, 4, 1), normal(2, 3, 1, 2), attrs=_CONV_SAME,
                  wrt=(0, 1), tag="same-strided", **_LINEAR),
               ex("conv2d", normal(1, 5, 5, 1), normal(2, 2, 1, 1), attrs=_CONV_DILATED,
                  wrt=(0, 1), tag="dilated", **_LINEAR)],
    "conv2d_backprop_input": [
        ex("conv2d_backprop_input", normal(1, 2, 2, 2), normal(3, 3, 2, 2),
           normal(1, 4, 4, 2), attrs=_CONV, wrt=(0, 1), **_LINEAR),
        ex("conv2d_backprop_input", normal(2, 3, 2, 2), normal(2, 3, 1, 2),
           normal(2, 5, 4, 1), attrs=_CONV_SAME, wrt=(0, 1), tag="same-strided",
           **_LINEAR),
        ex("conv2d_backprop_input", normal(1, 5, 5, 2), normal(2, 2, 1, 2),
           normal(1, 5, 5, 1), attrs=_CONV_DILATED, wrt=(0, 1), tag="dilated", **_LINEAR)],
    "conv2d_backprop_filter": [
        ex("conv2d_backprop_filter", normal(1, 4, 4, 2), normal(1, 2, 2, 2),
           normal(3, 3, 2, 2), attrs=_CONV, wrt=(0, 1), **_LINEAR),
        ex("conv2d_backprop_filter", normal(2, 5, 4, 1), normal(2, 3, 2, 2),
           normal(2, 3, 1, 2), attrs=_CONV_SAME, wrt=(0, 1), tag="same-strided",
           **_LINEAR),
        ex("conv2d_backprop_filter", normal(1, 5, 5, 1), normal(1, 5, 5, 2),
           normal(2, 2, 1, 2), attrs=_CONV_DILATED, wrt=(0, 1), tag="dilated", **_LINEAR)],
    "conv2d_patches": [
        ex("conv2d_patches", normal(1, 4, 4, 2), attrs={"ksize": 3, **_CONV}, **_LINEAR),
        ex("conv2d_patches", normal(2, 5, 4, 1), attrs={"ksize": [2, 3], **_CONV_SAME},
           tag="same-strided", **_LINEAR),
        ex("conv2d_patches", normal(1, 5, 5, 1), attrs={"ksize": 2, **_CONV_DILATED},
           tag="dilated", **_LINEAR)],
    "conv2d_patches_grad": [
        ex("conv2d_patches_grad", normal(1, 2, 2, 18), normal(1, 4, 4, 2),
           attrs={"ksize": 3, **_CONV}, **_LINEAR),
        ex("conv2d_patches_grad", normal(2, 3, 2, 6), normal(2, 5, 4, 1),
           attrs={"ksize": [2, 3], **_CONV_SAME}, tag="same-strided", **_LINEAR),
        ex("conv2d_patches_grad", normal(1, 5, 5, 4), normal(1, 5, 5, 1),
           attrs={"ksize": 2, **_CONV_DILATED}, tag="dilated", **_LINEAR)],
    "max_pool": [ex("max_pool", distinct(1, 4, 4, 2), attrs=_POOL, **_LINEAR),
                 ex("max_pool", distinct(1, 3, 4, 1), attrs=_POOL_SAME, tag="same",
                    **_LINEAR)],
    "max_pool_grad": [ex("max_pool_grad", distinct(1, 4, 4, 2), normal(1, 2, 2, 2),
                         attrs=_POOL, wrt=(0, 1), **_LINEAR),
                      ex("max_pool_grad", distinct(1, 3, 4, 1), normal(1, 3, 4, 1),
                         attrs=_POOL_SAME, wrt=(0, 1), tag="same", **_LINEAR)],
    "max_pool_grad_grad": [ex("max_pool_grad_grad", distinct(1, 4, 4, 2),
                              normal(1, 4, 4, 2), attrs=_POOL, wrt=(0, 1), **_LINEAR),
                           ex("max_pool_grad_grad", distinct(1, 3, 4, 1),
                              normal(1, 3, 4, 1), attrs=_POOL_SAME, wrt=(0, 1),
                              tag="same", **_LINEAR)],
    "avg_pool": [ex("avg_pool", normal(1, 4, 4, 2), attrs=_POOL, **_LINEAR),
                 ex("avg_pool", normal(1, 3, 4, 1), attrs=_POOL_SAME, tag="same",
                    **_LINEAR)],
    "avg_pool_grad": [ex("avg_pool_grad", normal(1, 2, 2, 2), normal(1, 4, 4, 2),
                         attrs=_POOL, **_LINEAR),
                      ex("avg_pool_grad", normal(1, 3, 4, 1), normal(1, 3, 4, 1),
                         attrs=_POOL_SAME, tag="same", **_LINEAR)],
}


def _between_multiples(y: np.ndarray) -> np.ndarray:
    """x with x / y an integer plus a fraction in [0.25, 0.75]: floor_mod is smooth there."""
    q = _RNG.integers(-3, 4, size=y.shape) + uniform(0.25, 0.75, *y.shape)
    return q * y


_DIVISORS = np.array([[1.5, -2.0, 2.5], [-0.7, 3.0, 1.25]])

# v2 ops (OPS.md "v2: more ops"); kinks are checked by the recorded peer cases
EXAMPLES.update({
    "div_no_nan": [ex("div_no_nan", normal(2, 3), away_from_zero(3, low=0.5), wrt=(0, 1))],
    "mul_no_nan": [ex("mul_no_nan", normal(2, 3), away_from_zero(3), wrt=(0, 1), **_LINEAR)],
    "xlogy": [ex("xlogy", away_from_zero(2, 3), uniform(0.3, 2.0, 3), wrt=(0, 1))],
    "xlog1py": [ex("xlog1py", away_from_zero(2, 3), uniform(-0.5, 2.0, 2, 3), wrt=(0, 1))],
    "xdivy": [ex("xdivy", away_from_zero(2, 3), away_from_zero(2, 1, low=0.5), wrt=(0, 1))],
    "floor_mod": [ex("floor_mod", _between_multiples(_DIVISORS), _DIVISORS, wrt=(0, 1))],
    "floor_div": [ex("floor_div", normal(2, 3) * 3, away_from_zero(3))],
    "truncate_div": [ex("truncate_div", normal(2, 3) * 3, away_from_zero(3)),
                     ex("truncate_div", ints([[-7, 7, 6], [-6, 0, 5]]), ints([2, -2, -4]),
                        tag="int64")],
    "leaky_relu": [ex("leaky_relu", away_from_zero(2, 3), **_LINEAR),
                   ex("leaky_relu", away_from_zero(2, 3), attrs={"alpha": 0.01}, tag="alpha",
                      **_LINEAR)],
    "silu": [ex("silu", normal(2, 3) * 2)],
    "cumsum": [ex("cumsum", normal(2, 3, 4), attrs={"axis": 1}, **_LINEAR),
               ex("cumsum", normal(2, 4), attrs={"axis": -1, "exclusive": True,
                                                 "reverse": True}, tag="exclusive-reverse",
                  **_LINEAR),
               ex("cumsum", normal(3, 2), attrs={"exclusive": True}, tag="exclusive",
                  **_LINEAR)],
    "cumprod": [ex("cumprod", away_from_zero(2, 4, low=0.5, high=1.5), attrs={"axis": 1}),
                ex("cumprod", away_from_zero(3, 2, low=0.5, high=1.5),
                   attrs={"exclusive": True, "reverse": True}, tag="exclusive-reverse"),
                ex("cumprod", away_from_zero(2, 3, 2, low=0.5, high=1.5),
                   attrs={"axis": 1, "reverse": True}, tag="reverse")],
    "reverse": [ex("reverse", normal(2, 3, 4), attrs={"axis": [0, 2]}, **_LINEAR),
                ex("reverse", normal(2, 3), attrs={"axis": -1}, tag="int", **_LINEAR)],
    "unsorted_segment_sum": [
        ex("unsorted_segment_sum", normal(4, 2), ints([0, 2, 0, -1], "int32"),
           attrs={"num_segments": 3}, **_LINEAR),
        ex("unsorted_segment_sum", normal(2, 3, 2), ints([[1, 0, 1], [3, -1, 1]]),
           attrs={"num_segments": 4}, tag="2d-ids", **_LINEAR)],
    "unsorted_segment_max": [
        ex("unsorted_segment_max", distinct(4, 2), ints([0, 1, 0, -1], "int32"),
           attrs={"num_segments": 2}, **_LINEAR),  # no empty segment: its lowest value
        # (-1.8e308) would swamp the central differences
        ex("unsorted_segment_max", distinct(2, 3), ints([[1, 0, 1], [0, -1, 1]]),
           attrs={"num_segments": 2}, tag="2d-ids", **_LINEAR)],
    "unsorted_segment_min": [
        ex("unsorted_segment_min", distinct(5, 2), ints([1, 1, 0, 2, 1]),
           attrs={"num_segments": 3}, **_LINEAR)],
    "segment_gather": [
        ex("segment_gather", normal(3, 2), ints([0, 2, 0, -1], "int32"),
           attrs={"num_segments": 3}, **_LINEAR),
        ex("segment_gather", normal(4), ints([[1, 0, 1], [3, -1, 1]]),
           attrs={"num_segments": 4}, tag="2d-ids", **_LINEAR)],
    "matrix_diag": [ex("matrix_diag", normal(2, 3), **_LINEAR),
                    ex("matrix_diag", normal(3), tag="vector", **_LINEAR)],
    "matrix_diag_part": [ex("matrix_diag_part", normal(2, 3, 3), **_LINEAR),
                         ex("matrix_diag_part", normal(3, 2), tag="tall", needs_static=True,
                            **_LINEAR),
                         ex("matrix_diag_part", normal(2, 2, 4), tag="wide",
                            needs_static=True, **_LINEAR)],
    "euclidean_norm": [ex("euclidean_norm", normal(2, 3, 4), attrs={"axis": [0, 2]}),
                       ex("euclidean_norm", normal(2, 3), attrs={"keepdims": True},
                          tag="all-keepdims"),
                       ex("reduce_euclidean_norm", normal(3, 2), attrs={"axis": -1},
                          tag="alias")],
    "argmax": [ex("argmax", distinct(3, 4), attrs={"axis": 1}),
               ex("argmax", distinct(3, 4), attrs={"output_type": "int32"}, tag="int32")],
    "argmin": [ex("argmin", distinct(3, 4), attrs={"axis": -1})],
    "range": [ex("range", attrs={"start": 0.5, "limit": 2.5, "delta": 0.5,
                                 "dtype": "float64"}, wrt=()),
              ex("range", attrs={"limit": 5}, wrt=(), tag="ints"),
              ex("range", attrs={"start": 3, "limit": -2, "delta": -2}, wrt=(),
                 tag="down")],
    "one_hot": [ex("one_hot", ints([0, 3, -1], "int32"), attrs={"depth": 4}),
                ex("one_hot", ints([[1, 0], [2, 5]]), tag="axis0",
                   attrs={"depth": 3, "axis": 0, "on_value": 2.0, "off_value": -1.0,
                          "dtype": "float64"})],
    "sparse_softmax_cross_entropy_with_logits": [
        ex("sparse_softmax_cross_entropy_with_logits", ints([3, 0, 1], "int32"), normal(3, 4),
           wrt=(1,)),
        ex("sparse_softmax_cross_entropy_with_logits", ints([[2, 0], [1, 1]]),
           normal(2, 2, 3), wrt=(1,), out=1, tag="backprop-output")],
    "depthwise_conv2d": [
        ex("depthwise_conv2d", normal(1, 4, 4, 2), normal(3, 3, 2, 2), attrs=_CONV,
           wrt=(0, 1), needs_static=True, **_LINEAR),
        ex("depthwise_conv2d", normal(2, 5, 4, 3), normal(2, 3, 3, 1), attrs=_CONV_SAME,
           wrt=(0, 1), tag="same-strided", needs_static=True, **_LINEAR),
        ex("depthwise_conv2d", normal(1, 5, 5, 1), normal(2, 2, 1, 3), attrs=_CONV_DILATED,
           wrt=(0, 1), tag="dilated", needs_static=True, **_LINEAR)],
    "conv2d_transpose": [
        ex("conv2d_transpose", normal(2, 3, 3, 4), normal(3, 3, 2, 4), wrt=(0, 1),
           attrs={"output_shape": [2, 6, 6, 2], "strides": 2, "padding": "SAME"},
           **_LINEAR),
        ex("conv2d_transpose", normal(1, 2, 2, 2), normal(3, 3, 1, 2), wrt=(0, 1),
           attrs={"output_shape": [1, 4, 4, 1], **_CONV}, tag="valid", **_LINEAR)],
    "batch_norm": [
        ex("batch_norm", normal(4, 3), normal(3), normal(3), normal(3), uniform(0.5, 2.0, 3),
           attrs={"epsilon": 1e-3}, wrt=(0, 1, 2, 3, 4)),
        ex("batch_norm", normal(2, 3, 2), normal(3), normal(3), normal(3),
           uniform(0.5, 2.0, 3), attrs={"axis": 1, "epsilon": 0.01}, wrt=(0, 1, 2, 3, 4),
           tag="axis1")],
    "layer_norm": [
        ex("layer_norm", normal(4, 3), normal(3), normal(3), wrt=(0, 1, 2)),
        ex("layer_norm", normal(2, 3, 2), normal(3, 2), normal(3, 2), wrt=(0, 1, 2),
           attrs={"axis": [1, 2], "epsilon": 1e-5}, tag="two-axes"),
        ex("layer_norm", normal(3, 4, 2), normal(4), normal(4), wrt=(0, 1, 2),
           attrs={"axis": 1}, tag="middle")],
    "clip_by_value": [ex("clip_by_value", distinct(2, 4), scalar(-0.3), scalar(0.4),
                         wrt=(0, 1, 2), **_LINEAR),
                      ex("clip_by_value", distinct(2, 3), distinct(3) - 0.1, scalar(0.4),
                         wrt=(0, 1, 2), tag="broadcast-bounds", **_LINEAR)],
})

# Further forms of the same ops: scalars, empty axis lists, broadcast batches, other
# window geometries, masks and index ranks. Filed under their op like the rest.
_POOL_SAME_STRIDED = {"ksize": [3, 2], "strides": [2, 2], "padding": "SAME"}
_POOL_VALID_RECT = {"ksize": [2, 3], "strides": [1, 2], "padding": "VALID"}
_IDX_2D = ints([[0, 3], [3, 3], [1, 0]], "int32")


def _labels_on_axis1(*shape: int) -> np.ndarray:
    p = uniform(0.1, 1.0, *shape)
    return p / p.sum(axis=1, keepdims=True)


_MORE_FORMS = [
    ex("exp", scalar(0.7), tag="scalar"),
    ex("l2_loss", scalar(0.7), tag="scalar"),
    ex("mul", scalar(0.7), normal(2, 3), wrt=(0, 1), tag="scalar", **_LINEAR),
    ex("div", normal(2, 3), scalar(1.3), wrt=(0, 1), tag="scalar-y"),
    ex("pow", scalar(1.3), normal(2, 3), wrt=(0, 1), tag="scalar-x"),
    ex("pow", uniform(0.5, 2.0, 2, 3), scalar(2.5), wrt=(0, 1), tag="scalar-y"),
    ex("atan2", scalar(0.5), normal(3), wrt=(0, 1), tag="scalar"),
    ex("maximum", distinct(2, 3), scalar(0.05), wrt=(0, 1), tag="scalar", **_LINEAR),
    ex("relu6", np.array([[-0.5, 5.9, 0.1], [7.0, 6.1, 1.0]]), tag="near-6", **_LINEAR),
    ex("where", bools(3), normal(2, 3), normal(2, 1), wrt=(1, 2), tag="broadcast",
       **_LINEAR),
    ex("add_n", normal(2, 3), tag="one", **_LINEAR),
    ex("sum", scalar(0.7), tag="scalar", **_LINEAR),
    ex("mean", scalar(0.7), tag="scalar", **_LINEAR),
    ex("max", scalar(0.3), tag="scalar", **_LINEAR),
    ex("prod", scalar(0.8), tag="scalar"),
    ex("logsumexp", scalar(0.7), tag="scalar"),
    ex("sum", normal(2, 3), attrs={"axis": []}, tag="no-axes", **_LINEAR),
    ex("mean", normal(2, 3), attrs={"axis": []}, tag="no-axes", **_LINEAR),
    ex("max", distinct(2, 3), attrs={"axis": []}, tag="no-axes", **_LINEAR),
    ex("prod", away_from_zero(2, 3), attrs={"axis": []}, tag="no-axes"),
    ex("logsumexp", normal(2, 3), attrs={"axis": []}, tag="no-axes"),
    ex("prod", away_from_zero(2, 3, 2, low=0.5, high=1.5),
       attrs={"axis": [-1, 0], "keepdims": True}, tag="keepdims"),
    ex("min", distinct(2, 3, 2), attrs={"axis": [0, 2], "keepdims": True}, tag="keepdims",
       **_LINEAR),
    ex("logsumexp", normal(2, 3, 2), attrs={"axis": [0, 2]}, tag="two-axes"),
    ex("broadcast_to", scalar(0.7), attrs={"shape": [2, 3]}, tag="scalar", **_LINEAR),
    ex("sum_to_shape", normal(2, 3), attrs={"shape": []}, tag="scalar", **_LINEAR),
    ex("matmul", normal(2, 1, 3, 4), normal(3, 4, 2), wrt=(0, 1), tag="broadcast",
       **_LINEAR),
    ex("matmul", normal(2, 4, 3), normal(1, 2, 4), wrt=(0, 1), tag="broadcast-transposed",
       attrs={"transpose_a": True, "transpose_b": True}, **_LINEAR),
    ex("matmul", normal(2, 3, 4), normal(4), wrt=(0, 1), tag="matvec", **_LINEAR),
    ex("matmul", normal(4), normal(4), wrt=(0, 1), tag="dot", **_LINEAR),
    ex("einsum", normal(2, 1, 3, 4), normal(3, 4, 2), wrt=(0, 1), tag="ellipsis",
       attrs={"equation": "...ij,...jk->...ik"}, **_LINEAR),
    ex("einsum", normal(2, 3), normal(3, 4), attrs={"equation": "ij,jk"}, wrt=(0, 1),
       tag="implicit", **_LINEAR),
    ex("einsum", normal(3, 3), attrs={"equation": "ii"}, tag="trace", needs_static=True,
       **_LINEAR),
    ex("einsum", normal(2, 3), attrs={"equation": "ij->"}, tag="sum-all", **_LINEAR),
    ex("einsum", normal(2, 3), attrs={"equation": "ij->ji"}, tag="transpose", **_LINEAR),
    ex("einsum", normal(2), normal(3), attrs={"equation": "i,j->ij"}, wrt=(0, 1),
       tag="outer", **_LINEAR),
    ex("einsum", normal(2, 3), normal(1, 3), attrs={"equation": "ij,ij->i"}, wrt=(0, 1),
       tag="broadcast-1", **_LINEAR),
    ex("tensordot", normal(2, 3), normal(4), attrs={"axes": 0}, wrt=(0, 1), tag="outer",
       **_LINEAR),
    ex("tensordot", normal(2, 3, 4), normal(3, 4, 2), attrs={"axes": 2}, wrt=(0, 1),
       tag="two", **_LINEAR),
    ex("tensordot", normal(2, 3, 4), normal(4, 2, 3), attrs={"axes": [[1, 2], [2, 0]]},
       wrt=(0, 1), tag="permuted", **_LINEAR),
    ex("softmax", normal(2, 3, 2), attrs={"axis": 1}, tag="middle"),
    ex("softmax", normal(3, 1), tag="size-1"),
    ex("log_softmax", normal(2, 3, 2), attrs={"axis": 1}, tag="middle"),
    ex("softmax_cross_entropy_with_logits", _labels_on_axis1(2, 3, 2), normal(2, 3, 2),
       attrs={"axis": 1}, wrt=(0, 1), tag="axis1"),
    ex("conv2d", normal(1, 6, 5, 2), normal(2, 3, 2, 3), wrt=(0, 1), tag="mixed",
       attrs={"strides": [2, 1], "padding": "SAME", "dilations": [1, 2]}, **_LINEAR),
    ex("conv2d", normal(1, 7, 6, 1), normal(3, 2, 1, 2), wrt=(0, 1), tag="valid-mixed",
       attrs={"strides": [2, 3], "padding": "VALID", "dilations": [2, 1]}, **_LINEAR),
    ex("conv2d", normal(1, 6, 6, 1), normal(2, 2, 1, 1), wrt=(0, 1), tag="even-same",
       attrs={"strides": 2, "padding": "SAME"}, **_LINEAR),
    ex("conv2d", normal(1, 5, 5, 1), normal(4, 4, 1, 1), wrt=(0, 1), tag="wide-same",
       attrs={"strides": 3, "padding": "SAME"}, **_LINEAR),
    ex("max_pool", distinct(1, 5, 5, 2), attrs=_POOL_SAME_STRIDED, tag="same-strided",
       **_LINEAR),
    ex("max_pool", distinct(2, 5, 6, 1), attrs=_POOL_VALID_RECT, tag="valid-rect",
       **_LINEAR),
    ex("avg_pool", normal(1, 5, 5, 2), attrs=_POOL_SAME_STRIDED, tag="same-strided",
       **_LINEAR),
    ex("avg_pool", normal(2, 5, 6, 1), attrs=_POOL_VALID_RECT, tag="valid-rect", **_LINEAR),
    ex("max_pool_grad", distinct(1, 5, 5, 2), normal(1, 3, 3, 2), attrs=_POOL_SAME_STRIDED,
       wrt=(0, 1), tag="same-strided", **_LINEAR),
    ex("max_pool_grad_grad", distinct(1, 5, 5, 2), normal(1, 5, 5, 2),
       attrs=_POOL_SAME_STRIDED, wrt=(0, 1), tag="same-strided", **_LINEAR),
    ex("strided_slice", normal(4, 5), attrs={"begin": [2, 7], "end": [0, 1],
                                             "begin_mask": 2, "end_mask": 1},
       tag="masks", **_LINEAR),
    ex("strided_slice", normal(5, 6), tag="reversed", **_LINEAR,
       attrs={"begin": [None, None], "end": [None, None], "strides": [-1, -2]}),
    ex("strided_slice", normal(4, 3, 2), tag="shrink-middle", **_LINEAR,
       attrs={"begin": [1, -1], "end": [3, 0], "shrink_axis_mask": 2}),
    ex("gather", normal(2, 4, 3), _IDX_2D, attrs={"axis": 1}, tag="2d-axis1", **_LINEAR),
    ex("gather", normal(4, 3), ints(3), tag="scalar-index", **_LINEAR),
    ex("gather", normal(3, 4), ints([1, 1, 2]), attrs={"axis": -1}, tag="negative-axis",
       **_LINEAR),
    ex("gather_grad", normal(2, 3, 2, 3), _IDX_2D, normal(2, 4, 3), attrs={"axis": 1},
       tag="axis1", **_LINEAR),
    ex("gather", normal(2, 4, 3), ints([[0, 3, 3], [1, 1, 2]]),
       attrs={"axis": 1, "batch_dims": 1}, tag="batch-dims", **_LINEAR),
    ex("gather", normal(2, 3, 4, 2), ints([[[0], [2]], [[3], [3]]], "int32"),
       attrs={"axis": 2, "batch_dims": 1}, tag="batch-dims-axis2", **_LINEAR),
    ex("gather", normal(2, 3, 4), ints([[[1, 0], [3, 3], [2, 2]], [[0, 0], [1, 2], [3, 1]]]),
       attrs={"axis": -1, "batch_dims": -1}, tag="batch-dims-2", **_LINEAR),
    ex("gather_grad", normal(2, 3, 2), ints([[0, 3, 3], [1, 1, 2]]), normal(2, 4, 2),
       attrs={"axis": 1, "batch_dims": 1}, tag="batch-dims", **_LINEAR),
    ex("pad", normal(2, 3, 1), attrs={"paddings": [[0, 0], [0, 2], [1, 1]],
                                      "constant_values": 1.5}, tag="value", **_LINEAR),
    ex("tile", normal(1, 2, 3), attrs={"multiples": [3, 1, 2]}, tag="3d", **_LINEAR),
    ex("concat", normal(2, 1), normal(2, 3), normal(2, 2), attrs={"axis": -1},
       wrt=(0, 1, 2), tag="three", **_LINEAR),
    ex("split", normal(3, 6), attrs={"num_or_size_splits": [1, 2, 3], "axis": 1}, out=2,
       tag="three", **_LINEAR),
    ex("split", normal(3, 4), attrs={"num_or_size_splits": [0, 4], "axis": 1}, out=1,
       tag="empty-piece", **_LINEAR),
    ex("squeeze", normal(1, 2, 1, 3), tag="all", **_LINEAR),
    ex("expand_dims", normal(2, 3), attrs={"axis": [-1, 0]}, tag="list", **_LINEAR),
    ex("transpose", normal(2, 3, 4), tag="default-perm", **_LINEAR),
    ex("stack", normal(2, 3), normal(2, 3), attrs={"axis": -1}, wrt=(0, 1), tag="last",
       **_LINEAR),
]
for _e in _MORE_FORMS:
    EXAMPLES[_e.op].append(_e)


def _folded_forms() -> list[Example]:
    """Every form of ``op_forms.py``, as the per-family tests checked them (same points)."""
    out = [ex(op, x, tag="grid") for op, x in F.UNARY.items()]
    out += [ex("gelu", rand(3, 4, low=-4.0, high=4.0), attrs={"approximate": a},
               tag=f"approximate-{a}") for a in (False, True, "tanh", "none")]
    out += [ex(op, tail * np.array([8.0, 15.0, 30.0]), tag=f"tail{tail:+.0f}", atol=1e-9)
            for op in ("softplus", "sigmoid", "elu", "selu", "tanh", "erf")
            for tail in (-1.0, 1.0)]
    out += [ex(op, *F.binary_point(op, sa, sb), wrt=(0, 1), tag=f"{list(sa)}x{list(sb)}")
            for op in F.BINARY for sa, sb in F.SHAPES]
    out += [ex("where", rand(*sc, seed=5) > 0, rand(*sa, seed=1), rand(*sb, seed=2),
               wrt=(1, 2), tag=f"{list(sc)}-{list(sa)}-{list(sb)}")
            for sc, sa, sb in [((2, 3), (2, 3), (2, 3)), ((3, 1), (1, 4), ()),
                               ((4,), (3, 1), (1, 1)), ((2, 1, 4), (3, 1), (4,))]]
    out += [ex("add_n", *[rand(2, 3, seed=i) for i in range(n)], wrt=tuple(range(n)),
               tag=f"n{n}") for n in (1, 2, 3, 5)]
    out.append(ex("cast", rand(3), attrs={"dtype": "float32"}, tag="f32-coarse", eps=1e-2,
                  rtol=1e-4, atol=1e-4))
    out += [ex(op, F.distinct_nonzero(2, 3, 4), attrs={"axis": axis, "keepdims": keep},
               tag=f"axis{axis}-keep{keep}")
            for op in F.REDUCTIONS for axis in F.AXES for keep in (False, True)]
    with_zeros = np.array([[2.0, 0.0, 3.0, 5.0], [0.0, 4.0, 0.0, 7.0], [1.5, 2.0, -1.0, 4.0]])
    out += [ex("prod", with_zeros, attrs={"axis": 1}, tag="zeros", second_order=False),
            ex("prod", with_zeros.T.copy(), attrs={"axis": 0, "keepdims": True},
               tag="zeros-keepdims", second_order=False),
            ex("logsumexp", np.array([[1000.0, 1000.0, 990.0], [-1000.0, -1001.0, -1e4]])
               + rand(2, 3), attrs={"axis": 1}, tag="large")]
    for ta in (False, True):
        for tb in (False, True):
            flags = {"transpose_a": ta, "transpose_b": tb}
            out.append(ex("matmul", rand(*F.stored((3, 2), ta), seed=1),
                          rand(*F.stored((2, 4), tb), seed=2), attrs=flags, wrt=(0, 1),
                          tag=f"t{ta:d}{tb:d}"))
            out += [ex("matmul", rand(*F.stored(sa, ta), seed=1),
                       rand(*F.stored(sb, tb), seed=2), attrs=flags, wrt=(0, 1),
                       tag=f"t{ta:d}{tb:d}-{list(sa)}x{list(sb)}") for sa, sb in F.BATCHED]
    out += [ex("matmul", rand(*sa, seed=1), rand(*sb, seed=2), wrt=(0, 1),
               tag=f"rank1-{list(sa)}x{list(sb)}")
            for sa, sb in [((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)), ((4,), (2, 4, 3)),
                           ((2, 3, 4), (4,))]]
    out += [ex("matmul", rand(4, 3, seed=1), rand(4, seed=2), attrs={"transpose_a": True},
               wrt=(0, 1), tag="rank1-ta"),
            ex("matmul", rand(4, seed=1), rand(3, 4, seed=2), attrs={"transpose_b": True},
               wrt=(0, 1), tag="rank1-tb")]
    for equation, shapes in F.EINSUM_CASES:
        ops = equation.split("->")[0].split(",")
        diagonal = any(len(set(s)) < len(s) for s in ops)
        out.append(ex("einsum", *[rand(*s, seed=i) for i, s in enumerate(shapes)],
                      attrs={"equation": equation}, wrt=tuple(range(len(shapes))),
                      tag=f"grid-{equation}", needs_static=diagonal))
    out += [ex("tensordot", *[rand(*s, seed=i) for i, s in enumerate(shapes)],
               attrs={"axes": axes}, wrt=(0, 1), tag=f"grid-{axes}")
            for axes, shapes in F.TENSORDOT_CASES]
    x3 = rand(3, 4, 5)
    for axis in (0, -1, 1):
        out += [ex("softmax", x3, attrs={"axis": axis}, tag=f"grid-axis{axis}"),
                ex("log_softmax", x3, attrs={"axis": axis}, tag=f"grid-axis{axis}"),
                ex("softmax_cross_entropy_with_logits", F.simplex_on(3, 4, 2, axis=axis),
                   rand(3, 4, 2, seed=1), attrs={"axis": axis}, wrt=(0, 1),
                   tag=f"grid-axis{axis}")]
    xent_labels = rand(3, 4, low=0, high=1)
    # logits: TensorFlow's softmax - labels is no derivative there (test_conventions)
    out += [ex("softmax_cross_entropy_with_logits", np.array([[0.5, 1.0, 0.0]]),
               np.array([[0.2, -0.3, 1.1]]), wrt=(0,), tag="labels-not-summing-to-1"),
            ex("sigmoid_cross_entropy_with_logits", xent_labels, rand(3, 4, seed=3),
               wrt=(0, 1), tag="grid"),
            ex("sigmoid_cross_entropy_with_logits", xent_labels, np.zeros((3, 4)),
               wrt=(0, 1), tag="at-zero"),
            ex("L2Loss", rand(3, 4), tag="alias")]
    x, w = rand(2, 7, 6, 3), rand(3, 2, 3, 4, seed=1)
    for k, (attrs, strides, dilations, same) in enumerate(F.CONV_VARIANTS):
        g = rand(2, *_conv_out(x.shape, strides, dilations, same), 4, seed=2)
        out += [ex("Conv2D", x, w, attrs=attrs, wrt=(0, 1), tag=f"grid{k}"),
                ex("conv2d_backprop_input", g, w, x, attrs=attrs, wrt=(0, 1), tag=f"grid{k}"),
                ex("conv2d_backprop_filter", x, g, w, attrs=attrs, wrt=(0, 1),
                   tag=f"grid{k}")]
    xp = rand(2, 7, 6, 3)
    for k, s, padding in F.POOL_VARIANTS:
        attrs = {"ksize": [1, k, k, 1], "strides": [s, s], "padding": padding}
        tag = f"k{k}s{s}{padding}"
        g = rand(*_pooled(xp.shape, k, s, padding), seed=2)
        out += [ex("max_pool", xp, attrs=attrs, tag=tag),
                ex("avg_pool", xp, attrs=attrs, tag=tag),
                ex("max_pool_grad", xp, g, attrs=attrs, wrt=(1,), tag=tag),
                ex("max_pool_grad_grad", xp, rand(*xp.shape, seed=3), attrs=attrs, wrt=(1,),
                   tag=tag),
                ex("avg_pool_grad", g, xp, attrs=attrs, wrt=(0,), tag=tag)]
    rect = {"ksize": [2, 3], "strides": [1, 2, 3, 1], "padding": "SAME"}
    out += [ex(op, rand(1, 5, 7, 2), attrs=rect, tag="rect") for op in ("MaxPool", "AvgPool")]
    for key, (op, arrays, attrs, k) in F.SHAPE_FORMS.items():
        wrt = tuple(i for i, a in enumerate(arrays) if a.dtype.kind == "f")
        out.append(ex(op, *arrays, attrs=attrs, out=k, wrt=wrt, tag=key))
    return out


def _conv_out(x_shape, strides, dilations, same: bool, kernel=(3, 2)) -> tuple[int, int]:
    """conv2d's output height and width (TensorFlow's SAME / VALID arithmetic)."""
    def dim(n: int, k: int, s: int, d: int) -> int:
        return -(-n // s) if same else (n - (k - 1) * d - 1) // s + 1

    return tuple(dim(x_shape[1 + a], kernel[a], strides[a], dilations[a]) for a in (0, 1))


def _pooled(x_shape, k: int, s: int, padding: str) -> tuple[int, ...]:
    def dim(n: int) -> int:
        return -(-n // s) if padding == "SAME" else (n - k) // s + 1

    return (x_shape[0], dim(x_shape[1]), dim(x_shape[2]), x_shape[3])


for _e in _folded_forms():
    EXAMPLES[registry.get(_e.op).name].append(_e)
EXAMPLES.update(control_flow_examples(ex))
# Last, so that its draws from _RNG leave every example above as it was.
EXAMPLES["softmax_cross_entropy_and_softmax"] = [
    ex("softmax_cross_entropy_and_softmax", simplex(2, 4), normal(2, 4), wrt=(0, 1)),
    ex("softmax_cross_entropy_and_softmax", uniform(0.1, 1.0, 2, 4), normal(2, 4),
       wrt=(0, 1), out=1, tag="backprop-output"),
    ex("softmax_cross_entropy_and_softmax", simplex(3, 4), normal(3, 4), wrt=(0, 1), out=2,
       tag="softmax-output"),
    ex("softmax_cross_entropy_and_softmax", _labels_on_axis1(2, 3, 2), normal(2, 3, 2),
       attrs={"axis": 1}, wrt=(0, 1), out=2, tag="axis1-softmax")]
