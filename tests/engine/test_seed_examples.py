"""The two seed examples of the brief, in-process and bit-for-bit in float32."""
from __future__ import annotations

import numpy as np

from engine import Graph, compute_grad_operation, compute_gradients


def test_grad_operation_seed_example() -> None:
    net = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [2, 3], "dtype": "float32"},
        {"name": "y", "op": "placeholder", "shape": [3, 3], "dtype": "float32"},
        {"name": "z", "op": "parameter", "value": [1.0]},
        {"name": "xz", "op": "Mul", "inputs": ["x", "z"]},
        {"name": "out", "op": "MatMul", "inputs": ["xz", "y"]}],
        inputs=["x", "y"], outputs=["out"])
    x = np.array([[0.5, 0.6, 0.4], [1.2, 1.3, 1.1]], np.float32)
    y = np.array([[0.01, 0.3, 1.1], [0.1, 0.2, 1.3], [2.1, 1.2, 3.3]], np.float32)
    grad, _ = compute_grad_operation(net, [x, y])
    assert isinstance(grad, np.ndarray) and grad.dtype == np.float32 and grad.shape == (2, 3)
    assert [[np.format_float_positional(v, unique=True) for v in row] for row in grad] == \
        [["1.4100001", "1.5999999", "6.6"]] * 2
    np.testing.assert_array_equal(grad, np.array([["1.4100001", "1.5999999", "6.6"]] * 2,
                                                 dtype=np.float32))
    # what float32 arithmetic gives: the row sums of y, each summed in float32
    np.testing.assert_array_equal(grad[0], np.sum(y, axis=1, dtype=np.float32))


def test_tf_gradients_seed_example() -> None:
    init = [{"name": f"w{i}", "op": "variable", "shape": [3],
             "initializer": {"kind": "glorot_uniform", "seed": i}} for i in range(1, 5)]
    graph = Graph.build([*init,
                         {"name": "z1", "op": "add_n", "inputs": ["w1", "w2", "w3"]},
                         {"name": "z2", "op": "add", "inputs": ["w3", "w4"]}])
    grad_ys = [np.array([2.0, 2.0, 3.0], np.float32), np.array([3.0, 2.0, 4.0], np.float32)]
    out = compute_gradients(graph, {}, ["z1", "z2"], ["w1", "w2", "w3", "w4"], grad_ys)
    want = [[2, 2, 3], [2, 2, 3], [5, 4, 7], [3, 2, 4]]
    for got, w in zip(out.gradients, want, strict=True):
        assert got is not None and got.dtype == np.float32
        np.testing.assert_array_equal(got, np.array(w, np.float32))
