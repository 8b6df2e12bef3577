"""col2im as a compiled loop (numba), for the convolutions' float32/float64 kernels.

Why: with few channels (W5's 16) a window's row of the patch matrix holds each tap as a
run of only ``C`` contiguous values, so numpy's strided adds of them (col2im) spend their
time starting one short inner loop per pixel and tap. One compiled loop over the pixels
does the same additions at memory speed; it is what lets conv2d's input gradient be one
GEMM (``g @ w^T``, every tap at once) and a col2im, rather than a GEMM and a strided add
per tap (W5's conv2d_backprop_input step: 1,077 -> 630 us). im2col stays numpy's strided
copy: a compiled one measured slower (W5's patches 181 vs 146 us; 200 vs 106 at C = 3).

Compiled lazily (``lazy_loops``): until then, or without numba, or with
``GRADSERVE_FUSION=0``, ``loop`` answers None and the kernels take their numpy paths:
the same numbers up to float rounding (each output element is the same sum in the same
order as numpy's; the one GEMM rounds as it will).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .lazy_loops import Lazy, njit


def scatter(cols: np.ndarray, out: np.ndarray, sh: int, sw: int, dh: int, dw: int,
            top: int, left: int) -> None:
    """col2im: each cols[n, y, x, i, j] (window (y, x)'s tap (i, j)) added onto the input
    position it was read from, out[n, y sh + i dh - top, x sw + j dw - left] (``out``
    zeros, NHWC); positions in the padding are dropped. Taps are added in (i, j) order, as
    ``windows.scatter`` adds them."""
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


def _compile() -> Callable[..., None]:
    """``scatter`` compiled for both float types (C-contiguous arrays, the ints as ints)."""
    import numba

    return njit(scatter, [(numba.types.Array(t, 6, "C", readonly=True),  # writable too
                           numba.types.Array(t, 4, "C"), *(numba.int64,) * 6)
                          for t in (numba.float32, numba.float64)])


LAZY: Lazy[Callable[..., None]] = Lazy(_compile)


def loop() -> Callable[..., None] | None:
    """The compiled ``scatter``, or None while it is not (yet) compiled (asked for by
    every convolution kernel run, compiled at the ``fusion.FUSE_AFTER``-th ask)."""
    return LAZY.get()


def compile_loop() -> None:
    """Compile ``scatter`` now (tests call it)."""
    LAZY.compile()
