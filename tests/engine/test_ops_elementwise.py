"""Elementwise ops at their awkward points: forward values, tails, dtypes.

The VJP of every form (each op at a point in its domain, every broadcast pair of the
binary ops, gelu's forms, the tails) is checked by the every-op sweep: ``op_forms.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, compute_gradients, run

from .gradcheck import one_op_graph, rand
from .op_forms import UNARY


def test_gelu_forms_differ_and_default_is_erf() -> None:
    x = rand(7, low=-3.0, high=3.0)
    exact = _forward("gelu", [x], {})
    tanh_form = _forward("gelu", [x], {"approximate": True})
    from math import erf, sqrt

    np.testing.assert_allclose(exact, [0.5 * v * (1 + erf(v / sqrt(2))) for v in x],
                               rtol=1e-12)
    assert not np.allclose(exact, tanh_form, rtol=1e-6, atol=0)


@pytest.mark.parametrize("op", ["softplus", "sigmoid", "elu", "selu", "tanh", "erf"])
@pytest.mark.parametrize("tail", [-1.0, 1.0])
def test_tails(op: str, tail: float) -> None:
    """Far out on each tail the forward and gradient stay finite (and right: the sweep's
    tail examples check the gradient at 8, 15, 30)."""
    for big in (tail * 100.0, tail * 800.0):
        value, grad = _value_and_grad(op, np.array([big]))
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), (op, big)


def test_tail_values() -> None:
    value, grad = _value_and_grad("softplus", np.array([-800.0, 800.0]))
    np.testing.assert_allclose(value, [0.0, 800.0], atol=1e-300)
    np.testing.assert_allclose(grad, [0.0, 1.0])
    value, grad = _value_and_grad("sigmoid", np.array([-800.0, 800.0], np.float32))
    np.testing.assert_array_equal(value, np.array([0.0, 1.0], np.float32))
    np.testing.assert_array_equal(grad, np.array([0.0, 0.0], np.float32))
    value, _ = _value_and_grad("selu", np.array([-800.0]))
    np.testing.assert_allclose(value, [-1.7580993408473766])


def test_cast_round_trip() -> None:
    nodes = [{"name": "x", "op": "placeholder", "shape": [4], "dtype": "float64"},
             {"name": "s", "op": "cast", "inputs": ["x"], "attrs": {"dtype": "float32"}},
             {"name": "d", "op": "cast", "inputs": ["s"], "attrs": {"DstT": "float64"}},
             {"name": "y", "op": "mul", "inputs": ["d", "d"]}]
    graph = Graph.build(nodes)
    assert graph.node("s").spec.dtype == "float32" and graph.node("d").spec.dtype == "float64"
    x = np.array([0.1, -1.3, 2.5, 1 / 3])
    (dx,) = compute_gradients(graph, {"x": x}, ["y"], ["x"]).gradients
    assert dx.dtype == np.float64
    through32 = x.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(dx, 2 * through32)


def test_float32_stays_float32() -> None:
    x = rand(3, 4).astype(np.float32)
    for op in sorted(UNARY):
        value, grad = _value_and_grad(op, x)
        assert value.dtype == np.float32 and grad.dtype == np.float32, op


def _forward(op: str, arrays, attrs) -> np.ndarray:
    graph, y, names = one_op_graph(op, arrays, attrs)
    return run(graph, [y], dict(zip(names, arrays, strict=True)))[0]


def _value_and_grad(op: str, x: np.ndarray):
    graph, y, (name,) = one_op_graph(op, [x], {})
    out = compute_gradients(graph, {name: x}, [y], [name], return_values=True)
    return out.values[0], out.gradients[0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32"])
def test_relu_against_zeros_is_maximum_with_a_scalar(dtype: str) -> None:
    """The relu kernel of a static shape takes the max against an array of zeros: the same
    bits as numpy's max against a scalar 0 (NaN, -0 and the infinities included), and the
    scalar still for an array not of the bound shape or dtype."""
    from engine.ops import registry
    from engine.ops.registry import TensorSpec

    special = [-0.0, 0.0, np.nan, np.inf, -np.inf, -1.5, 2.5, 1e-40, -1e-40]
    values = np.resize(np.array(special if dtype.startswith("float") else [-3, 0, 4, -1]),
                       (17, 9)).astype(dtype)
    relu = registry.get("relu").bind({}, (TensorSpec((17, 9), dtype),))
    want = np.maximum(values, values.dtype.type(0))
    got = relu(values)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    planned = run(Graph.build([{"name": "x", "op": "placeholder", "shape": [17, 9],
                                "dtype": dtype}, {"name": "r", "op": "relu", "inputs": ["x"]}]),
                  ["r"], {"x": values})[0]
    assert planned.tobytes() == want.tobytes()
    for other in (values[:3], values.astype("float64" if dtype != "float64" else "float32")):
        assert relu(other).tobytes() == np.maximum(other, other.dtype.type(0)).tobytes()
