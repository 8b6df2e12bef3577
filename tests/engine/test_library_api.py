"""The engine as a library: the README's example, kept here verbatim so that it cannot rot."""
from __future__ import annotations

import numpy as np


def test_readme_example() -> None:
    # --- README example (verbatim) ---------------------------------------------------------
    import numpy as np

    from engine import Graph, GraphBuilder, compute_gradients, fn, grad_operation, gradients, run

    b = GraphBuilder()
    x = b.placeholder("x", [2, 3])
    w = b.variable("w", np.full((3, 2), 0.5, np.float32))
    loss = fn.sum(fn.tanh(x @ w) * 2.0)
    graph = b.finish(outputs=[loss])                       # an immutable, validated Graph
    feeds = {"x": np.ones((2, 3), np.float32)}
    dx, dw = compute_gradients(graph, feeds, [loss.name], ["x", "w"]).gradients
    grads = gradients(graph, [loss.name], ["x", "w"])     # the graph plus gradient nodes
    assert np.array_equal(run(grads.graph, grads.names, feeds)[1], dw)
    ms = grad_operation(graph, get_all=True, get_by_list=True)   # MindSpore's nesting
    (ms_dx,), (ms_dw,) = ms.nest(run(ms.graph, ms.names, feeds))
    same = Graph.build(**graph.to_spec())                  # descriptions round-trip
    # --- end of the README example -----------------------------------------------------------

    t = np.tanh(1.5)
    np.testing.assert_allclose(dx, np.full((2, 3), 2 * (1 - t * t)), rtol=1e-6)
    np.testing.assert_allclose(dw, np.full((3, 2), 4 * (1 - t * t)), rtol=1e-6)
    np.testing.assert_array_equal(ms_dx, dx)
    np.testing.assert_array_equal(ms_dw, dw)
    assert same.key == graph.key


def test_builder_arithmetic_matches_numpy() -> None:
    from engine import GraphBuilder, fn, run

    b = GraphBuilder()
    x = b.placeholder("x", [3], "float64")
    y = (2.0 - x) * x / (x + 3.0) ** 2.0 + (-x) @ x
    z = fn.reduce_mean(fn.maximum(y, x), axis=0, keepdims=True)
    graph = b.finish(outputs=[y, z])
    xv = np.array([0.5, -1.0, 2.0])
    yv, zv = run(graph, [y.name, z.name], {"x": xv})
    want = (2.0 - xv) * xv / (xv + 3.0) ** 2.0 + (-xv) @ xv
    np.testing.assert_allclose(yv, want)
    np.testing.assert_allclose(zv, [np.maximum(want, xv).mean()])


def test_public_names() -> None:
    import engine

    for name in ("Graph", "GraphBuilder", "fn", "gradients", "grad_operation", "run",
                 "compute_gradients", "compute_grad_operation", "EngineError", "GraphError"):
        assert hasattr(engine, name), name


def test_a_builder_on_a_graph_indexes_every_node_and_keeps_a_finished_graph_as_it_was() -> None:
    """A builder on a base graph hands its index of all the nodes to the graph it finishes
    and goes on with its own: nodes added after ``finish`` are not in that graph."""
    from engine import Graph, GraphBuilder, fn

    base = Graph.build([{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
                        {"name": "y", "op": "sin", "inputs": ["x"]}])
    b = GraphBuilder(base, prefix="g")
    first = b.finish(outputs=[fn.cos(b.tensor("y"))])
    second = b.finish(outputs=[fn.exp(b.tensor(first.outputs[0][0]))])
    for graph in (first, second):
        assert graph.by_name == {n.name: n for n in graph.nodes}
    assert len(first.nodes) == 3 and len(second.nodes) == 4
    assert base.by_name.keys() == {"x", "y"}


def test_a_builders_fresh_names_avoid_the_bases_and_those_claimed() -> None:
    """A fresh name is never a base node's, nor one claimed by a node that then failed."""
    import pytest

    from engine import Graph, GraphBuilder, GraphError, fn

    base = Graph.build([{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
                        {"name": "g/cos_4", "op": "cos", "inputs": ["x"]}])
    b = GraphBuilder(base, prefix="g")
    x = b.tensor("x")
    first = fn.sin(x).name
    with pytest.raises(GraphError):
        b.emit("sum", [x], {"axis": 5}, name="g/sin_1")  # claims the name, then fails
    names = [first, fn.sin(x).name, fn.cos(x).name, fn.cos(x).name]
    assert names == ["g/sin_0", "g/sin_2", "g/cos_3", "g/cos_5"]
