"""Graphs with unknown dimensions: specialized to the fed shapes before they run."""
import numpy as np
import pytest

from engine import FeedError, Graph, GraphError, LimitError, cache_stats, compute_gradients
from engine.specialize import dynamic_placeholders, specialize

NODES = [
    {"name": "x", "op": "placeholder", "shape": [None, 3], "dtype": "float64"},
    {"name": "w", "op": "variable", "value": [[1.0], [2.0], [3.0]], "dtype": "float64"},
    {"name": "y", "op": "matmul", "inputs": ["x", "w"]},
    {"name": "s", "op": "mean", "inputs": ["y"]},
]


def test_dynamic_placeholders_and_specialized_shapes():
    g = Graph.build(NODES)
    assert dynamic_placeholders(g) == ("x",)
    s = specialize(g, {"x": (5, 3)})
    assert s.node("x").spec.shape == (5, 3)
    assert s.node("y").spec.shape == (5, 1)
    assert dynamic_placeholders(s) == ()


def test_gradients_follow_each_fed_batch_size():
    g = Graph.build(NODES)
    for n in (2, 5):
        x = np.arange(3 * n, dtype=np.float64).reshape(n, 3)
        dx, dw = compute_gradients(g, {"x": x}, ["s"], ["x", "w"]).gradients
        np.testing.assert_allclose(dx, np.tile([1.0, 2.0, 3.0], (n, 1)) / n)
        np.testing.assert_allclose(dw, x.sum(axis=0, keepdims=True).T / n)


def test_each_shape_signature_is_planned_once():
    g = Graph.build(NODES)
    compute_gradients(g, {"x": np.ones((7, 3))}, ["s"], ["x"])
    misses = cache_stats()["programs"]["misses"]
    compute_gradients(g, {"x": np.zeros((7, 3))}, ["s"], ["x"])
    assert cache_stats()["programs"]["misses"] == misses
    compute_gradients(g, {"x": np.zeros((8, 3))}, ["s"], ["x"])
    assert cache_stats()["programs"]["misses"] == misses + 1


def test_a_feed_of_the_wrong_rank_is_refused_naming_the_placeholder():
    g = Graph.build(NODES)
    with pytest.raises(FeedError) as err:
        compute_gradients(g, {"x": np.ones(3)}, ["s"], ["x"])
    assert err.value.node == "x"


def test_shapes_known_only_at_run_time_are_still_checked_before_running():
    nodes = [{"name": "a", "op": "placeholder", "shape": [None, None], "dtype": "float64"},
             {"name": "b", "op": "placeholder", "shape": [None, 2], "dtype": "float64"},
             {"name": "c", "op": "matmul", "inputs": ["a", "b"]}]
    g = Graph.build(nodes)
    with pytest.raises(GraphError) as err:
        compute_gradients(g, {"a": np.ones((2, 4)), "b": np.ones((3, 2))}, ["c"], ["a"])
    assert err.value.node == "c"


def test_the_element_limit_applies_to_inferred_shapes():
    nodes = [{"name": "a", "op": "placeholder", "shape": [None, 1], "dtype": "float64"},
             {"name": "b", "op": "placeholder", "shape": [1, None], "dtype": "float64"},
             {"name": "outer", "op": "mul", "inputs": ["a", "b"]}]
    g = Graph.build(nodes)
    with pytest.raises(LimitError) as err:
        compute_gradients(g, {"a": np.ones((1000, 1)), "b": np.ones((1, 1000))}, ["outer"],
                          ["a"], max_elements=10_000)
    assert err.value.node == "outer"
