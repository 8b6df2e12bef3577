"""Sliding-window geometry and whole-array numpy kernels for conv2d and the pools (NHWC).

TensorFlow's rules: SAME gives ``out = ceil(in / stride)`` and pads ``total = max((out - 1)
* stride + (k - 1) * dilation + 1 - in, 0)`` with ``total // 2`` before; VALID gives
``out = ceil((in - span + 1) / stride)``. Windows are read through a strided view
(``as_strided``, no copy) and written back by a loop over the few kernel offsets only.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..fusion import FLOATS
from . import window_loops


@dataclass(frozen=True, slots=True)
class Window:
    """A 2-D window: size (kh, kw), strides, dilations, and SAME (else VALID) padding."""

    size: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    same: bool

    def span(self, axis: int) -> int:
        """Rows (axis 0) or columns (axis 1) one window covers, dilation included."""
        return (self.size[axis] - 1) * self.dilations[axis] + 1

    def out_dim(self, n: int | None, axis: int) -> int | None:
        """Static output size along H (0) or W (1); None stays unknown. Refuses empty."""
        if n is None:
            return None
        s = self.strides[axis]
        if self.same:
            return -(-n // s)
        span = self.span(axis)
        if n < span:
            raise ValueError(f"a VALID window spanning {span} does not fit an input of "
                             f"size {n} along {'HW'[axis]}")
        return (n - span) // s + 1

    def layout(self, h: int, w: int) -> Layout:
        """Run-time geometry of an input of height ``h`` and width ``w``."""
        oh, ow = self.out_dim(h, 0), self.out_dim(w, 1)
        assert oh is not None and ow is not None
        top = self._pad_before(h, oh, 0)
        left = self._pad_before(w, ow, 1)
        hp = max(h + top, (oh - 1) * self.strides[0] + self.span(0))
        wp = max(w + left, (ow - 1) * self.strides[1] + self.span(1))
        return Layout(h, w, oh, ow, top, left, hp, wp)

    def _pad_before(self, n: int, out: int, axis: int) -> int:
        if not self.same:
            return 0
        total = max((out - 1) * self.strides[axis] + self.span(axis) - n, 0)
        return total // 2


@dataclass(frozen=True, slots=True)
class Layout:
    """Input size, output size, padding before, and padded size, along H and W."""

    h: int
    w: int
    oh: int
    ow: int
    top: int
    left: int
    hp: int
    wp: int


def pad(x: np.ndarray, lay: Layout, value: float = 0.0) -> np.ndarray:
    """``x`` placed in a (hp, wp) frame filled with ``value``; ``x`` itself when none is needed."""
    n, h, w, c = x.shape
    if (lay.hp, lay.wp) == (h, w):
        return x
    out = np.full((n, lay.hp, lay.wp, c), value, dtype=x.dtype)
    out[:, lay.top:lay.top + h, lay.left:lay.left + w, :] = x
    return out


def crop(xp: np.ndarray, lay: Layout) -> np.ndarray:
    """The inverse of ``pad``: the input's own rows and columns."""
    return xp[:, lay.top:lay.top + lay.h, lay.left:lay.left + lay.w, :]


def patches(xp: np.ndarray, win: Window, lay: Layout) -> np.ndarray:
    """A read-only view (N, OH, OW, KH, KW, C) of every window of the padded input."""
    sn, sh, sw, sc = xp.strides
    (kh, kw), (th, tw), (dh, dw) = win.size, win.strides, win.dilations
    return as_strided(xp, shape=(xp.shape[0], lay.oh, lay.ow, kh, kw, xp.shape[3]),
                      strides=(sn, sh * th, sw * tw, sh * dh, sw * dw, sc), writeable=False)


def compiled_col2im(dtype: np.dtype) -> Callable[..., None] | None:
    """``window_loops``' compiled col2im for ``dtype``, if it is ready."""
    return window_loops.loop() if np.dtype(dtype) in FLOATS else None


def add_columns(cols: np.ndarray, shape: tuple[int, int, int, int], win: Window,
                lay: Layout) -> np.ndarray:
    """col2im, ``patches``' transpose: each window (N, OH, OW, KH, KW, C) of ``cols``
    summed back onto the input (of ``shape``) positions it was read from."""
    jit = compiled_col2im(cols.dtype)
    if jit is None:
        return scatter(lambda i, j: cols[:, :, :, i, j, :], shape, win, lay, cols.dtype)
    out = np.zeros(shape, cols.dtype)
    jit(np.ascontiguousarray(cols), out, *win.strides, *win.dilations, lay.top, lay.left)
    return out


def offsets(win: Window, lay: Layout) -> Iterator[tuple[int, int, tuple[slice, slice]]]:
    """Each kernel offset (i, j) and the strided rows/columns of the padded input it reads."""
    (kh, kw), (th, tw), (dh, dw) = win.size, win.strides, win.dilations
    for i in range(kh):
        rows = slice(i * dh, i * dh + (lay.oh - 1) * th + 1, th)
        for j in range(kw):
            cols = slice(j * dw, j * dw + (lay.ow - 1) * tw + 1, tw)
            yield i, j, (rows, cols)


def scatter(part: Callable[[int, int], np.ndarray], shape: tuple[int, int, int, int],
            win: Window, lay: Layout, dtype: np.dtype) -> np.ndarray:
    """Sum each offset's (N, OH, OW, C) contribution ``part(i, j)`` back onto the input
    positions it was read from (col2im); the padding is cropped away."""
    n, _, _, c = shape
    acc = np.zeros((n, lay.hp, lay.wp, c), dtype=dtype)
    for i, j, (rows, cols) in offsets(win, lay):
        acc[:, rows, cols, :] += part(i, j)
    return crop(acc, lay)


def window_counts(win: Window, lay: Layout, dtype: np.dtype) -> np.ndarray:
    """How many cells of each window lie inside the input (SAME avg_pool's divisor), (OH, OW, 1)."""

    def inside(out: int, before: int, n: int, axis: int) -> np.ndarray:
        starts = np.arange(out) * win.strides[axis] - before
        cells = starts[:, None] + np.arange(win.size[axis]) * win.dilations[axis]
        return np.count_nonzero((cells >= 0) & (cells < n), axis=1)

    rows = inside(lay.oh, lay.top, lay.h, 0)
    cols = inside(lay.ow, lay.left, lay.w, 1)
    return (rows[:, None] * cols[None, :]).astype(dtype)[:, :, None]


def first_argmax(xp: np.ndarray, win: Window, lay: Layout) -> np.ndarray:
    """Index (row-major in the window) of each window's first maximum, (N, OH, OW, C)."""
    view = patches(xp, win, lay)
    n, oh, ow, kh, kw, c = view.shape
    flat = view.reshape(n, oh, ow, kh * kw, c)
    return np.argmax(flat, axis=3)
