"""The floor: each workload's forward and backward written by hand in numpy.

No graph, no dispatch, no bookkeeping: the arithmetic a careful person would write, so
that (ours / floor) is the engine's overhead. Conv2d is im2col over the nine kernel
offsets and one matmul each way, as a numpy user would do it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .workloads import W4_CYCLE, W4_SCALE, W4_SHIFT, Workload

Runner = Callable[[], list[np.ndarray]]


def w1(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
    xz = x * z
    out = xz @ y
    g = np.ones_like(out)
    dxz = g @ y.T
    return [dxz * z, xz.T @ g, np.sum(dxz * x, keepdims=True).reshape(z.shape)]


def _mlp_forward(W1, b1, W2, b2, x):
    r = np.maximum(x @ W1 + b1, np.float32(0))
    logits = r @ W2 + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    p = e / e.sum(axis=1, keepdims=True)
    return r, shifted, p


def w2(W1, b1, W2, b2, x, labels) -> list[np.ndarray]:
    r, shifted, p = _mlp_forward(W1, b1, W2, b2, x)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    _loss = -(labels * log_p).sum(axis=1).mean()
    n = np.float32(x.shape[0])
    dlogits = (p * labels.sum(axis=1, keepdims=True) - labels) / n
    dr = (dlogits @ W2.T) * (r > 0)
    return [x.T @ dr, dr.sum(axis=0), r.T @ dlogits, dlogits.sum(axis=0)]


def w3(A: np.ndarray, B: np.ndarray) -> list[np.ndarray]:
    C = A @ B
    _loss = C.sum()
    g = np.ones_like(C)
    return [g @ B.T, A.T @ g]


def w4(x: np.ndarray, chain: int) -> list[np.ndarray]:
    outs = [x]
    for i in range(chain):
        kind, t = W4_CYCLE[i % 4], outs[-1]
        outs.append(np.tanh(t) if kind == "tanh" else t * np.float32(W4_SCALE)
                    if kind == "scale" else t + np.float32(W4_SHIFT) if kind == "shift"
                    else np.sin(t))
    _loss = outs[-1].sum()
    g = np.ones_like(x)
    for i in range(chain - 1, -1, -1):
        kind = W4_CYCLE[i % 4]
        if kind == "tanh":
            g = g * (np.float32(1) - outs[i + 1] * outs[i + 1])
        elif kind == "scale":
            g = g * np.float32(W4_SCALE)
        elif kind == "sin":
            g = g * np.cos(outs[i])
    return [g]


def im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """[N,H,W,C] SAME-padded -> [N*H*W, kh*kw*C], offsets outermost (matches HWIO rows)."""
    n, h, w, c = x.shape
    pad = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    cols = np.concatenate([pad[:, i:i + h, j:j + w, :] for i in range(kh) for j in range(kw)],
                          axis=3)
    return cols.reshape(n * h * w, kh * kw * c)


def _col2im(dcols: np.ndarray, shape: tuple[int, ...], kh: int, kw: int) -> np.ndarray:
    n, h, w, c = shape
    dpad = np.zeros((n, h + kh - 1, w + kw - 1, c), dcols.dtype)
    d = dcols.reshape(n, h, w, kh * kw, c)
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        dpad[:, i:i + h, j:j + w, :] += d[:, :, :, k, :]
    return dpad[:, kh // 2:kh // 2 + h, kw // 2:kw // 2 + w, :]


def w5(x: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    kh, kw, cin, cout = w.shape
    cols = im2col(x, kh, kw)
    wm = w.reshape(kh * kw * cin, cout)
    conv = cols @ wm
    _loss = np.maximum(conv, np.float32(0)).mean()
    dconv = (conv > 0).astype(x.dtype) * np.float32(1.0 / conv.size)
    dw = (cols.T @ dconv).reshape(w.shape)
    dx = _col2im(dconv @ wm.T, x.shape, kh, kw)
    return [dx, dw]


def w6(W1, b1, W2, b2, x, labels, v) -> list[np.ndarray]:
    """Forward, then H v for the loss as a function of W2 alone (r does not depend on W2):
    d/dW2 <grad, v> = r^T (p * (r v) - p * sum(p * (r v))) * sum(labels) / n."""
    r, _, p = _mlp_forward(W1, b1, W2, b2, x)
    n = np.float32(x.shape[0])
    dlogits = r @ v
    dp = p * dlogits - p * (p * dlogits).sum(axis=1, keepdims=True)
    return [r.T @ (dp * labels.sum(axis=1, keepdims=True)) / n]


def make(w: Workload) -> Runner:
    a = w.arrays
    if w.key == "W4":
        chain = w.extra["chain"]
        return lambda: w4(a["x"], chain)
    if w.key == "W6":
        v = w.extra["v"]
        return lambda: w6(*w.args, v)
    fn = {"W1": w1, "W2": w2, "W3": w3, "W5": w5}[w.key]
    args = w.args
    return lambda: fn(*args)
