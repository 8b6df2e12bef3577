"""matmul's forward for all transposes, broadcast batch dims and rank-1 operands (their
VJPs are examples of the every-op sweep, ``op_forms.py``), spellings and errors."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, GraphError, run

from .gradcheck import rand
from .op_forms import BATCHED, stored


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("shapes", [((3, 2), (2, 4)), *BATCHED], ids=str)
def test_batched_transposed_forward(shapes, ta: bool, tb: bool) -> None:
    a = rand(*stored(shapes[0], ta), seed=1)
    b = rand(*stored(shapes[1], tb), seed=2)
    graph = Graph.build([
        {"name": "a", "op": "placeholder", "shape": list(a.shape), "dtype": "float64"},
        {"name": "b", "op": "placeholder", "shape": list(b.shape), "dtype": "float64"},
        {"name": "y", "op": "matmul", "inputs": ["a", "b"],
         "attrs": {"transpose_a": ta, "transpose_b": tb}}])
    want = np.matmul(np.swapaxes(a, -1, -2) if ta else a, np.swapaxes(b, -1, -2) if tb else b)
    assert graph.node("y").spec.shape == want.shape
    np.testing.assert_allclose(run(graph, ["y"], {"a": a, "b": b})[0], want, rtol=1e-12)


@pytest.mark.parametrize("shapes", [((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((4,), (2, 4, 3)), ((2, 3, 4), (4,))], ids=str)
def test_rank_one_operands(shapes) -> None:
    a, b = rand(*shapes[0], seed=1), rand(*shapes[1], seed=2)
    graph = Graph.build([
        {"name": "a", "op": "placeholder", "shape": list(a.shape), "dtype": "float64"},
        {"name": "b", "op": "placeholder", "shape": list(b.shape), "dtype": "float64"},
        {"name": "y", "op": "matmul", "inputs": ["a", "b"]}])
    want = np.matmul(a, b)
    assert graph.node("y").spec.shape == want.shape
    np.testing.assert_allclose(run(graph, ["y"], {"a": a, "b": b})[0], want)


@pytest.mark.parametrize("spelling", ["MatMul", "mat_mul", "BatchMatMul", "BatchMatMulV2"])
def test_spellings_and_attr_aliases(spelling: str) -> None:
    a, b = rand(2, 3, 4, seed=1), rand(2, 5, 4, seed=2)
    graph = Graph.build([
        {"name": "a", "op": "placeholder", "shape": [2, 3, 4], "dtype": "float64"},
        {"name": "b", "op": "placeholder", "shape": [2, 5, 4], "dtype": "float64"},
        {"name": "y", "op": spelling, "inputs": ["a", "b"], "attrs": {"adj_y": True}}])
    np.testing.assert_allclose(run(graph, ["y"], {"a": a, "b": b})[0],
                               a @ np.swapaxes(b, -1, -2))


def test_inner_dimension_mismatch_names_node() -> None:
    with pytest.raises(GraphError) as info:
        Graph.build([
            {"name": "a", "op": "placeholder", "shape": [2, 3]},
            {"name": "b", "op": "placeholder", "shape": [4, 5]},
            {"name": "y", "op": "matmul", "inputs": ["a", "b"]}])
    assert info.value.node == "y" and info.value.loc[:2] == ("nodes", 2)
    assert "3" in info.value.message and "4" in info.value.message
