"""Rows W7-W10: the functional toolbox (vmap, Jacobians, HVP, JVP) against peers measured
in the same run: the hand-vectorized numpy floor, a Python loop of single calls,
``torch.func`` and JAX ``jit`` where installed (a peer not installed is reported so).

W7c is W7 for a conv layer: per-example filter gradients, where vmap meets conv2d's
backprop with images and gradients both batched (one batched GEMM over patches).

``python -m bench.functional_bench`` runs just these rows and prints their ratios (pin
OPENBLAS_NUM_THREADS=1 on a shared machine, as ``python -m bench`` does).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine
from engine import Graph, compute_gradients, hvp, jacobian, jvp, vjp

from .timing import Stats, measure_interleaved
from .workloads import mlp_arrays, mlp_nodes

PARAMS = ("W1", "b1", "W2", "b2")
B = 64


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    times: dict[str, Stats]  # implementation -> seconds per call
    ratios: dict[str, tuple[float, str]]  # what -> (measured ratio, target)


def _mlp() -> tuple[Graph, dict[str, np.ndarray]]:
    arrays = mlp_arrays("full", 0)
    return Graph.build(mlp_nodes(arrays), outputs=["loss"]), arrays


def _example_graph(arrays: dict[str, np.ndarray]) -> Graph:
    """W2's MLP written for one example (x [1, 784], labels [1, 10])."""
    one = {k: (v[:1] if k in ("x", "labels") else v) for k, v in arrays.items()}
    return Graph.build(mlp_nodes(one), outputs=["loss"])


def per_example_floor(W1, b1, W2, b2, x, labels) -> list[np.ndarray]:
    """Per-example gradients of the MLP, hand-vectorized with einsum (the numpy floor)."""
    r = np.maximum(x @ W1 + b1, np.float32(0))
    logits = r @ W2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    dlogits = p * labels.sum(axis=1, keepdims=True) - labels  # each example its own mean
    dr = (dlogits @ W2.T) * (r > 0)
    return [np.einsum("bi,bj->bij", x, dr), dr, np.einsum("bi,bj->bij", r, dlogits), dlogits]


def w7(budget: float) -> Row:
    _, arrays = _mlp()
    one = _example_graph(arrays)
    x, labels = arrays["x"].reshape(B, 1, -1), arrays["labels"].reshape(B, 1, -1)
    params = {k: arrays[k] for k in PARAMS}
    feeds = {**params, "x": x, "labels": labels}
    axes = {"x": 0, "labels": 0}

    def ours() -> Any:
        return compute_gradients(one, feeds, "loss", list(PARAMS), in_axes=axes).gradients

    def loop() -> Any:
        return [compute_gradients(one, {**params, "x": x[i], "labels": labels[i]}, "loss",
                                  list(PARAMS)).gradients for i in range(B)]

    flat = (arrays["W1"], arrays["b1"], arrays["W2"], arrays["b2"], arrays["x"],
            arrays["labels"])
    got, want = ours(), per_example_floor(*flat)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.reshape(w.shape), w, rtol=2e-3, atol=2e-5)
    t = measure_interleaved({"ours (vmap)": ours, "numpy floor (einsum)":
                             lambda: per_example_floor(*flat), "loop of B calls": loop}, budget)
    o = t["ours (vmap)"].median
    return Row("W7", f"per-example gradients of W2's MLP, B = {B}", t, {
        "vmap / numpy floor": (o / t["numpy floor (einsum)"].median, "<= 1.5"),
        "loop / vmap": (t["loop of B calls"].median / o, ">= 10")})


CONV = {"B": 32, "H": 16, "W": 16, "C": 8, "O": 16, "K": 3}


def _conv_layer() -> tuple[Graph, np.ndarray, np.ndarray]:
    """sum(tanh(conv2d(x, w))) for one image x [1, H, W, C] (SAME); B images; w."""
    d = CONV
    rng = np.random.default_rng(4)
    w = rng.standard_normal((d["K"], d["K"], d["C"], d["O"])) / (d["K"] * d["C"] ** 0.5)
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [1, d["H"], d["W"], d["C"]],
         "dtype": "float64"},
        {"name": "w", "op": "variable", "value": w, "dtype": "float64"},
        {"name": "h", "op": "conv2d", "inputs": ["x", "w"], "attrs": {"padding": "SAME"}},
        {"name": "t", "op": "tanh", "inputs": ["h"]},
        {"name": "loss", "op": "sum", "inputs": ["t"]}], outputs=["loss"])
    return graph, rng.standard_normal((d["B"], 1, d["H"], d["W"], d["C"])), w


