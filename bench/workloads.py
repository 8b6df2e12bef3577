"""The six engine workloads of issue 4: their data, and their graphs in the wire format.

Every implementation (ours, the numpy floor, each peer) computes the same thing from the
same float32 arrays: the forward pass and the full gradient of a scalar loss with respect
to the arrays named in ``wrt`` (W6: a Hessian-vector product). Sizes come in two sets:
``full`` (what the issue defines, what ``make bench`` times) and ``tiny`` (the smoke test).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

W4_CYCLE = ("tanh", "scale", "shift", "sin")  # x -> tanh, x * 1.01, x + 0.1, sin, repeating
W4_SCALE, W4_SHIFT = 1.01, 0.1

SIZES: dict[str, dict[str, Any]] = {
    "full": {"batch": 64, "features": 784, "hidden": 256, "classes": 10, "square": 1024,
             "chain": 200, "vector": 16, "image": (8, 32, 32, 16), "filters": 32},
    "tiny": {"batch": 4, "features": 12, "hidden": 8, "classes": 3, "square": 16,
             "chain": 8, "vector": 4, "image": (1, 5, 5, 2), "filters": 3},
}


@dataclass(frozen=True)
class Workload:
    """One workload: its arrays, what is differentiated, and its graph description."""

    key: str
    title: str
    arrays: dict[str, np.ndarray]
    wrt: tuple[str, ...]
    nodes: list[dict[str, Any]]
    loss: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def args(self) -> list[np.ndarray]:
        return list(self.arrays.values())


def _placeholders(arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    return [{"name": k, "op": "placeholder", "shape": list(a.shape), "dtype": a.dtype.name}
            for k, a in arrays.items()]


def _node(name: str, op: str, *inputs: str, **attrs: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"name": name, "op": op, "inputs": list(inputs)}
    if attrs:
        node["attrs"] = attrs
    return node


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def w1(size: str = "full", seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    arrays = {"x": _normal(rng, 2, 3), "y": _normal(rng, 3, 3), "z": _normal(rng, 1)}
    nodes = [*_placeholders(arrays), _node("xz", "mul", "x", "z"),
             _node("out", "matmul", "xz", "y")]
    return Workload("W1", "seed: sum(matmul(x*z, y)), grad wrt x, y, z", arrays,
                    ("x", "y", "z"), nodes, "out")


def mlp_arrays(size: str, seed: int) -> dict[str, np.ndarray]:
    d = SIZES[size]
    rng = np.random.default_rng(seed)
    n, f, h, c = d["batch"], d["features"], d["hidden"], d["classes"]
    labels = np.zeros((n, c), np.float32)
    labels[np.arange(n), rng.integers(0, c, n)] = 1.0
    return {"W1": _normal(rng, f, h, scale=(2.0 / f) ** 0.5), "b1": _normal(rng, h, scale=0.1),
            "W2": _normal(rng, h, c, scale=(1.0 / h) ** 0.5), "b2": _normal(rng, c, scale=0.1),
            "x": _normal(rng, n, f), "labels": labels}


def mlp_nodes(arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """relu(x@W1+b1)@W2+b2 -> mean softmax cross-entropy, as graph nodes ending in 'loss'."""
    return [*_placeholders(arrays), _node("h", "matmul", "x", "W1"), _node("hb", "add", "h", "b1"),
            _node("r", "relu", "hb"), _node("l", "matmul", "r", "W2"),
            _node("logits", "add", "l", "b2"),
            _node("ce", "softmax_cross_entropy_with_logits", "labels", "logits"),
            _node("loss", "mean", "ce")]


def w2(size: str = "full", seed: int = 0) -> Workload:
    arrays = mlp_arrays(size, seed)
    return Workload("W2", "MLP 784-256-10, batch 64, mean softmax cross-entropy", arrays,
                    ("W1", "b1", "W2", "b2"), mlp_nodes(arrays), "loss")


def w3(size: str = "full", seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    n = SIZES[size]["square"]
    arrays = {"A": _normal(rng, n, n), "B": _normal(rng, n, n)}
    nodes = [*_placeholders(arrays), _node("C", "matmul", "A", "B"),
             _node("loss", "sum", "C")]
    return Workload("W3", f"sum(A@B), A, B [{n},{n}]", arrays, ("A", "B"), nodes, "loss")


def w4(size: str = "full", seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    d = SIZES[size]
    arrays = {"x": _normal(rng, d["vector"])}
    nodes = [*_placeholders(arrays),
             {"name": "scale", "op": "constant", "value": W4_SCALE, "dtype": "float32"},
             {"name": "shift", "op": "constant", "value": W4_SHIFT, "dtype": "float32"}]
    prev = "x"
    for i in range(d["chain"]):
        kind = W4_CYCLE[i % len(W4_CYCLE)]
        name = f"c{i}"
        if kind == "scale":
            nodes.append(_node(name, "mul", prev, "scale"))
        elif kind == "shift":
            nodes.append(_node(name, "add", prev, "shift"))
        else:
            nodes.append(_node(name, kind, prev))
        prev = name
    nodes.append(_node("loss", "sum", prev))
    return Workload("W4", f"chain of {d['chain']} elementwise ops on [{d['vector']}]", arrays,
                    ("x",), nodes, "loss", {"chain": d["chain"]})


def w5(size: str = "full", seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    d = SIZES[size]
    image = d["image"]
    arrays = {"x": _normal(rng, *image),
              "w": _normal(rng, 3, 3, image[3], d["filters"], scale=(2.0 / (9 * image[3])) ** 0.5)}
    nodes = [*_placeholders(arrays),
             _node("conv", "conv2d", "x", "w", strides=1, padding="SAME"),
             _node("r", "relu", "conv"), _node("loss", "mean", "r")]
    return Workload("W5", f"conv2d NHWC {list(image)} * [3,3,{image[3]},{d['filters']}] SAME, "
                    "relu, mean", arrays, ("x", "w"), nodes, "loss")


def w6(size: str = "full", seed: int = 0) -> Workload:
    arrays = mlp_arrays(size, seed)
    rng = np.random.default_rng(seed + 1)
    v = _normal(rng, *arrays["W2"].shape)
    return Workload("W6", "Hessian-vector product of W2's loss wrt W2", arrays, ("W2",),
                    mlp_nodes(arrays), "loss", {"v": v})


WORKLOADS: dict[str, Callable[..., Workload]] = {
    "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}


def make_all(size: str = "full") -> list[Workload]:
    return [make(size) for make in WORKLOADS.values()]
