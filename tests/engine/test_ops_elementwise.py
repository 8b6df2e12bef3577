"""Every elementwise op's VJP against float64 central differences, away from kinks."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, compute_gradients, run

from .gradcheck import check_vjp, one_op_graph, rand

# op -> a float64 point inside its domain, away from kinks and poles
POSITIVE = rand(3, 4, low=0.3, high=2.0)
AWAY_FROM_ZERO = np.where(rand(3, 4, seed=3) >= 0, 1.0, -1.0) * rand(3, 4, low=0.2, high=2.0)
UNARY = {
    "neg": rand(3, 4), "abs": AWAY_FROM_ZERO, "exp": rand(3, 4), "expm1": rand(3, 4),
    "log": POSITIVE, "log1p": rand(3, 4, low=-0.7, high=2.0), "sqrt": POSITIVE,
    "rsqrt": POSITIVE, "square": rand(3, 4), "reciprocal": AWAY_FROM_ZERO,
    "sin": rand(3, 4), "cos": rand(3, 4), "tan": rand(3, 4, low=-1.2, high=1.2),
    "tanh": rand(3, 4), "sigmoid": rand(3, 4), "relu": AWAY_FROM_ZERO,
    "relu6": rand(3, 4, low=-3.0, high=8.0) + 0.37, "elu": AWAY_FROM_ZERO,
    "selu": AWAY_FROM_ZERO, "softplus": rand(3, 4), "erf": rand(3, 4),
    "identity": rand(3, 4),
}


@pytest.mark.parametrize("dialect", ["tensorflow", "mindspore"])
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(op: str, dialect: str) -> None:
    check_vjp(op, [UNARY[op]], dialect=dialect)


@pytest.mark.parametrize("approximate", [False, True, "tanh", "none"])
def test_gelu_both_forms(approximate: object) -> None:
    check_vjp("gelu", [rand(3, 4, low=-4.0, high=4.0)], {"approximate": approximate})


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
    """Far out on each tail the forward and gradient stay finite and right."""
    x = tail * np.array([8.0, 15.0, 30.0])
    check_vjp(op, [x], rtol=1e-5, atol=1e-9)
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


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "squared_difference",
          "atan2"]
SHAPES = [((3, 1), (1, 4)), ((), (3, 4)), ((3, 4), ()), ((2, 3), (3,)), ((3,), (2, 3)),
          ((2, 3), (2, 3))]


def _binary_point(op: str, sa: tuple[int, ...], sb: tuple[int, ...]):
    a, b = rand(*sa, seed=1), rand(*sb, seed=2)
    if op == "pow":  # a positive base; any exponent
        a = rand(*sa, seed=1, low=0.5, high=2.0)
    if op == "div":
        b = AWAY_FROM_ZERO.reshape(-1)[: b.size].reshape(sb)
    if op in ("maximum", "minimum"):  # no ties
        b = a.mean() + 0.5 + b if a.size == 1 else b
    return a, b


@pytest.mark.parametrize("dialect", ["tensorflow", "mindspore"])
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{list(s[0])}x{list(s[1])}")
@pytest.mark.parametrize("op", BINARY)
def test_binary_broadcasting(op: str, shapes, dialect: str) -> None:
    check_vjp(op, list(_binary_point(op, *shapes)), dialect=dialect)


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3), (2, 3)), ((3, 1), (1, 4), ()),
                                    ((4,), (3, 1), (1, 1)), ((2, 1, 4), (3, 1), (4,))])
def test_where_broadcasting(shapes) -> None:
    sc, sa, sb = shapes
    cond = rand(*sc, seed=5) > 0
    check_vjp("where", [cond, rand(*sa, seed=1), rand(*sb, seed=2)], wrt=[1, 2])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_add_n(n: int) -> None:
    check_vjp("add_n", [rand(2, 3, seed=i) for i in range(n)])


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
    check_vjp("cast", [rand(3)], {"dtype": "float32"}, eps=1e-2, rtol=1e-4, atol=1e-4)


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
