"""relu, relu's gradient and a whole-array sum as compiled loops (numba), for large float
arrays.

Why: numpy runs ``g * (x > 0)`` as two passes (a bool array, then a mixed-type product)
and ``maximum(x, zeros)`` reads a second array; one compiled pass over a contiguous array
does either at memory speed (W5's [8, 32, 32, 32] float32: relu_grad 52 -> 23 us of its
one-valued seed, 31 of a full one; relu 32 -> 20 us). numpy's float32 ``add.reduce`` is
its pairwise sum, unvectorized across the pairs: a blocked sum (each block of ``BLOCK``
added in any order, so in SIMD lanes; the blocks' sums added in float64) takes 37 -> 9
us; its error, like the pairwise sum's, is a few rounding errors of the magnitudes summed
(the rounding differs).

Below ``LOOP_MIN`` elements numpy's relu is as fast as numba's call (at 8,192 float32:
1.0 us each; relu_grad 2.7 -> 1.2, sum 1.9 -> 0.4 us), so the kernels ask only for larger
arrays (W2's [64, 256]: its plan 296 -> 294 us). Compiled lazily (``lazy_loops``): until
then the numpy paths, the same numbers (relu, relu_grad: every bit, NaN and signed zeros
included; the sum up to its rounding).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..fusion import FLOATS
from .lazy_loops import Lazy, njit

LOOP_MIN = 1 << 13  # elements: the smallest array the kernels hand to a compiled loop
BLOCK = 4096  # elements summed in any order (SIMD lanes) before a float64 add


def relu(x: np.ndarray, out: np.ndarray) -> None:
    """out = maximum(x, 0) as numpy computes it: NaN kept, -0 made +0."""
    zero = x.dtype.type(0)
    for i in range(x.size):
        v = x[i]
        out[i] = v if v > zero or v != v else zero


def relu_grad(g: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out = g * (x > 0), one element of each at a time (g * 1 or g * 0: NaN stays)."""
    one, zero = x.dtype.type(1), x.dtype.type(0)
    for i in range(x.size):
        out[i] = g[i] * (one if x[i] > zero else zero)


def relu_grad_one(g: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """``relu_grad`` for a g of one value (a broadcast seed): g * 1 and g * 0 once."""
    on, off = g[0] * x.dtype.type(1), g[0] * x.dtype.type(0)
    for i in range(x.size):
        out[i] = on if x[i] > 0 else off


def total(x: np.ndarray) -> float:
    """The sum of ``x``: blocks summed in x's dtype in any order (SIMD lanes; fastmath
    ``reassoc`` only, so NaN and inf propagate as in numpy), their sums in float64. Both
    start from -0, the sum's identity, so a sum of -0s is -0 as numpy's."""
    acc = -0.0
    for start in range(0, x.size, BLOCK):
        block = x[start:start + BLOCK]  # a block of its own: LLVM vectorizes its loop
        part = x.dtype.type(-0.0)
        for i in range(block.size):
            part += block[i]
        acc += part
    return acc


class Loops(NamedTuple):
    relu: object
    relu_grad: object
    relu_grad_one: object
    total: object


def _compile() -> Loops:
    """Each loop for float32 and float64 (C-contiguous 1-D arrays; inputs read-only,
    which writable arrays are cast to)."""
    import numba

    def sigs(ins: int, out: bool) -> list[tuple[object, ...]]:
        return [(*(numba.types.Array(t, 1, "C", readonly=True),) * ins,
                 *((numba.types.Array(t, 1, "C"),) if out else ()))
                for t in (numba.float32, numba.float64)]

    return Loops(njit(relu, sigs(1, True)), njit(relu_grad, sigs(2, True)),
                 njit(relu_grad_one, sigs(2, True)),
                 njit(total, sigs(1, False), fastmath={"reassoc"}))


LAZY: Lazy[Loops] = Lazy(_compile)


def loops(x: np.ndarray) -> Loops | None:
    """The compiled loops if ``x`` is an array they take (large, float, C-contiguous:
    flattened without a copy) and they are ready; each such ask counts toward compiling."""
    if x.size < LOOP_MIN or x.dtype not in FLOATS or not x.flags.c_contiguous:
        return None
    return LAZY.get()
