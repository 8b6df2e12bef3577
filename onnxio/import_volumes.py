"""Window helpers for any number of spatial axes, and 3-D windows (rank-5 Conv, MaxPool,
AveragePool), which the Conv and pool entries of ``import_windows`` hand over here.

Layout: channels last (NHWC, NDHWC). A 3-D convolution folds depth into the batch: for
each kernel depth offset, the strided depth slice of the padded input is one conv2d with
that depth's filter, and the kd results add up (kd conv2d nodes). A 3-D pool, like a
dilated 2-D one, reduces its window's cells: one strided slice of the padded input per
kernel cell, stacked, then max or mean (AveragePool without counted padding corrected by
a constant). Static spatial sizes throughout.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .import_ops import Ctx, rank
from .scope import Value, known

Pads = list[tuple[int, int]]  # (begin, end) per spatial axis


def same_pads(n: int | None, k: int, s: int, d: int, upper: bool) -> tuple[int, int] | None:
    """auto_pad SAME's (begin, end) on an axis of size n (None where n is unknown)."""
    if n is None:
        return None
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def grouped(ctx: Ctx, op: str, x: Value, w: Value, group: int, **attrs: object) -> Value:
    """``op`` (conv2d, conv2d_transpose) per group: x's channels (its last axis) and the
    filter's last axis split into ``group`` parts, one op per part, concatenated."""
    if group == 1:
        return ctx.emit(op, x, w, **attrs)
    axis = rank(x) - 1
    xs = ctx.emit_multi("split", x, num_or_size_splits=group, axis=axis)
    ws = ctx.emit_multi("split", w, num_or_size_splits=group, axis=rank(w) - 1)
    return ctx.emit("concat", *[ctx.emit(op, a, b, **attrs) for a, b in zip(xs, ws)],
                    axis=axis)


def spatial_sizes(ctx: Ctx, what: str) -> tuple[int, ...]:
    """The spatial sizes of the window's input (the ONNX node's input 0, NC...), which
    ``what`` needs static: refused on that tensor, the one the model's author sees,
    before it is turned channels-last and padded (whose sizes are then static too)."""
    x = ctx.x(0)
    return ctx.static(x, what, range(2, rank(x)))


