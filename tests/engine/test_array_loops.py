"""The compiled relu, relu_grad and whole-array sum (engine/ops/array_loops.py) against
numpy's (every bit for relu and relu_grad, NaN, infinities and signed zeros included; the
sum up to rounding), and a plan's answers with and without them."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, compute_gradients, fusion
from engine.ops import array_loops, elementwise, lazy_loops

from .gradcheck import rand

pytestmark = pytest.mark.skipif(not fusion.enabled(), reason="numba is not installed")

N = array_loops.LOOP_MIN + 37  # past the threshold, and not a whole number of blocks
ODD = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0]


@pytest.fixture(scope="module")
def jit() -> array_loops.Loops:
    array_loops.LAZY.compile()
    loops = array_loops.LAZY.get()
    assert loops is not None
    return loops


def _odd(dtype, seed: int) -> np.ndarray:
    x = rand(N, seed=seed).astype(dtype)
    x[:len(ODD) ** 2] = np.repeat(ODD, len(ODD)) if seed % 2 else np.tile(ODD, len(ODD))
    return x


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_its_gradient_match_numpy_bit_for_bit(jit, dtype):
    x, g = _odd(dtype, 1), _odd(dtype, 2)
    out = np.empty_like(x)
    jit.relu(x, out)
    _same_bits(out, np.maximum(x, np.zeros_like(x)))
    with np.errstate(invalid="ignore"):
        jit.relu_grad(g, x, out)
        _same_bits(out, g * (x > 0))
        for s in [*ODD, -2.5]:
            one = np.array([s], dtype)
            jit.relu_grad_one(one, x, out)
            _same_bits(out, np.broadcast_to(one, x.shape) * (x > 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_blocked_sum_is_a_sum(jit, dtype):
    x = rand(N, seed=3).astype(dtype)
    exact = float(np.sum(x.astype(np.float64)))
    # within a few rounding errors of the magnitudes summed, as numpy's pairwise sum
    assert abs(jit.total(x) - exact) <= 4 * np.finfo(dtype).eps * np.sum(np.abs(x))
    zeros = -np.zeros(N, dtype)
    assert np.signbit(jit.total(zeros)) and not np.signbit(jit.total(-zeros))
    for bad, want in ((np.nan, np.nan), (np.inf, np.inf), (-np.inf, -np.inf)):
        y = x.copy()
        y[N // 2] = bad
        np.testing.assert_equal(jit.total(y), want)
    y = x.copy()
    y[:2] = [np.inf, -np.inf]
    assert np.isnan(jit.total(y))


def _graph(shape: tuple[int, ...], dtype: str, reduce: str) -> Graph:
    return Graph.build([
        {"name": "x", "op": "placeholder", "shape": list(shape), "dtype": dtype},
        {"name": "u", "op": "placeholder", "shape": list(shape), "dtype": dtype},
        {"name": "r", "op": "relu", "inputs": ["x"]},
        {"name": "m", "op": "mul", "inputs": ["r", "u"]},
        {"name": "a", "op": reduce, "inputs": ["m"]},  # relu_grad of a full gradient
        {"name": "b", "op": reduce, "inputs": ["r"], "attrs": {"keepdims": True}}])


@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plans_answer_the_same_with_and_without_the_loops(jit, monkeypatch, reduce, dtype):
    shape = (8, N // 8 + 1)
    feeds = {"x": np.resize(_odd(dtype, 5), shape), "u": rand(*shape, seed=6).astype(dtype)}
    graph = _graph(shape, dtype, reduce)

    def answers() -> list[np.ndarray]:
        with np.errstate(invalid="ignore"):
            a = compute_gradients(graph, feeds, ["a"], ["x", "u"], return_values=True)
            b = compute_gradients(graph, feeds, ["b", "r"], ["x"],  # b's: a broadcast seed
                                  return_values=True)
        return [*a.values, *b.values, *a.gradients, *b.gradients]

    fast = answers()
    monkeypatch.setattr(array_loops, "LAZY", lazy_loops.Lazy(array_loops.LAZY.build))
    slow = answers()
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(fast[:2], slow[:2], strict=True):  # the reductions
        np.testing.assert_allclose(a, b, rtol=rtol)
    assert fast[1].shape == slow[1].shape == (1, 1)
    for a, b in zip(fast[2:], slow[2:], strict=True):  # relu, relu_grad of both seeds
        _same_bits(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_reads_a_broadcast_seed_once(jit, monkeypatch, dtype):
    x = np.repeat(_odd(dtype, 7), 2).reshape(N, 2)
    read = []
    monkeypatch.setattr(array_loops, "LAZY", lazy_loops.Lazy(array_loops.LAZY.build))
    array_loops.LAZY.compiled[:] = [jit._replace(
        relu_grad_one=lambda *a: read.append(a[0].size) or jit.relu_grad_one(*a))]
    for s in ODD:
        seed = np.broadcast_to(np.asarray(s, dtype), x.shape)  # every stride 0
        with np.errstate(invalid="ignore"):
            _same_bits(elementwise._relu_grad(seed, x), seed * (x > 0))
    assert read == [1] * len(ODD)


def test_small_arrays_do_not_count_toward_compiling(monkeypatch):
    asked = []
    lazy = lazy_loops.Lazy(array_loops.LAZY.build)
    monkeypatch.setattr(array_loops, "LAZY", lazy)
    monkeypatch.setattr(fusion, "later", asked.append)
    small, large = np.ones(8), np.ones(array_loops.LOOP_MIN)
    for _ in range(2 * fusion.FUSE_AFTER):
        assert array_loops.loops(small) is None
        assert array_loops.loops(np.ones(2 * large.size)[::2]) is None  # not contiguous
        assert array_loops.loops(large.astype(np.int32)) is None
    assert asked == []
    for _ in range(fusion.FUSE_AFTER):
        assert array_loops.loops(large) is None
    assert asked == [lazy.compile]
