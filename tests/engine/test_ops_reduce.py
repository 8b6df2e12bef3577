"""Reductions at their awkward points: ties, zeros, large values, integer dtypes, unknown
dimensions. Every axis / keepdims form's VJP is an example of the every-op sweep."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, compute_gradients, run

from .op_forms import REDUCTIONS, distinct_nonzero


@pytest.mark.parametrize("op", REDUCTIONS)
def test_aliases_and_keep_dims_spelling(op: str) -> None:
    x = distinct_nonzero(2, 3)
    a = _eval(f"reduce_{op}", x, {"axis": 1, "keep_dims": True})
    b = _eval(op, x, {"axis": [1], "keepdims": True})
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 1)


def test_values_match_numpy() -> None:
    x = distinct_nonzero(2, 3, 4)
    for op, fn in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
                   ("prod", np.prod)):
        np.testing.assert_allclose(_eval(op, x, {"axis": [0, 2]}), fn(x, axis=(0, 2)))
    want = np.log(np.sum(np.exp(x), axis=1))
    np.testing.assert_allclose(_eval("logsumexp", x, {"axis": 1}), want)


def _grad(op: str, x: np.ndarray, attrs: dict, g: np.ndarray | None = None) -> np.ndarray:
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": list(x.shape), "dtype": x.dtype.name},
        {"name": "r", "op": op, "inputs": ["x"], "attrs": attrs}])
    gys = None if g is None else [g]
    return compute_gradients(graph, {"x": x}, ["r"], ["x"], gys).gradients[0]


def _eval(op: str, x: np.ndarray, attrs: dict) -> np.ndarray:
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": list(x.shape), "dtype": x.dtype.name},
        {"name": "r", "op": op, "inputs": ["x"], "attrs": attrs}])
    return run(graph, ["r"], {"x": x})[0]


@pytest.mark.parametrize("op", ["max", "min"])
def test_ties_share_equally(op: str) -> None:
    s = 1.0 if op == "max" else -1.0
    x = s * np.array([[2.0, 2.0, 1.0, 2.0], [5.0, 5.0, 0.0, 1.0]])
    got = _grad(op, x, {"axis": 1}, np.array([3.0, 4.0]))
    np.testing.assert_array_equal(got, [[1.0, 1.0, 0.0, 1.0], [2.0, 2.0, 0.0, 0.0]])
    got = _grad(op, x, {"axis": None})
    np.testing.assert_array_equal(got, [[0, 0, 0, 0], [0.5, 0.5, 0, 0]])


def test_prod_with_zeros() -> None:
    x = np.array([[2.0, 0.0, 3.0, 5.0],    # one zero: only the zero gets a gradient
                  [0.0, 4.0, 0.0, 7.0],    # two zeros: every gradient is 0
                  [1.5, 2.0, -1.0, 4.0]])  # no zero
    got = _grad("prod", x, {"axis": 1}, np.array([1.0, 2.0, -1.0]))
    np.testing.assert_array_equal(got, [[0.0, 30.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0],
                                        [8.0, 6.0, -12.0, 3.0]])


def test_logsumexp_large_values() -> None:
    x = np.array([[1000.0, 1000.0, 990.0], [-1000.0, -1001.0, -1e4]])
    value = _eval("logsumexp", x, {"axis": 1})
    e = np.exp(-10.0)
    np.testing.assert_allclose(value, [1000.0 + np.log(2 + e), -1000.0 + np.log1p(np.exp(-1))])
    grad = _grad("logsumexp", x, {"axis": 1})
    np.testing.assert_allclose(grad, [[1 / (2 + e), 1 / (2 + e), e / (2 + e)],
                                      [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0]])
    f32 = x.astype(np.float32)
    assert np.all(np.isfinite(_grad("logsumexp", f32, {"axis": 1})))


def test_mean_counts_reduced_elements_only() -> None:
    x = distinct_nonzero(2, 3, 4)
    np.testing.assert_allclose(_grad("mean", x, {"axis": [0, 2]}), np.full(x.shape, 1 / 8))
    np.testing.assert_allclose(_grad("mean", x, {"axis": None}), np.full(x.shape, 1 / 24))


def test_integer_reductions_keep_dtype() -> None:
    x = np.array([[1, 2, 3], [4, 5, 7]], np.int32)
    for op in ("sum", "mean", "max", "min", "prod"):
        assert _eval(op, x, {"axis": 1}).dtype == np.int32, op
    np.testing.assert_array_equal(_eval("mean", x, {"axis": 1}), [2, 5])


def test_unknown_dimension_mean() -> None:
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [None, 3], "dtype": "float64"},
        {"name": "r", "op": "mean", "inputs": ["x"], "attrs": {"axis": 0}}])
    x = distinct_nonzero(4, 3)
    (dx,) = compute_gradients(graph, {"x": x}, ["r"], ["x"]).gradients
    np.testing.assert_allclose(dx, np.full((4, 3), 0.25))


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32"])
def test_direct_sum_and_mean_are_the_generic_kernels(op: str, dtype: str) -> None:
    """sum's and mean's lean runs give the generic reducer's array (dtype, shape, bits;
    an ndarray, 0-d for a full reduction), on the bound shape and on another one."""
    from engine.ops import reduce as reductions
    from engine.ops import registry
    from engine.ops.registry import TensorSpec

    reducer = {"sum": lambda x, a, k: x.sum(axis=a, keepdims=k, dtype=x.dtype),
               "mean": reductions._mean}[op]
    rng = np.random.default_rng(3)
    for shape in [(), (7,), (64, 10), (3, 4, 5)]:
        x = (rng.standard_normal(shape) * 10).astype(dtype)
        for axis in [None, *range(len(shape)), [0, len(shape) - 1] if len(shape) > 1 else None]:
            for keep in (False, True):
                attrs = {"axis": axis, "keepdims": keep}
                run_ = registry.get(op).bind(attrs, (TensorSpec(shape, dtype),))
                axes = reductions._axes(attrs, len(shape))
                for arr in (x, x[..., :1] if shape else x):
                    want = np.asarray(reducer(arr, axes, keep)).astype(arr.dtype, copy=False)
                    got = run_(arr)
                    assert type(got) is np.ndarray, (shape, axis, keep)
                    assert (got.dtype, got.shape) == (want.dtype, want.shape)
                    assert got.tobytes() == want.tobytes(), (shape, axis, keep)


@pytest.mark.parametrize(("op", "dtype", "identity"), [
    ("max", "float32", -np.inf), ("min", "float64", np.inf),
    ("max", "int32", np.iinfo(np.int32).min), ("min", "int64", np.iinfo(np.int64).max),
    ("logsumexp", "float64", -np.inf)])
def test_over_no_elements_the_identity(op: str, dtype: str, identity: float) -> None:
    """TensorFlow's answer (and ONNX's) where numpy refuses: max of nothing is the lowest
    value; logsumexp's log(0) = -inf. Its gradient is as empty as its input."""
    x = np.zeros((2, 0, 3), dtype)
    got = _eval(op, x, {"axis": [1]})
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, np.full((2, 3), identity, dtype))
    if dtype.startswith("float"):
        assert _grad(op, x, {"axis": [1]}).shape == x.shape
