"""engine.simplify: each rewrite fires and keeps values; over every op's example the
simplified gradient graph gives the unsimplified one's answers (and that one is checked
against central differences in test_every_op)."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, Plan, compute_gradients, gradients
from engine.simplify import simplify

from .op_examples import Example
from .test_every_op import _feeds, _params, _weighted_sum_graph

X = np.array([0.5, -1.5, 2.0, np.nan, np.inf])


def _graph(*nodes: dict) -> Graph:
    return Graph.build([{"name": "x", "op": "placeholder", "shape": [5], "dtype": "float64"},
                        *nodes])


def _check(graph: Graph, out: str) -> Graph:
    """Simplify everything but x; the value of ``out`` is unchanged (NaN/inf included)."""
    ref = (out, 0)
    simple, renamed = simplify(graph, [ref], protected={"x"})
    before = Plan(graph, [ref]).run({"x": X})[0]
    after = Plan(simple, [renamed[ref]]).run({"x": X})[0]
    np.testing.assert_array_equal(after, before)
    return simple


def test_times_one_is_dropped() -> None:
    g = _check(_graph({"name": "one", "op": "fill", "attrs": {"shape": [5], "value": 1.0,
                                                              "dtype": "float64"}},
                      {"name": "p", "op": "mul", "inputs": ["one", "x"]},
                      {"name": "y", "op": "sin", "inputs": ["p"]}), "y")
    assert [n.op for n in g.nodes] == ["placeholder", "sin"]


def test_times_one_that_broadcasts_is_kept() -> None:
    g = _graph({"name": "one", "op": "fill", "attrs": {"shape": [2, 5], "value": 1.0,
                                                       "dtype": "float64"}},
               {"name": "p", "op": "mul", "inputs": ["x", "one"]},
               {"name": "y", "op": "sin", "inputs": ["p"]})
    assert "mul" in [n.op for n in _check(g, "y").nodes]


def test_identity_is_dropped() -> None:
    g = _check(_graph({"name": "i", "op": "identity", "inputs": ["x"]},
                      {"name": "y", "op": "sin", "inputs": ["i"]}), "y")
    assert [n.op for n in g.nodes] == ["placeholder", "sin"]


def test_common_subexpressions_are_shared() -> None:
    g = _check(_graph({"name": "a", "op": "sin", "inputs": ["x"]},
                      {"name": "b", "op": "sin", "inputs": ["x"]},
                      {"name": "y", "op": "add", "inputs": ["a", "b"]}), "y")
    assert [n.op for n in g.nodes] == ["placeholder", "sin", "add"]


def test_constants_fold() -> None:
    g = _check(_graph({"name": "c", "op": "constant", "value": 3.0, "dtype": "float64"},
                      {"name": "one", "op": "constant", "value": 1.0, "dtype": "float64"},
                      {"name": "e", "op": "sub", "inputs": ["c", "one"]},
                      {"name": "y", "op": "pow", "inputs": ["x", "e"]}), "y")
    assert g.node("e").op == "constant" and g.node("e").value == 2.0


def test_dead_nodes_are_removed_but_protected_ones_kept() -> None:
    graph = _graph({"name": "dead", "op": "cos", "inputs": ["x"]},
                   {"name": "y", "op": "sin", "inputs": ["x"]})
    assert "dead" not in _check(graph, "y").by_name
    kept, _ = simplify(graph, [("y", 0)], protected={"x", "dead"})
    assert "dead" in kept.by_name


def test_returned_gradient_of_cube_has_no_dead_nodes() -> None:
    """d(x**3)/dx: the exponent's gradient is not asked for and must not be returned."""
    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float64"},
                     {"name": "c", "op": "constant", "value": 3.0, "dtype": "float64"},
                     {"name": "y", "op": "pow", "inputs": ["x", "c"]}])
    x = np.array([1.0, -2.0, 3.0])
    out = compute_gradients(g, {"x": x}, ["y"], ["x"], return_graph=True)
    np.testing.assert_allclose(out.gradients[0], 3 * x**2)
    assert out.graph is not None and out.gradient_nodes is not None
    assert len(out.graph) <= 7
    needed = {out.gradient_nodes[0]}
    for n in reversed(out.graph.nodes):
        if n.name in needed:
            needed.update(r[0] for r in n.inputs)
    assert needed | set(g.by_name) == set(out.graph.by_name)


@pytest.mark.parametrize(("e", "dialect"), _params(differentiable=True, both_dialects=True))
def test_every_op_same_gradients_simplified(e: Example, dialect: str) -> None:
    graph, names = _weighted_sum_graph(e)
    feeds = _feeds(e, names)
    xs = [names[i] for i in e.wrt]
    if any(d is None for n in graph.nodes for s in n.outputs for d in s.shape):
        pytest.skip("unknown dimensions: compute_gradients specializes first")
    result = gradients(graph, ["loss"], xs, dialect=dialect)
    grads = [g for g in result.grads if g is not None]
    simple, renamed = simplify(result.graph, grads, protected=graph.by_name)
    before = Plan(result.graph, grads).run(feeds)
    after = Plan(simple, [renamed[g] for g in grads]).run(feeds)
    assert len(simple) <= len(result.graph)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)
