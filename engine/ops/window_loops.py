"""im2col and col2im as compiled loops (numba), for the convolutions' float32/float64 kernels.

Why: with few channels (W5's 16) a window's row of the patch matrix is a run of only
``C`` contiguous values, so numpy's strided copy (im2col) and its strided adds (col2im)
spend their time starting one short inner loop per pixel and tap. One compiled loop over
the pixels does the same arithmetic at memory speed; it is what lets conv2d's input
gradient be one GEMM (``g @ w^T``, every tap at once) and a col2im, rather than a GEMM
and a strided add per tap (W5's conv2d_backprop_input step: 1,077 -> 630 us).

Compiling costs ~1 s from numba's cache (its import included; ~4 s without), so, like
fusion, it happens once per process on the fusion thread (``fusion.later``), asked for
after a few convolutions (``loops``). Until it is done, or without numba, or with
``GRADSERVE_FUSION=0``, ``loops`` answers None and the kernels take their numpy paths:
the same numbers up to float rounding (each loop's output element is the same copy, or
the same sum in the same order, as numpy's; the one GEMM rounds as it will).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import fusion

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def gather(x: np.ndarray, out: np.ndarray, sh: int, sw: int, dh: int, dw: int,
           top: int, left: int) -> None:
    """out[n, y, x, i, j] = x[n, y sh + i dh - top, x sw + j dw - left], zero outside."""
    n, h, wd, c = x.shape
    _, oh, ow, kh, kw, _ = out.shape
    for b in range(n):
        for y in range(oh):
            for q in range(ow):
                for i in range(kh):
                    r = y * sh + i * dh - top
                    for j in range(kw):
                        s = q * sw + j * dw - left
                        if r < 0 or r >= h or s < 0 or s >= wd:
                            for k in range(c):
                                out[b, y, q, i, j, k] = 0
                        else:
                            for k in range(c):
                                out[b, y, q, i, j, k] = x[b, r, s, k]


def scatter(cols: np.ndarray, out: np.ndarray, sh: int, sw: int, dh: int, dw: int,
            top: int, left: int) -> None:
    """gather's transpose: each cols[n, y, x, i, j] added onto the input position it was
    read from (``out`` zeros, NHWC); positions in the padding are dropped. Taps are added
    in (i, j) order, as ``windows.scatter`` adds them."""
    n, h, wd, c = out.shape
    _, oh, ow, kh, kw, _ = cols.shape
    for b in range(n):
        for i in range(kh):
            for j in range(kw):
                for y in range(oh):
                    r = y * sh + i * dh - top
                    if r < 0 or r >= h:
                        continue
                    for q in range(ow):
                        s = q * sw + j * dw - left
                        if s < 0 or s >= wd:
                            continue
                        for k in range(c):
                            out[b, r, s, k] += cols[b, y, q, i, j, k]


_COMPILED: dict[str, Callable[..., None]] = {}
_CALLS = [0]  # convolution kernel runs asking so far, up to fusion.FUSE_AFTER
_ASK = threading.Lock()


def loops() -> dict[str, Callable[..., None]] | None:
    """The compiled ``gather`` and ``scatter`` (C-contiguous float32/float64 arrays, the
    ints as ints), or None while they are not (yet) compiled. They are asked for at the
    ``fusion.FUSE_AFTER``-th call, as a plan fuses: a worker that served one convolution
    does not compile (the cold path never pays; the compile holds the GIL for ~1 s)."""
    if _COMPILED:
        return _COMPILED
    if _CALLS[0] < fusion.FUSE_AFTER and fusion.enabled():
        with _ASK:
            _CALLS[0] += 1
            if _CALLS[0] == fusion.FUSE_AFTER:
                fusion.later(compile_loops)
    return None


def compile_loops() -> None:
    """Compile both loops for both float types (on the fusion thread; tests call it)."""
    import numba

    ints = (numba.int64,) * 6
    compiled: dict[str, Any] = {}
    for fn, rank_in, rank_out in ((gather, 4, 6), (scatter, 6, 4)):
        sigs = [(numba.types.Array(t, rank_in, "C", readonly=True),  # writable ones cast
                 numba.types.Array(t, rank_out, "C"), *ints)
                for t in (numba.float32, numba.float64)]
        try:
            compiled[fn.__name__] = numba.njit(sigs, cache=True, nogil=True)(fn)
        except RuntimeError:  # no writable cache directory: compile for this process only
            compiled[fn.__name__] = numba.njit(sigs, nogil=True)(fn)
    _COMPILED.update(compiled)
