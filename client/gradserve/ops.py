"""Op functions for builder tensors, named as in the catalogue (OPS.md, ``GET /ops``).

Each takes tensors (or numbers and arrays, lifted to constants) and the op's attrs as
keywords; ``name=`` names the node. Any other op is ``op("name", *inputs, **attrs)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .graph import Graph, Tensor, graph_of

_UNARY = ("neg", "abs", "sign", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "square",
          "reciprocal", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "relu6", "elu",
          "selu", "softplus", "erf", "floor", "ceil", "round", "identity", "stop_gradient",
          "silu", "logical_not", "zeros_like", "ones_like", "l2_loss")
_BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "squared_difference",
           "atan2", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
           "logical_and", "logical_or", "div_no_nan", "xlogy")
_REDUCE = ("sum", "mean", "max", "min", "prod", "logsumexp", "reduce_euclidean_norm")

__all__ = [*_UNARY, *_BINARY, *_REDUCE, "add_n", "cast", "concat", "expand_dims", "gather",
           "gelu", "leaky_relu", "log_softmax", "matmul", "op", "reshape",
           "sigmoid_cross_entropy_with_logits", "softmax", "softmax_cross_entropy_with_logits",
           "split", "squeeze", "stack",
           "transpose", "where"]


def _graph(*args: Any) -> Graph:
    g = graph_of(*args)
    if g is None:
        raise TypeError("an op needs at least one gradserve Tensor among its inputs")
    return g


def op(op_name: str, /, *inputs: Any, num_outputs: int = 1, **attrs: Any) -> Any:
    """Any op of the catalogue: ``op("cumsum", x, axis=0)``."""
    return _graph(*inputs).op(op_name, *inputs, num_outputs=num_outputs, **attrs)


def _unary(op_name: str) -> Any:
    def f(x: Tensor, name: str | None = None) -> Tensor:
        return op(op_name, x, name=name)
    f.__name__ = f.__qualname__ = op_name
    f.__doc__ = f"``{op_name}`` of one tensor."
    return f


def _binary(op_name: str) -> Any:
    def f(x: Any, y: Any, name: str | None = None) -> Tensor:
        return op(op_name, x, y, name=name)
    f.__name__ = f.__qualname__ = op_name
    f.__doc__ = f"``{op_name}`` of two tensors (numpy broadcasting)."
    return f


def _reduce(op_name: str) -> Any:
    def f(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False,
          name: str | None = None) -> Tensor:
        return op(op_name, x, name=name, axis=_plain(axis), keepdims=keepdims or None)
    f.__name__ = f.__qualname__ = op_name
    f.__doc__ = f"``{op_name}`` over ``axis`` (all axes when None)."
    return f


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


for _n in _UNARY:
    globals()[_n] = _unary(_n)
for _n in _BINARY:
    globals()[_n] = _binary(_n)
for _n in _REDUCE:
    globals()[_n] = _reduce(_n)


def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False,
           name: str | None = None) -> Tensor:
    return op("matmul", a, b, name=name, transpose_a=transpose_a or None,
              transpose_b=transpose_b or None)


def add_n(*xs: Any, name: str | None = None) -> Tensor:
    return op("add_n", *xs, name=name)


def where(condition: Any, x: Any, y: Any, name: str | None = None) -> Tensor:
    return op("where", condition, x, y, name=name)


def cast(x: Tensor, dtype: str, name: str | None = None) -> Tensor:
    return op("cast", x, name=name, dtype=dtype)


def gelu(x: Tensor, approximate: bool = False, name: str | None = None) -> Tensor:
    return op("gelu", x, name=name, approximate=approximate or None)


def leaky_relu(x: Tensor, alpha: float = 0.2, name: str | None = None) -> Tensor:
    return op("leaky_relu", x, name=name, alpha=alpha)


def softmax(x: Tensor, axis: int = -1, name: str | None = None) -> Tensor:
    return op("softmax", x, name=name, axis=axis)


def log_softmax(x: Tensor, axis: int = -1, name: str | None = None) -> Tensor:
    return op("log_softmax", x, name=name, axis=axis)


def softmax_cross_entropy_with_logits(labels: Any, logits: Any, axis: int = -1,
                                      name: str | None = None) -> Tensor:
    """The loss (``name:0``); the op's second output, the backprop, is ``name:1``."""
    loss, _ = op("softmax_cross_entropy_with_logits", labels, logits, num_outputs=2,
                 name=name, axis=axis)
    return loss


def sigmoid_cross_entropy_with_logits(labels: Any, logits: Any, name: str | None = None
                                      ) -> Tensor:
    return op("sigmoid_cross_entropy_with_logits", labels, logits, name=name)


def reshape(x: Tensor, shape: Sequence[int], name: str | None = None) -> Tensor:
    return op("reshape", x, name=name, shape=list(shape))


def transpose(x: Tensor, perm: Sequence[int] | None = None, name: str | None = None
              ) -> Tensor:
    return op("transpose", x, name=name, perm=_plain(perm))


def expand_dims(x: Tensor, axis: int, name: str | None = None) -> Tensor:
    return op("expand_dims", x, name=name, axis=axis)


def squeeze(x: Tensor, axis: int | Sequence[int] | None = None, name: str | None = None
            ) -> Tensor:
    return op("squeeze", x, name=name, axis=_plain(axis))


def concat(xs: Sequence[Any], axis: int = 0, name: str | None = None) -> Tensor:
    return op("concat", *xs, name=name, axis=axis)


def stack(xs: Sequence[Any], axis: int = 0, name: str | None = None) -> Tensor:
    return op("stack", *xs, name=name, axis=axis)


def split(x: Tensor, num_or_size_splits: int | Sequence[int], axis: int = 0,
          name: str | None = None) -> tuple[Tensor, ...]:
    """The pieces, ``name:0`` ... ``name:k``."""
    n = num_or_size_splits if isinstance(num_or_size_splits, int) else len(num_or_size_splits)
    return op("split", x, num_outputs=n, name=name,
              num_or_size_splits=_plain(num_or_size_splits), axis=axis)


def gather(params: Any, indices: Any, axis: int = 0, name: str | None = None) -> Tensor:
    return op("gather", params, indices, name=name, axis=axis)
