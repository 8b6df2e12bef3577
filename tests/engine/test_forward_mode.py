"""Forward mode for every op of the sweep table (``op_examples.py``), so that a new op is
checked as soon as it has an example: the JVP against float64 central differences along
the tangent, and against the VJP through ``<J v, u> = <v, Jᵀ u>``. Plus the points where
a transposed rule could go wrong (TensorFlow's SqrtGrad family at a zero cotangent), an
op's own ``jvp`` rule in a mixed graph, and second order through tangents.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import Graph, Plan, compute_gradients, run
from engine.ops import registry
from engine.transforms import jvp

from .gradcheck import one_op_graph
from .op_examples import DIALECT_RULES, EXAMPLES, NO_GRADIENT, Example


def _params() -> list[Any]:
    out = []
    for name, examples in EXAMPLES.items():
        if name in NO_GRADIENT:
            continue
        dialects = ("tensorflow", "mindspore") if name in DIALECT_RULES else ("tensorflow",)
        out += [pytest.param(e, d, id=f"{e.label}-{d}") for e in examples for d in dialects]
    return out


def _with_tangents(e: Example) -> tuple[Graph, str, list[str], list[str], dict[str, np.ndarray]]:
    graph, y, names = one_op_graph(e.op, e.inputs, e.attrs, e.out)
    rng = np.random.default_rng(3)
    spec = graph.to_spec()
    feeds = dict(zip(names, e.inputs, strict=True))
    tangents = []
    for i in e.wrt:
        t = f"t{i}"
        spec["nodes"].append({"name": t, "op": "placeholder", "shape": list(e.inputs[i].shape),
                              "dtype": e.inputs[i].dtype.name})
        feeds[t] = rng.normal(size=e.inputs[i].shape).astype(e.inputs[i].dtype)
        tangents.append(t)
    return Graph.build(spec["nodes"], names + tangents, [y]), y, names, tangents, feeds


@pytest.mark.parametrize(("e", "dialect"), _params())
def test_jvp_matches_central_differences_and_the_vjp(e: Example, dialect: str) -> None:
    graph, y, names, tangents, feeds = _with_tangents(e)
    xs = [names[i] for i in e.wrt]
    result = jvp(graph, xs, tangents, [y], dialect=dialect)
    (ref,) = result.tangents
    (value,) = run(graph, [y], feeds)
    # None: the tangent is identically zero (sign's rule, say), which the checks test too
    jv = np.zeros_like(value) if ref is None else Plan(result.graph, [ref]).run(feeds)[0]
    assert jv.shape == value.shape and jv.dtype == value.dtype

    def at(sign: float) -> np.ndarray:
        moved = dict(feeds)
        for x, t in zip(xs, tangents, strict=True):
            moved[x] = feeds[x] + sign * e.eps * feeds[t]
        return run(graph, [y], moved)[0]

    numeric = (at(1.0) - at(-1.0)) / (2 * e.eps)
    np.testing.assert_allclose(jv, numeric, rtol=e.rtol * 10, atol=e.atol * 10,
                               err_msg=f"{e.label}: JVP vs central differences")
    u = np.random.default_rng(5).normal(size=value.shape).astype(value.dtype)
    vjps = compute_gradients(graph, feeds, [y], xs, [u], dialect=dialect,
                             unconnected="zero").gradients
    lhs = float(np.sum(jv * u))
    rhs = sum(float(np.sum(feeds[t] * g)) for t, g in zip(tangents, vjps, strict=True))
    rel = 1e-9 if value.dtype == np.float64 else 1e-6  # float32 outputs round on the way
    assert lhs == pytest.approx(rhs, rel=rel, abs=1e-12), f"{e.label}: <Jv,u> != <v,J^T u>"


def _graph(nodes: list[dict[str, Any]], outputs: list[str]) -> Graph:
    return Graph.build(nodes, outputs=outputs)


@pytest.mark.parametrize("op", ["sqrt", "rsqrt", "reciprocal"])
def test_tensorflow_zero_cotangent_rules_where_the_cotangent_cancels(op: str) -> None:
    """y = [s, -s] and a centred s - mean(s): any ones-seeded global cotangent reaching s
    would be exactly 0 there, where SqrtGrad's where(g == 0, 0, ...) is not linear."""
    x = np.array([0.7, 1.3, 2.1])
    v = np.array([0.3, -1.1, 0.5])
    nodes = [{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float64"},
             {"name": "v", "op": "placeholder", "shape": [3], "dtype": "float64"},
             {"name": "s", "op": op, "inputs": ["x"]},
             {"name": "ns", "op": "neg", "inputs": ["s"]},
             {"name": "both", "op": "stack", "inputs": ["s", "ns"]},
             {"name": "m", "op": "mean", "inputs": ["s"], "attrs": {"keepdims": True}},
             {"name": "centred", "op": "sub", "inputs": ["s", "m"]}]
    graph = _graph(nodes, ["both", "centred"])
    result = jvp(graph, ["x"], ["v"], dialect="tensorflow")
    got = Plan(result.graph, list(result.tangents)).run({"x": x, "v": v})
    eps = 1e-6
    plus, minus = (run(graph, ["both", "centred"], {"x": x + s * eps * v}) for s in (1, -1))
    for g, p, m in zip(got, plus, minus, strict=True):
        np.testing.assert_allclose(g, (p - m) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_an_ops_own_jvp_rule_is_used_in_a_mixed_graph() -> None:
    """An op declaring ``jvp`` gets it; its neighbours get their transposed VJPs."""
    calls = []

    def tanh_jvp(c: Any) -> list[Any]:
        calls.append(c.node.name)
        return [c.da * (1.0 - c.out * c.out)]

    opdef = registry.get("tanh")
    had = "jvp" in vars(opdef)
    old = vars(opdef).get("jvp")
    object.__setattr__(opdef, "jvp", tanh_jvp)
    try:
        nodes = [{"name": "x", "op": "placeholder", "shape": [2, 3], "dtype": "float64"},
                 {"name": "w", "op": "placeholder", "shape": [3, 2], "dtype": "float64"},
                 {"name": "t", "op": "placeholder", "shape": [2, 3], "dtype": "float64"},
                 {"name": "h", "op": "matmul", "inputs": ["x", "w"]},
                 {"name": "a", "op": "tanh", "inputs": ["h"]},
                 {"name": "y", "op": "sum", "inputs": ["a"], "attrs": {"axis": 1}}]
        graph = _graph(nodes, ["y"])
        result = jvp(graph, ["x"], ["t"])
    finally:
        if had:
            object.__setattr__(opdef, "jvp", old)
        else:
            object.__delattr__(opdef, "jvp")
    assert calls == ["a"]
    rng = np.random.default_rng(0)
    feeds = {"x": rng.normal(size=(2, 3)), "w": rng.normal(size=(3, 2)),
             "t": rng.normal(size=(2, 3))}
    (got,) = Plan(result.graph, list(result.tangents)).run(feeds)
    want = np.sum((1 - np.tanh(feeds["x"] @ feeds["w"]) ** 2) * (feeds["t"] @ feeds["w"]), 1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_second_order_through_tangents() -> None:
    """The tangent graph is differentiable: d/dx <Jv, u> by reverse mode = H-type term."""
    nodes = [{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float64"},
             {"name": "v", "op": "placeholder", "shape": [3], "dtype": "float64"},
             {"name": "e", "op": "exp", "inputs": ["x"]},
             {"name": "y", "op": "sum", "inputs": ["e"]}]
    graph = _graph(nodes, ["y"])
    tangents = jvp(graph, ["x"], ["v"])
    x, v = np.array([0.1, -0.4, 0.8]), np.array([1.0, 2.0, -1.0])
    first = Graph.build(**tangents.graph.to_spec())
    (hv,) = compute_gradients(first, {"x": x, "v": v}, [tangents.names[0]], ["x"]).gradients
    np.testing.assert_allclose(hv, np.exp(x) * v, rtol=1e-12)
    twice = jvp(tangents.graph, ["x"], ["v"], [tangents.tangents[0]])
    (second,) = Plan(twice.graph, list(twice.tangents)).run({"x": x, "v": v})
    assert second == pytest.approx(float(np.sum(np.exp(x) * v * v)))
