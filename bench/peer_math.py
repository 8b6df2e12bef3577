"""The workloads' losses written once, against a small namespace of array ops ``K``.

Each peer (PyTorch, JAX, HIPS autograd) supplies its own ``K`` (matmul, relu, tanh, sin,
sum, mean, log_softmax, conv2d_same) and its own gradient transform; the math is shared so
that every peer computes exactly the same function.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .workloads import W4_CYCLE, W4_SCALE, W4_SHIFT, Workload

Loss = Callable[..., Any]


def w1(K: Any, x: Any, y: Any, z: Any) -> Any:
    return K.sum(K.matmul(x * z, y))


def mlp_loss(K: Any, W1: Any, b1: Any, W2: Any, b2: Any, x: Any, labels: Any) -> Any:
    logits = K.matmul(K.relu(K.matmul(x, W1) + b1), W2) + b2
    return K.mean(-K.sum(labels * K.log_softmax(logits), axis=1))


def w3(K: Any, A: Any, B: Any) -> Any:
    return K.sum(K.matmul(A, B))


def w4(K: Any, x: Any, chain: int) -> Any:
    for i in range(chain):
        kind = W4_CYCLE[i % len(W4_CYCLE)]
        x = (K.tanh(x) if kind == "tanh" else x * W4_SCALE if kind == "scale"
             else x + W4_SHIFT if kind == "shift" else K.sin(x))
    return K.sum(x)


def w5(K: Any, x: Any, w: Any) -> Any:
    return K.mean(K.relu(K.conv2d_same(x, w)))


def loss(K: Any, w: Workload) -> tuple[Loss, tuple[int, ...]]:
    """The workload's loss as f(*arrays in w.arrays order), and the argnums to differentiate."""
    names = list(w.arrays)
    argnums = tuple(names.index(n) for n in w.wrt)
    if w.key == "W4":
        chain = w.extra["chain"]
        return (lambda x: w4(K, x, chain)), argnums
    fn = {"W1": w1, "W2": mlp_loss, "W3": w3, "W5": w5}[w.key]
    return (lambda *a: fn(K, *a)), argnums


def hvp(K: Any, grad: Callable[[Loss], Loss], args: Sequence[Any], v: Any) -> Loss:
    """H v of the MLP loss wrt W2 (args in mlp order), reverse over reverse: a function of
    W2 built with the peer's own ``grad`` (one that differentiates the first argument)."""
    W1, b1, _, b2, x, labels = args

    def loss_of_w2(W2: Any) -> Any:
        return mlp_loss(K, W1, b1, W2, b2, x, labels)

    def directional(W2: Any) -> Any:
        return K.sum(grad(loss_of_w2)(W2) * v)

    return grad(directional)