def conv_floor(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-example filter gradients of sum(tanh(conv2d)) for images x [B, H, W, C],
    hand-vectorized: im2col, then one batched GEMM each way (the numpy floor)."""
    k, _, c, o = w.shape
    b, h, wd = x.shape[:3]
    xp = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(b, h * wd, k * k * c)
    d = 1 - np.tanh(cols @ w.reshape(-1, o)) ** 2
    return (cols.transpose(0, 2, 1) @ d).reshape(b, k, k, c, o)  # bmk,bmo->bko


def w7_conv(budget: float) -> Row:
    graph, x, w = _conv_layer()

    def ours() -> Any:
        return compute_gradients(graph, {"x": x}, "loss", ["w"], in_axes={"x": 0}).gradients

    def loop() -> Any:
        return [compute_gradients(graph, {"x": x[i]}, "loss", ["w"]).gradients
                for i in range(len(x))]

    np.testing.assert_allclose(ours()[0], conv_floor(x[:, 0], w), rtol=1e-9, atol=1e-9)
    t = measure_interleaved({"ours (vmap)": ours, "numpy floor (im2col GEMM)":
                             lambda: conv_floor(x[:, 0], w), "loop of B calls": loop}, budget)
    o = t["ours (vmap)"].median
    return Row("W7c", f"per-example filter gradients of a conv layer, B = {CONV['B']}", t, {
        "vmap / numpy floor": (o / t["numpy floor (im2col GEMM)"].median, "(reported)"),
        "loop / vmap": (t["loop of B calls"].median / o, "(reported)")})


def _tanh_mlp(n: int = 64) -> tuple[Graph, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    a = {"x": rng.standard_normal((1, n)), "W1": rng.standard_normal((n, n)) / n ** 0.5,
         "b1": rng.standard_normal(n) * 0.1, "W2": rng.standard_normal((n, n)) / n ** 0.5,
         "b2": rng.standard_normal(n) * 0.1}
    nodes = [{"name": k, "op": "placeholder", "shape": list(v.shape), "dtype": "float64"}
             for k, v in a.items()]
    nodes += [{"name": "m1", "op": "matmul", "inputs": ["x", "W1"]},
              {"name": "a1", "op": "add", "inputs": ["m1", "b1"]},
              {"name": "h", "op": "tanh", "inputs": ["a1"]},
              {"name": "m2", "op": "matmul", "inputs": ["h", "W2"]},
              {"name": "a2", "op": "add", "inputs": ["m2", "b2"]},
              {"name": "y", "op": "tanh", "inputs": ["a2"]}]
    return Graph.build(nodes, outputs=["y"]), a


def jacobian_floor(x, W1, b1, W2, b2) -> np.ndarray:
    h = np.tanh(x @ W1 + b1)
    y = np.tanh(h @ W2 + b2)
    return ((1 - y[0] ** 2)[:, None] * W2.T) @ ((1 - h[0] ** 2)[:, None] * W1.T)


def _peers_w8(a: dict[str, np.ndarray]) -> dict[str, Callable[[], Any]]:
    peers: dict[str, Callable[[], Any]] = {}
    try:
        import torch
        from torch.func import jacfwd, jacrev

        t = {k: torch.from_numpy(v) for k, v in a.items()}

        def f(x: Any) -> Any:
            return torch.tanh(torch.tanh(x @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"])

        peers["torch.func.jacfwd"] = lambda: jacfwd(f)(t["x"])
        peers["torch.func.jacrev"] = lambda: jacrev(f)(t["x"])
    except ImportError:
        pass
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        j = {k: jnp.asarray(v) for k, v in a.items()}

        def g(x: Any) -> Any:
            return jnp.tanh(jnp.tanh(x @ j["W1"] + j["b1"]) @ j["W2"] + j["b2"])

        fwd, rev = jax.jit(jax.jacfwd(g)), jax.jit(jax.jacrev(g))
        peers["jax.jit(jacfwd)"] = lambda: fwd(j["x"]).block_until_ready()
        peers["jax.jit(jacrev)"] = lambda: rev(j["x"]).block_until_ready()
    except ImportError:
        pass
    return peers


def w8(budget: float) -> Row:
    graph, a = _tanh_mlp()
    feeds = dict(a)
    impls: dict[str, Callable[[], Any]] = {
        f"ours ({mode})": (lambda mode=mode: jacobian(graph, feeds, inputs=["x"], mode=mode))
        for mode in ("forward", "reverse")}
    want = jacobian_floor(**a)
    for fn in impls.values():
        np.testing.assert_allclose(fn()["jacobian"]["y"]["x"].reshape(64, 64), want,
                                   rtol=1e-10, atol=1e-12)
    impls["numpy floor"] = lambda: jacobian_floor(**a)
    impls.update(_peers_w8(a))
    t = measure_interleaved(impls, budget)
    ratios = {f"{k} / numpy floor": (t[k].median / t["numpy floor"].median, "(reported)")
              for k in ("ours (forward)", "ours (reverse)")}
    for ours, peer in (("ours (forward)", "torch.func.jacfwd"),
                       ("ours (reverse)", "torch.func.jacrev"),
                       ("ours (forward)", "jax.jit(jacfwd)"),
                       ("ours (reverse)", "jax.jit(jacrev)")):
        if peer in t:
            ratios[f"{ours} / {peer}"] = (t[ours].median / t[peer].median, "(reported)")
    return Row("W8", "Jacobian of a 64 -> 64 tanh MLP (float64)", t, ratios)


def hvp_floor(W1, b1, W2, b2, x, labels, v) -> list[np.ndarray]:
    """The gradient wrt W2 and H v (one forward shared): what /hvp answers."""
    r = np.maximum(x @ W1 + b1, np.float32(0))
    logits = r @ W2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    n = np.float32(x.shape[0])
    s = labels.sum(axis=1, keepdims=True)
    grad = r.T @ ((p * s - labels) / n)
    rv = r @ v
    dp = p * rv - p * (p * rv).sum(axis=1, keepdims=True)
    return [grad, r.T @ (dp * s) / n]


def w9(budget: float) -> Row:
    graph, a = _mlp()
    v = (np.random.default_rng(2).standard_normal(a["W2"].shape) * 0.1).astype(np.float32)
    feeds = dict(a)

    def ours() -> Any:
        return hvp(graph, feeds, {"W2": v}, outputs=["loss"])

    flat = [a[k] for k in ("W1", "b1", "W2", "b2", "x", "labels")]
    got, want = ours(), hvp_floor(*flat, v)
    np.testing.assert_allclose(got["hvp"]["W2"], want[1], rtol=2e-3, atol=1e-6)
    t = measure_interleaved({"ours (hvp)": ours, "numpy floor": lambda: hvp_floor(*flat, v)},
                            budget)
    return Row("W9", "HVP of W2's loss wrt W2 (with its gradient)", t, {
        "hvp / numpy floor": (t["ours (hvp)"].median / t["numpy floor"].median, "<= 1.2")})


def w10(budget: float) -> Row:
    graph, a = _mlp()
    rng = np.random.default_rng(3)
    tangents = {k: (rng.standard_normal(a[k].shape) * 0.1).astype(np.float32) for k in PARAMS}
    feeds = dict(a)
    t = measure_interleaved({
        "jvp": lambda: jvp(graph, feeds, tangents, outputs=["loss"]),
        "vjp": lambda: vjp(graph, feeds, {"loss": np.float32(1.0)}, inputs=list(PARAMS))},
        budget)
    return Row("W10", "JVP vs VJP of W2's loss (all four parameters)", t, {
        "jvp / vjp": (t["jvp"].median / t["vjp"].median, "<= 1.5")})


ROWS = (w7, w7_conv, w8, w9, w10)


def run(budget: float = 2.0, log: Callable[[str], None] = print) -> list[Row]:
    rows = []
    for make in ROWS:
        log(f"[functional] {make.__name__.upper()}")
        rows.append(make(budget))
    return rows


def render(rows: list[Row]) -> str:
    """The rows as a Markdown section of RESULTS.md."""
    out = ["## Functional transforms (W7-W10)", "",
           "| row | implementation | median ms | p90 ms |", "|---|---|---|---|"]
    for r in rows:
        out += [f"| {r.key} | {name} | {s.median * 1e3:.3f} | {s.p90 * 1e3:.3f} |"
                for name, s in r.times.items()]
    out += ["", "| row | ratio | measured | target |", "|---|---|---|---|"]
    for r in rows:
        out += [f"| {r.key} | {what} | {value:.2f} | {target} |"
                for what, (value, target) in r.ratios.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    engine.configure_caches(programs=256)
    print(render(run(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)))
