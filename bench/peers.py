"""The optional peers: PyTorch (eager autograd and torch.func.grad), JAX jit(grad), HIPS
autograd. Each is imported only when asked for; a missing one is reported, never fatal.

A peer variant turns a ``Workload`` into a ``PeerRun``: a zero-argument callable doing the
forward and the full gradient on arrays converted once beforehand, and how to read its
result back as numpy (outside the timed call, for the agreement check).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import peer_math
from .timing import first_call
from .workloads import Workload


@dataclass
class PeerRun:
    run: Callable[[], Any]
    to_numpy: Callable[[Any], list[np.ndarray]]
    compile_s: float | None = None  # a JIT's first call (trace + compile + one run)


@dataclass(frozen=True)
class Variant:
    label: str
    module: str  # the import that must succeed
    make: Callable[[Workload], PeerRun]


def version(module: str) -> tuple[str | None, str | None]:
    """(version, None) when importable, else (None, why not)."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # any import failure means "missing", with its reason
        return None, f"{type(exc).__name__}: {exc}"
    try:
        return metadata.version(module), None
    except metadata.PackageNotFoundError:
        return str(getattr(mod, "__version__", "?")), None


# -- PyTorch ---------------------------------------------------------------------------

def _torch_k() -> Any:
    import torch
    import torch.nn.functional as tf

    def conv2d_same(x: Any, w: Any) -> Any:
        out = tf.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1), padding="same")
        return out.permute(0, 2, 3, 1)

    return SimpleNamespace(
        matmul=torch.matmul, relu=torch.relu, tanh=torch.tanh, sin=torch.sin,
        sum=lambda a, axis=None: a.sum() if axis is None else a.sum(dim=axis),
        mean=torch.mean, log_softmax=lambda a: torch.log_softmax(a, dim=-1),
        conv2d_same=conv2d_same)


def _torch_numpy(result: Any) -> list[np.ndarray]:
    return [t.detach().numpy() for t in result]


def torch_eager(w: Workload) -> PeerRun:
    import torch

    K = _torch_k()
    tensors = [torch.from_numpy(a.copy()) for a in w.args]
    if w.key == "W6":
        W2, v = tensors[2].requires_grad_(True), torch.from_numpy(w.extra["v"])

        def run_hvp() -> Any:
            (g,) = torch.autograd.grad(peer_math.mlp_loss(K, *tensors), W2, create_graph=True)
            return torch.autograd.grad((g * v).sum(), W2)

        return PeerRun(run_hvp, _torch_numpy)
    f, argnums = peer_math.loss(K, w)
    wrt = [tensors[i].requires_grad_(True) for i in argnums]
    return PeerRun(lambda: torch.autograd.grad(f(*tensors), wrt), _torch_numpy)


def torch_func(w: Workload) -> PeerRun:
    import torch
    from torch.func import grad

    K = _torch_k()
    tensors = [torch.from_numpy(a.copy()) for a in w.args]
    if w.key == "W6":
        h = peer_math.hvp(K, grad, tensors, torch.from_numpy(w.extra["v"]))
        return PeerRun(lambda: (h(tensors[2]),), _torch_numpy)
    f, argnums = peer_math.loss(K, w)
    g = grad(f, argnums=argnums)
    return PeerRun(lambda: g(*tensors), _torch_numpy)


# -- JAX -----------------------------------------------------------------------------------

def _jax_k() -> Any:
    import jax
    import jax.numpy as jnp

    def conv2d_same(x: Any, w: Any) -> Any:
        return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    return SimpleNamespace(
        matmul=jnp.matmul, relu=jax.nn.relu, tanh=jnp.tanh, sin=jnp.sin, sum=jnp.sum,
        mean=jnp.mean, log_softmax=jax.nn.log_softmax, conv2d_same=conv2d_same)


def jax_jit_grad(w: Workload) -> PeerRun:
    import jax
    import jax.numpy as jnp

    K = _jax_k()
    arrays = [jnp.asarray(a) for a in w.args]
    if w.key == "W6":
        # every array an argument: closed over, XLA would fold the forward pass at compile
        def h(*args: Any) -> Any:
            return peer_math.hvp(K, jax.grad, args[:6], args[6])(args[2])

        hj, fed = jax.jit(h), (*arrays, jnp.asarray(w.extra["v"]))
        run = lambda: jax.block_until_ready((hj(*fed),))
    else:
        f, argnums = peer_math.loss(K, w)
        g = jax.jit(jax.grad(f, argnums=argnums))
        run = lambda: jax.block_until_ready(g(*arrays))
    compile_s = first_call(run)
    return PeerRun(run, lambda r: [np.asarray(a) for a in r], compile_s)


# -- HIPS autograd ---------------------------------------------------------------------

def _autograd_k() -> Any:
    import autograd.numpy as anp

    def log_softmax(a: Any) -> Any:
        m = anp.max(a, axis=-1, keepdims=True)
        return a - m - anp.log(anp.sum(anp.exp(a - m), axis=-1, keepdims=True))

    def conv2d_same(x: Any, w: Any) -> Any:
        kh, kw, cin, cout = w.shape
        n, h, wd, _ = x.shape
        pad = anp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)),
                      mode="constant")
        cols = anp.concatenate([pad[:, i:i + h, j:j + wd, :] for i in range(kh)
                                for j in range(kw)], axis=3)
        out = anp.dot(anp.reshape(cols, (n * h * wd, kh * kw * cin)),
                      anp.reshape(w, (kh * kw * cin, cout)))
        return anp.reshape(out, (n, h, wd, cout))

    return SimpleNamespace(
        matmul=anp.matmul, relu=lambda a: anp.maximum(a, 0.0), tanh=anp.tanh, sin=anp.sin,
        sum=anp.sum, mean=anp.mean, log_softmax=log_softmax, conv2d_same=conv2d_same)


def hips_autograd(w: Workload) -> PeerRun:
    from autograd import grad

    K = _autograd_k()
    args = w.args
    if w.key == "W6":
        h = peer_math.hvp(K, grad, args, w.extra["v"])
        return PeerRun(lambda: (h(args[2]),), lambda r: [np.asarray(a) for a in r])
    f, argnums = peer_math.loss(K, w)
    g = grad(f, argnum=argnums)
    return PeerRun(lambda: g(*args), lambda r: [np.asarray(a) for a in r])


VARIANTS: tuple[Variant, ...] = (
    Variant("PyTorch eager", "torch", torch_eager),
    Variant("torch.func.grad", "torch", torch_func),
    Variant("JAX jit(grad)", "jax", jax_jit_grad),
    Variant("HIPS autograd", "autograd", hips_autograd),
)
