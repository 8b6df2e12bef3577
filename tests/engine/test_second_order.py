"""Gradients of gradients: Hessian-vector products against finite differences."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .gradcheck import check_second_order, rand


def _x(shape: list[int]) -> dict[str, Any]:
    return {"name": "x", "op": "placeholder", "shape": shape, "dtype": "float64"}


@pytest.mark.parametrize("dialect", ["tensorflow", "mindspore"])
@pytest.mark.parametrize("op", ["tanh", "sigmoid", "exp", "sin", "softplus", "erf", "elu",
                                "selu", "gelu", "log1p", "sqrt", "rsqrt", "reciprocal"])
def test_unary_hvp(op: str, dialect: str) -> None:
    x = rand(5, low=0.3, high=2.0) if op in ("sqrt", "rsqrt", "reciprocal") else rand(5)
    nodes = [_x([5]), {"name": "t", "op": op, "inputs": ["x"]},
             {"name": "y", "op": "sum", "inputs": ["t"]}]
    check_second_order(nodes, {"x": x}, "y", "x", dialect=dialect, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["mul", "div", "pow", "atan2", "squared_difference"])
def test_binary_hvp(op: str) -> None:
    w = rand(3, seed=4, low=0.5, high=1.5)
    nodes = [_x([3]), {"name": "w", "op": "constant", "value": w, "dtype": "float64"},
             {"name": "xp", "op": "exp", "inputs": ["x"]},
             {"name": "t", "op": op, "inputs": ["xp", "w"]},
             {"name": "u", "op": op, "inputs": ["w", "xp"]},
             {"name": "s", "op": "add", "inputs": ["t", "u"]},
             {"name": "y", "op": "sum", "inputs": ["s"]}]
    check_second_order(nodes, {"x": rand(3, low=-0.5, high=0.5)}, "y", "x", atol=1e-6)


@pytest.mark.parametrize("op", ["sum", "mean", "prod", "logsumexp", "max"])
def test_reduction_hvp(op: str) -> None:
    nodes = [_x([3, 4]), {"name": "t", "op": "tanh", "inputs": ["x"]},
             {"name": "s", "op": "square", "inputs": ["t"]},
             {"name": "r", "op": op, "inputs": ["s"], "attrs": {"axis": 1}},
             {"name": "q", "op": "sin", "inputs": ["r"]},
             {"name": "y", "op": "sum", "inputs": ["q"]}]
    x = rand(3, 4, low=0.2, high=1.5) * np.array([1, -1, 1, -1])[None]
    check_second_order(nodes, {"x": x + 0.01 * np.arange(12).reshape(3, 4)}, "y", "x",
                       atol=1e-6)


def test_matmul_chain_hvp() -> None:
    """sum(tanh(x @ W1) @ W2), for x and for W1."""
    w1, w2 = rand(3, 4, seed=5), rand(4, 2, seed=6)
    nodes = [_x([2, 3]),
             {"name": "W1", "op": "placeholder", "shape": [3, 4], "dtype": "float64"},
             {"name": "W2", "op": "constant", "value": w2, "dtype": "float64"},
             {"name": "h", "op": "matmul", "inputs": ["x", "W1"]},
             {"name": "a", "op": "tanh", "inputs": ["h"]},
             {"name": "o", "op": "matmul", "inputs": ["a", "W2"]},
             {"name": "y", "op": "sum", "inputs": ["o"]}]
    feeds = {"x": rand(2, 3, seed=7), "W1": w1}
    check_second_order(nodes, feeds, "y", "x")
    check_second_order(nodes, feeds, "y", "W1")


def test_batched_transposed_matmul_hvp() -> None:
    nodes = [_x([2, 4, 3]),
             {"name": "b", "op": "constant", "value": rand(4, 5, seed=3), "dtype": "float64"},
             {"name": "m", "op": "matmul", "inputs": ["x", "b"],
              "attrs": {"transpose_a": True}},
             {"name": "s", "op": "square", "inputs": ["m"]},
             {"name": "y", "op": "sum", "inputs": ["s"]}]
    check_second_order(nodes, {"x": rand(2, 4, 3)}, "y", "x")


def test_broadcast_hvp() -> None:
    nodes = [_x([3, 1]), {"name": "b", "op": "constant", "value": rand(1, 4, seed=2),
                          "dtype": "float64"},
             {"name": "p", "op": "mul", "inputs": ["x", "b"]},
             {"name": "t", "op": "tanh", "inputs": ["p"]},
             {"name": "y", "op": "sum", "inputs": ["t"]}]
    check_second_order(nodes, {"x": rand(3, 1)}, "y", "x")