def window_cells(ctx: Ctx, xp: Value, kernel: Sequence[int], strides: Sequence[int],
                 dil: Sequence[int]) -> tuple[Value, list[int]]:
    """The window's cells of the padded channels-last ``xp``, stacked on a new leading
    axis (one strided slice per kernel cell), and the output's spatial sizes."""
    spatial_sizes(ctx, "this window")
    dims = xp.spec.shape[1:-1]
    out = [(n - (k - 1) * d - 1) // s + 1 for n, k, d, s in zip(dims, kernel, dil, strides)]
    if min(out) < 1:
        raise ctx.fail(f"the window is larger than the padded input {list(dims)}")
    cells = []
    for cell in np.ndindex(*kernel):
        starts = [c * d for c, d in zip(cell, dil)]
        cells.append(ctx.emit(
            "strided_slice", xp, begin=[None, *starts, None],
            end=[None, *(b + (o - 1) * s + 1 for b, o, s in zip(starts, out, strides)), None],
            strides=[1, *strides, 1]))
    return ctx.emit("stack", *cells, axis=0), out


def inside_counts(dims: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                  dil: Sequence[int], pads: Pads, out: Sequence[int]) -> np.ndarray:
    """How many of each output position's window cells lie inside the unpadded input."""
    total = np.ones((), dtype=np.int64)
    for n, k, s, d, (before, _), o in zip(dims, kernel, strides, dil, pads, out):
        cells = (np.arange(o) * s - before)[:, None] + np.arange(k) * d
        total = np.multiply.outer(total, np.count_nonzero((cells >= 0) & (cells < n), axis=1))
    return total


def padded(ctx: Ctx, x: Value, pads: Pads, fill: float) -> Value:
    if not any(b or e for b, e in pads):
        return x
    return ctx.emit("pad", x, paddings=[[0, 0], *[list(p) for p in pads], [0, 0]],
                    constant_values=fill)


# -- 3-D (rank-5 inputs) -------------------------------------------------------------------

def _triple(ctx: Ctx, name: str, default: int) -> list[int]:
    v = list(ctx.attr(name, [default] * 3))
    if len(v) != 3:
        raise ctx.fail(f"{name} must have 3 entries for a 3-D window")
    return v


def _pads3(ctx: Ctx, dims: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
           dil: Sequence[int]) -> Pads:
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto == "VALID":
        return [(0, 0)] * 3
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return [same_pads(n, k, s, d, auto == "SAME_UPPER")  # type: ignore[misc]
                for n, k, s, d in zip(dims, kernel, strides, dil)]
    if auto != "NOTSET":
        raise ctx.fail(f"auto_pad {auto!r} is not supported")
    p = list(ctx.attr("pads", [0] * 6))
    if len(p) != 6 or min(p) < 0:
        raise ctx.fail("pads must be 6 non-negative entries for a 3-D window")
    return list(zip(p[:3], p[3:]))


def _channels_last(ctx: Ctx, x: Value) -> tuple[Value, list[int]]:
    ctx.static(x, "a 3-D window", range(1, 5))  # channels and the spatial axes
    xc = ctx.emit("transpose", x, perm=[0, 2, 3, 4, 1])
    return xc, list(xc.spec.shape[1:4])  # type: ignore[arg-type]


def _channels_first(ctx: Ctx, y: Value) -> Value:
    return ctx.emit("transpose", y, perm=[0, 4, 1, 2, 3])


def conv3d(ctx: Ctx) -> Value:
    """Conv of a rank-5 input: per kernel depth offset, the strided depth slice of the
    padded input folded into the batch, one (grouped) conv2d with that depth's filter;
    the kd results added, unfolded, bias added"""
    x, w, bias = ctx.x(0), ctx.x(1), ctx.opt(2)
    if rank(w) != 5:
        raise ctx.fail(f"a 3-D Conv needs a rank-5 filter, got rank {rank(w)}")
    kernel = list(ctx.static(w, "a 3-D Conv's filter")[2:])
    strides, dil = _triple(ctx, "strides", 1), _triple(ctx, "dilations", 1)
    xc, dims = _channels_last(ctx, x)
    xp = padded(ctx, xc, _pads3(ctx, dims, kernel, strides, dil), 0.0)
    _, depth, h, wd, c = xp.spec.shape
    out_d = (depth - (kernel[0] - 1) * dil[0] - 1) // strides[0] + 1
    if out_d < 1:
        raise ctx.fail("the window is larger than the padded input")
    filters = ctx.emit("transpose", w, perm=[2, 3, 4, 1, 0])  # [kd, kh, kw, C/g, O]
    total = None
    for i in range(kernel[0]):
        top = i * dil[0]
        part = ctx.emit("strided_slice", xp, begin=[None, top, None, None, None],
                        end=[None, top + (out_d - 1) * strides[0] + 1, None, None, None],
                        strides=[1, strides[0], 1, 1, 1])
        flat = ctx.emit("reshape", part, shape=[-1, h, wd, c])
        f = ctx.emit("gather", filters, known(np.asarray(i, np.int64)), axis=0)
        y = grouped(ctx, "conv2d", flat, f, ctx.attr("group", 1), strides=strides[1:],
                    dilations=dil[1:], padding="VALID")
        total = y if total is None else ctx.emit("add", total, y)
    assert total is not None
    _, oh, ow, o = total.spec.shape
    y = ctx.emit("reshape", total, shape=[-1, out_d, oh, ow, o])
    if bias is not None:
        y = ctx.emit("add", y, bias)
    return _channels_first(ctx, y)


def pool3d(ctx: Ctx, kind: str) -> Value:
    """MaxPool (``kind`` "max") or AveragePool ("mean") of a rank-5 input: the window's
    cells reduced; without counted padding, the mean corrected per output position"""
    if ctx.attr("ceil_mode", 0):
        raise ctx.fail("ceil_mode 1 is not supported for 3-D pools")
    kernel = _triple(ctx, "kernel_shape", 1)
    strides, dil = _triple(ctx, "strides", 1), _triple(ctx, "dilations", 1)
    xc, dims = _channels_last(ctx, ctx.x(0))
    pads = _pads3(ctx, dims, kernel, strides, dil)
    fill = -math.inf if kind == "max" else 0.0
    cells, out = window_cells(ctx, padded(ctx, xc, pads, fill), kernel, strides, dil)
    y = ctx.emit(kind, cells, axis=[0])
    if kind == "mean" and not ctx.attr("count_include_pad", 0) and any(
            b or e for b, e in pads):
        counts = inside_counts(dims, kernel, strides, dil, pads, out)
        fix = math.prod(kernel) / counts[..., None]
        y = ctx.emit("mul", y, known(fix.astype(y.spec.dtype)))
    return _channels_first(ctx, y)
