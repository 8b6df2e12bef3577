"""The v2 ops (OPS.md "v2: more ops"): forward values against plain numpy written out
here (loops where a loop says it best), and the refusals. Their gradients, second order,
forward mode and batching are the every-op sweep's (``op_examples.py``); their kinks the
recorded peer cases' (``tests/peers/cases/v2_ops_*.json``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import EngineError, Graph, GraphError, run

from .gradcheck import one_op_graph, rand


def _forward(op: str, arrays: list[np.ndarray], attrs: dict[str, Any] | None = None,
             out: int = 0) -> np.ndarray:
    graph, y, names = one_op_graph(op, arrays, attrs, out)
    return run(graph, [y], dict(zip(names, arrays, strict=True)))[0]


def test_guarded_division_and_logarithms() -> None:
    x = np.array([0.0, 2.0, -3.0, np.nan, 0.0])
    y = np.array([0.0, 0.0, 2.0, 0.0, -1.0])
    np.testing.assert_array_equal(_forward("div_no_nan", [x, y]), [0, 0, -1.5, 0, 0])
    np.testing.assert_array_equal(_forward("mul_no_nan", [np.array([np.inf, 2.0]),
                                                          np.array([0.0, 3.0])]), [0, 6])
    np.testing.assert_array_equal(_forward("xlogy", [np.array([0.0, 0.0, 2.0]),
                                                     np.array([0.0, -1.0, np.e])]), [0, 0, 2])
    np.testing.assert_allclose(_forward("xlog1py", [np.array([0.0, 3.0]),
                                                    np.array([-1.0, 1.0])]), [0, 3 * np.log(2)])
    np.testing.assert_array_equal(_forward("xdivy", [np.array([0.0, 3.0]),
                                                     np.array([0.0, 2.0])]), [0, 1.5])


def test_floor_division_follows_python() -> None:
    a, b = [7.0, -7.5, 5.0, -5.0], [2.0, 2.0, -3.0, -3.0]
    x, y = np.array(a), np.array(b)
    np.testing.assert_array_equal(_forward("floor_div", [x, y]), [p // q for p, q in zip(a, b)])
    np.testing.assert_array_equal(_forward("floor_mod", [x, y]), [p % q for p, q in zip(a, b)])
    ints = _forward("floor_mod", [np.array([-7, 7], np.int32), np.array([3, -3], np.int32)])
    assert ints.dtype == np.int32 and ints.tolist() == [2, -2]


def test_truncating_division_follows_c() -> None:
    """Integers: C's quotient |x| // |y| with the signs' product, exact where float64 is
    not (3 * 2^53 + 3 is not a float64); floats: trunc(x / y)."""
    big = 3 * 2**53 + 3
    a, b = [7, -7, 7, -7, 6, 0, big, -big], [2, 2, -2, -2, -3, -5, 3, 3]
    want = [abs(p) // abs(q) * (1 if (p < 0) == (q < 0) else -1) for p, q in zip(a, b)]
    got = _forward("truncate_div", [np.array(a, np.int64), np.array(b, np.int64)])
    assert got.dtype == np.int64 and got.tolist() == want
    small = _forward("truncate_div", [np.array(a[:6], np.int32), np.array(b[:6], np.int32)])
    assert small.dtype == np.int32 and small.tolist() == want[:6]
    x, y = np.array([7.5, -7.5, 0.5]), np.array([2.0, 2.0, -1.0])
    np.testing.assert_array_equal(_forward("truncate_div", [x, y]), np.trunc(x / y))


def test_activations() -> None:
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(_forward("leaky_relu", [x]), [-0.4, 0.0, 3.0])
    np.testing.assert_allclose(_forward("leaky_relu", [x], {"alpha": 0.5}), [-1.0, 0, 3])
    np.testing.assert_allclose(_forward("swish", [x]), x / (1 + np.exp(-x)), rtol=1e-12)
    t = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(_forward("clip_by_value", [t, np.array(0.0),
                                                             np.array(1.0)]), [0, 0.5, 1])


def _scan_by_loop(x: np.ndarray, step, identity: float, exclusive: bool,
                  reverse: bool) -> np.ndarray:
    out = np.empty_like(x)
    n = x.shape[1]
    for j in range(n):
        order = range(j, n) if reverse else range(j + 1)
        picked = [k for k in order if not (exclusive and k == j)]
        acc = np.full(x.shape[0], identity)
        for k in picked:
            acc = step(acc, x[:, k])
        out[:, j] = acc
    return out


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_scans(exclusive: bool, reverse: bool) -> None:
    x = rand(2, 4)
    attrs = {"axis": 1, "exclusive": exclusive, "reverse": reverse}
    np.testing.assert_allclose(_forward("cumsum", [x], attrs),
                               _scan_by_loop(x, np.add, 0.0, exclusive, reverse), rtol=1e-12)
    np.testing.assert_allclose(_forward("cumprod", [x], attrs),
                               _scan_by_loop(x, np.multiply, 1.0, exclusive, reverse),
                               rtol=1e-12)


def test_reverse() -> None:
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(_forward("reverse", [x], {"axis": [0, -1]}), x[::-1, :, ::-1])


def test_segments_drop_negative_ids_and_fill_empty_segments() -> None:
    data = np.array([[1.0, 5.0], [5.0, 2.0], [3.0, 2.0], [np.nan, 0.0]])
    ids = np.array([0, 0, 2, -1], np.int32)
    attrs = {"num_segments": 4}
    np.testing.assert_array_equal(_forward("unsorted_segment_sum", [data, ids], attrs),
                                  [[6, 7], [0, 0], [3, 2], [0, 0]])
    low = np.finfo(np.float64).min
    np.testing.assert_array_equal(_forward("unsorted_segment_max", [data, ids], attrs),
                                  [[5, 5], [low, low], [3, 2], [low, low]])
    high = np.finfo(np.float64).max
    np.testing.assert_array_equal(_forward("unsorted_segment_min", [data, ids], attrs),
                                  [[1, 2], [high, high], [3, 2], [high, high]])


def test_segment_id_out_of_range_names_the_node() -> None:
    graph, y, names = one_op_graph("unsorted_segment_sum", [rand(3), np.array([0, 3, 1])],
                                   {"num_segments": 3})
    with pytest.raises(EngineError) as info:
        run(graph, [y], dict(zip(names, [rand(3), np.array([0, 3, 1])], strict=True)))
    assert info.value.node == "y" and "num_segments" in str(info.value)


def test_diagonals() -> None:
    x = rand(2, 3)
    want = np.stack([np.diag(row) for row in x])
    np.testing.assert_array_equal(_forward("matrix_diag", [x]), want)
    wide = rand(2, 2, 4)
    np.testing.assert_array_equal(_forward("matrix_diag_part", [wide]),
                                  [[m[0, 0], m[1, 1]] for m in wide])


def test_reductions_and_indices() -> None:
    x = rand(3, 4)
    np.testing.assert_allclose(_forward("reduce_euclidean_norm", [x], {"axis": 1}),
                               np.sqrt((x * x).sum(axis=1)), rtol=1e-12)
    am = _forward("argmax", [x], {"axis": 1})
    assert am.dtype == np.int64 and am.tolist() == x.argmax(axis=1).tolist()
    an = _forward("argmin", [x], {"output_type": "int32"})
    assert an.dtype == np.int32 and an.tolist() == x.argmin(axis=0).tolist()


def test_range_and_one_hot() -> None:
    r = Graph.build([{"name": "r", "op": "range", "attrs": {"start": 3, "limit": -2,
                                                              "delta": -2}}])
    (value,) = run(r, ["r"], {})
    assert value.dtype == np.int32 and value.tolist() == [3, 1, -1]
    f = Graph.build([{"name": "r", "op": "range", "attrs": {"limit": 1.0, "delta": 0.25}}])
    assert run(f, ["r"], {})[0].tolist() == [0.0, 0.25, 0.5, 0.75]
    idx = np.array([[1, 0], [2, 5]])
    got = _forward("one_hot", [idx], {"depth": 3, "axis": 0, "on_value": 2.0,
                                     "off_value": -1.0})
    want = np.full((3, 2, 2), -1.0)
    for (i, j), k in np.ndenumerate(idx):
        if k < 3:
            want[k, i, j] = 2.0
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_sparse_xent_outputs_and_bad_label() -> None:
    labels, logits = np.array([2, 0]), rand(2, 3)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(_forward("sparse_softmax_cross_entropy_with_logits",
                                        [labels, logits]), -log_p[[0, 1], labels], rtol=1e-12)
    backprop = np.exp(log_p)
    backprop[[0, 1], labels] -= 1
    np.testing.assert_allclose(_forward("sparse_softmax_cross_entropy_with_logits",
                                        [labels, logits], out=1), backprop, rtol=1e-12)
    graph, y, names = one_op_graph("sparse_softmax_cross_entropy_with_logits",
                                   [labels, logits], {})
    with pytest.raises(EngineError) as info:
        run(graph, [y], {names[0]: np.array([3, 0]), names[1]: logits})
    assert info.value.node == "y"


def test_gather_batch_dims_is_one_gather_per_batch() -> None:
    params, idx = rand(2, 3, 4, 2), np.array([[[0, 3]], [[2, 2]]])
    got = _forward("gather", [params, idx], {"axis": 2, "batch_dims": 1})
    want = np.stack([np.take(params[b], idx[b], axis=1) for b in range(2)])
    np.testing.assert_array_equal(got, want)


def _depthwise_by_loop(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """VALID, stride 1: each input channel convolved with its own multiplier filters."""
    n, h, wd, c = x.shape
    kh, kw, _, m = w.shape
    out = np.zeros((n, h - kh + 1, wd - kw + 1, c * m))
    for i in range(h - kh + 1):
        for j in range(wd - kw + 1):
            patch = x[:, i:i + kh, j:j + kw, :]
            for ch in range(c):
                for k in range(m):
                    out[:, i, j, ch * m + k] = (patch[..., ch] * w[:, :, ch, k]).sum((1, 2))
    return out


def test_depthwise_conv2d_and_conv2d_transpose() -> None:
    x, w = rand(2, 5, 4, 3), rand(3, 2, 3, 2, seed=1)
    np.testing.assert_allclose(_forward("depthwise_conv2d", [x, w]), _depthwise_by_loop(x, w),
                               rtol=1e-12)
    value, f = rand(2, 3, 3, 4), rand(3, 3, 2, 4, seed=2)
    attrs = {"strides": 2, "padding": "SAME"}
    got = _forward("conv2d_transpose", [value, f], {"output_shape": [2, 6, 6, 2], **attrs})
    want = _forward("conv2d_backprop_input", [value, f, np.zeros((2, 6, 6, 2))], attrs)
    np.testing.assert_array_equal(got, want)


def test_conv2d_transpose_output_shape_must_fit() -> None:
    nodes = [{"name": "v", "op": "placeholder", "shape": [2, 3, 3, 4], "dtype": "float64"},
             {"name": "f", "op": "placeholder", "shape": [3, 3, 2, 4], "dtype": "float64"},
             {"name": "y", "op": "conv2d_transpose", "inputs": ["v", "f"],
              "attrs": {"output_shape": [2, 9, 9, 2], "strides": 2, "padding": "SAME"}}]
    with pytest.raises(GraphError) as info:
        Graph.build(nodes)
    assert info.value.node == "y"


def test_normalizations() -> None:
    x, scale, offset, mean = rand(4, 3), rand(3, seed=1), rand(3, seed=2), rand(3, seed=3)
    var = rand(3, seed=4, low=0.5, high=2.0)
    got = _forward("batch_norm", [x, scale, offset, mean, var], {"epsilon": 0.01})
    np.testing.assert_allclose(got, (x - mean) / np.sqrt(var + 0.01) * scale + offset,
                               rtol=1e-12)
    gamma, beta = rand(3, seed=5), rand(3, seed=6)
    mu, sd = x.mean(axis=1, keepdims=True), np.sqrt(x.var(axis=1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(_forward("layer_norm", [x, gamma, beta]),
                               (x - mu) / sd * gamma + beta, rtol=1e-12)
    nodes = [{"name": "x", "op": "placeholder", "shape": [4, 3]},
             {"name": "g", "op": "placeholder", "shape": [4]},
             {"name": "b", "op": "placeholder", "shape": [4]},
             {"name": "y", "op": "layer_norm", "inputs": ["x", "g", "b"]}]
    with pytest.raises(GraphError) as info:
        Graph.build(nodes)
    assert info.value.node == "y"
