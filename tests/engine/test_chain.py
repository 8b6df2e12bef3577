"""A 100,000-node chain validates, differentiates and runs with no recursion limit."""
from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from engine import Graph, compute_gradients

LENGTH = 100_000
EPS = 1e-5


def _chain(length: int) -> list[dict[str, Any]]:
    """n <- n + EPS * sin(n), three nodes a step, from x on a [4] vector: ``length`` nodes.

    Every step's derivative is 1 + EPS cos(n), so the gradient depends on x and neither
    vanishes nor explodes; each n feeds two nodes, so contributions are summed each step.
    """
    nodes: list[dict[str, Any]] = [
        {"name": "x", "op": "placeholder", "shape": [4], "dtype": "float64"},
        {"name": "eps", "op": "constant", "value": EPS, "dtype": "float64"}]
    prev = "x"
    i = 0
    while len(nodes) + 3 <= length:
        nodes += [{"name": f"s{i}", "op": "sin", "inputs": [prev]},
                  {"name": f"t{i}", "op": "mul", "inputs": [f"s{i}", "eps"]},
                  {"name": f"n{i}", "op": "add", "inputs": [prev, f"t{i}"]}]
        prev, i = f"n{i}", i + 1
    while len(nodes) < length:
        nodes.append({"name": f"id{len(nodes)}", "op": "identity", "inputs": [prev]})
        prev = nodes[-1]["name"]
    return nodes


def _reference(x: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Value and derivative by forward mode, step by step in numpy."""
    n, d = x.copy(), np.ones_like(x)
    for _ in range(steps):
        d = d * (1 + EPS * np.cos(n))
        n = n + EPS * np.sin(n)
    return n, d


def test_hundred_thousand_node_chain(capsys: Any) -> None:
    limit = sys.getrecursionlimit()
    nodes = _chain(LENGTH)
    assert len(nodes) == LENGTH
    steps = sum(1 for n in nodes if n["op"] == "sin")
    y = nodes[-1]["name"]
    t0 = time.perf_counter()
    graph = Graph.build(nodes)
    t1 = time.perf_counter()
    x = np.array([1.0, -2.0, 0.0, 3.0])
    out = compute_gradients(graph, {"x": x}, [y], ["x"], return_values=True)
    t2 = time.perf_counter()
    again = compute_gradients(graph, {"x": -x}, [y], ["x"], return_values=True)
    t3 = time.perf_counter()
    for feed, result in ((x, out), (-x, again)):
        value, grad = _reference(feed, steps)
        np.testing.assert_allclose(result.values[0], value, rtol=1e-10)
        np.testing.assert_allclose(result.gradients[0], grad, rtol=1e-10)
    assert again.cache_hit
    assert sys.getrecursionlimit() == limit  # nobody raised it to get through
    with capsys.disabled():
        print(f"\n100k chain: build {t1 - t0:.2f}s, differentiate+plan+run {t2 - t1:.2f}s, "
              f"warm run {t3 - t2:.2f}s")
