"""The compiled col2im (engine/ops/window_loops.py) against numpy's per-tap adds, and the
convolutions' gradients with and without it (float64: the same numbers up to rounding;
central differences in the every-op sweep check either path)."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, compute_gradients, fusion
from engine.ops import lazy_loops, nn, window_loops, windows
from engine.ops.windows import Window

from .gradcheck import one_op_graph, rand

pytestmark = pytest.mark.skipif(not fusion.enabled(), reason="numba is not installed")

# (input [N, H, W, C], window size, strides, dilations, SAME)
GEOMETRIES = [
    ((2, 7, 6, 3), (3, 3), (1, 1), (1, 1), True),
    ((2, 7, 6, 3), (3, 2), (1, 1), (1, 1), False),
    ((1, 8, 9, 2), (3, 3), (2, 2), (1, 1), True),
    ((1, 8, 9, 2), (2, 3), (2, 1), (1, 1), False),
    ((3, 9, 7, 1), (3, 2), (1, 2), (2, 1), True),
    ((1, 9, 9, 4), (2, 2), (3, 2), (2, 2), False),
    ((1, 5, 5, 3), (1, 1), (1, 1), (1, 1), True),
    ((1, 4, 6, 2), (5, 4), (1, 1), (1, 1), True),  # a window larger than the input
]


@pytest.fixture(scope="module")
def jit():
    window_loops.compile_loop()
    loop = window_loops.loop()
    assert loop is not None
    return loop


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "size", "strides", "dilations", "same"), GEOMETRIES)
def test_scatter_matches_numpy(jit, shape, size, strides, dilations, same, dtype):
    win = Window(size, strides, dilations, same)
    lay = win.layout(shape[1], shape[2])
    g = rand(shape[0], lay.oh, lay.ow, *size, shape[3], seed=1).astype(dtype)
    want = windows.scatter(lambda i, j: g[:, :, :, i, j, :], shape, win, lay, dtype)
    got = np.zeros(shape, dtype)
    jit(g, got, *strides, *dilations, lay.top, lay.left)
    np.testing.assert_array_equal(got, want)  # the same sums, in the same order


@pytest.mark.parametrize(("shape", "size", "strides", "dilations", "same"), GEOMETRIES)
def test_conv_gradients_with_and_without_the_compiled_loop(jit, monkeypatch, shape, size,
                                                           strides, dilations, same):
    x, w = rand(*shape), rand(*size, shape[3], 5, seed=2)
    attrs = {"strides": list(strides), "dilations": list(dilations),
             "padding": "SAME" if same else "VALID"}
    out = one_op_graph("conv2d", [x, w], attrs)[0].node("y").spec.shape
    feeds = {"x": x, "w": w, "u": rand(*out, seed=3)}  # u: a random upstream gradient
    graph = Graph.build([
        *({"name": k, "op": "placeholder", "shape": list(v.shape), "dtype": "float64"}
          for k, v in feeds.items()),
        {"name": "c", "op": "conv2d", "inputs": ["x", "w"], "attrs": attrs},
        {"name": "t", "op": "conv2d_transpose", "inputs": ["c", "w"],
         "attrs": {**attrs, "output_shape": list(shape)}},
        {"name": "m", "op": "mul", "inputs": ["c", "u"]},
        {"name": "y", "op": "sum", "inputs": ["m"]},
        {"name": "z", "op": "sum", "inputs": ["t"]}])

    def answers():
        r = compute_gradients(graph, feeds, ["y", "z"], ["x", "w"], return_values=True)
        return [*r.values, *r.gradients]

    fast = answers()
    monkeypatch.setattr(nn, "COLUMN_BYTES", 1)  # one image at a time
    np.testing.assert_array_equal(answers()[1], fast[1])
    monkeypatch.setattr(window_loops, "loop", lambda: None)
    slow = answers()
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_the_loop_is_asked_for_once_after_a_few_convolutions(monkeypatch):
    asked = []
    lazy = lazy_loops.Lazy(window_loops.LAZY.build)
    monkeypatch.setattr(window_loops, "LAZY", lazy)
    monkeypatch.setattr(fusion, "later", asked.append)
    for _ in range(fusion.FUSE_AFTER - 1):
        assert window_loops.loop() is None
    assert asked == []  # a worker that ran a few convolutions compiles nothing
    for _ in range(3):
        assert window_loops.loop() is None
    assert asked == [lazy.compile]
