"""matmul's VJP: all transposes, batched with broadcast batch dims, rank-1 operands."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, GraphError, run

from .gradcheck import check_vjp, rand


def _stored(shape: tuple[int, ...], transposed: bool) -> tuple[int, ...]:
    return (*shape[:-2], shape[-1], shape[-2]) if transposed else shape


@pytest.mark.parametrize("dialect", ["tensorflow", "mindspore"])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_transposes(ta: bool, tb: bool, dialect: str) -> None:
    a = rand(*_stored((3, 2), ta), seed=1)
    b = rand(*_stored((2, 4), tb), seed=2)
    check_vjp("matmul", [a, b], {"transpose_a": ta, "transpose_b": tb}, dialect=dialect)


BATCHED = [((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (6, 4, 2)),
           ((6, 3, 4), (4, 2)), ((1, 3, 4), (2, 4, 2))]


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("shapes", BATCHED, ids=str)
def test_batched_broadcast(shapes, ta: bool, tb: bool) -> None:
    a = rand(*_stored(shapes[0], ta), seed=1)
    b = rand(*_stored(shapes[1], tb), seed=2)
    check_vjp("matmul", [a, b], {"transpose_a": ta, "transpose_b": tb})


@pytest.mark.parametrize("shapes", [((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((4,), (2, 4, 3)), ((2, 3, 4), (4,))], ids=str)
def test_rank_one_operands(shapes) -> None:
    a, b = rand(*shapes[0], seed=1), rand(*shapes[1], seed=2)
    check_vjp("matmul", [a, b])
    graph = Graph.build([
        {"name": "a", "op": "placeholder", "shape": list(a.shape), "dtype": "float64"},
        {"name": "b", "op": "placeholder", "shape": list(b.shape), "dtype": "float64"},
        {"name": "y", "op": "matmul", "inputs": ["a", "b"]}])
    want = np.matmul(a, b)
    assert graph.node("y").spec.shape == want.shape
    np.testing.assert_allclose(run(graph, ["y"], {"a": a, "b": b})[0], want)


def test_rank_one_transposed_gradient_with_transpose_flag() -> None:
    check_vjp("matmul", [rand(4, 3, seed=1), rand(4, seed=2)], {"transpose_a": True})
    check_vjp("matmul", [rand(4, seed=1), rand(3, 4, seed=2)], {"transpose_b": True})


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
