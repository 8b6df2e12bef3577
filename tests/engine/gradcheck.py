"""Finite-difference checks of the engine's gradients, in float64.

``check_vjp`` builds a one-op graph, asks the engine for the VJP against a random upstream
gradient, and compares it with central differences of the forward. ``check_second_order``
does the same for the gradient of a gradient (a Hessian-vector product).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine import Graph, compute_gradients, run


def numeric_vjp(f, arrays: list[np.ndarray], g: np.ndarray, index: int,
                eps: float = 1e-6) -> np.ndarray:
    """Central differences of <g, f(arrays)> with respect to arrays[index]."""
    x = arrays[index]
    out = np.zeros(x.shape, dtype=np.float64)
    flat = out.reshape(-1)
    for j in range(x.size):
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[index].reshape(-1)[j] += eps
        minus[index].reshape(-1)[j] -= eps
        flat[j] = (np.sum(g * f(plus)) - np.sum(g * f(minus))) / (2 * eps)
    return out


def one_op_graph(op: str, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any] | None,
                 out: int = 0) -> tuple[Graph, str, list[str]]:
    names = [f"in{i}" for i in range(len(arrays))]
    nodes: list[dict[str, Any]] = [
        {"name": n, "op": "placeholder", "shape": list(a.shape), "dtype": a.dtype.name}
        for n, a in zip(names, arrays, strict=True)]
    nodes.append({"name": "y", "op": op, "inputs": names, "attrs": dict(attrs or {})})
    return Graph.build(nodes), "y" if out == 0 else f"y:{out}", names


def check_vjp(op: str, arrays: Sequence[np.ndarray], attrs: Mapping[str, Any] | None = None,
              *, wrt: Sequence[int] | None = None, out: int = 0, dialect: str = "tensorflow",
              eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
              seed: int = 0) -> None:
    """Assert the engine's VJP of ``op`` matches central differences for inputs ``wrt``."""
    arrays = [np.asarray(a) for a in arrays]
    graph, y, names = one_op_graph(op, arrays, attrs, out)
    feeds = dict(zip(names, arrays, strict=True))
    (value,) = run(graph, [y], feeds)
    g = np.random.default_rng(seed).normal(size=value.shape).astype(value.dtype)
    wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"] if wrt is None else wrt
    result = compute_gradients(graph, feeds, [y], [names[i] for i in wrt], [g],
                               dialect=dialect)

    def f(xs: list[np.ndarray]) -> np.ndarray:
        return run(graph, [y], dict(zip(names, xs, strict=True)))[0]

    for i, got in zip(wrt, result.gradients, strict=True):
        want = numeric_vjp(f, arrays, g, i, eps)
        assert got is not None, f"{op}: no gradient for input {i}"
        assert got.shape == arrays[i].shape, f"{op}: gradient shape {got.shape} for input " \
                                             f"{i} of shape {arrays[i].shape}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                   err_msg=f"{op} {dict(attrs or {})}: input {i}")


def check_second_order(nodes: list[dict[str, Any]], feeds: Mapping[str, np.ndarray], y: str,
                       x: str, *, dialect: str = "tensorflow", eps: float = 1e-6,
                       rtol: float = 1e-5, atol: float = 1e-7, seed: int = 1) -> None:
    """Hessian-vector product of scalar-summed ``y`` w.r.t. ``x``, through the engine's
    gradient graph differentiated again, against central differences of the gradient."""
    graph = Graph.build(nodes)
    first = compute_gradients(graph, feeds, [y], [x], return_graph=True, dialect=dialect)
    grad_name = first.gradient_nodes[0]
    assert grad_name is not None
    g2 = first.graph
    v = np.random.default_rng(seed).normal(size=feeds[x].shape)
    hvp = compute_gradients(g2, feeds, [grad_name], [x], [v], dialect=dialect).gradients[0]

    def grad_at(xv: np.ndarray) -> np.ndarray:
        return run(g2, [grad_name], {**feeds, x: xv})[0]

    want = numeric_vjp(lambda xs: grad_at(xs[0]), [np.array(feeds[x], dtype=np.float64)],
                       v, 0, eps)
    np.testing.assert_allclose(hvp, want, rtol=rtol, atol=atol)


def rand(*shape: int, seed: int = 0, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape)
