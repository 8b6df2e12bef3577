"""Entries of the ONNX import table (``import_ops.TABLE``) for windows: convolutions,
transposed convolutions and pools.

Layout: ONNX convolutions and pools are NCHW with OIHW filters; ours are NHWC with HWIO
filters, so their lowerings transpose in and out (and the filter once).
"""
from __future__ import annotations

import math

from .import_ops import Ctx, onnx_op, rank
from .import_volumes import (
    conv3d,
    grouped,
    inside_counts,
    padded,
    pool3d,
    same_pads,
    spatial_sizes,
    window_cells,
)
from .scope import Value, known


def _spatial(ctx: Ctx, x: Value) -> int:
    if rank(x) not in (3, 4):
        raise ctx.fail(f"only 1-D and 2-D windows (inputs of rank 3 or 4; Conv, MaxPool "
                       f"and AveragePool also 3-D, rank 5) are supported, got rank {rank(x)}")
    return rank(x) - 2


def _pairs(ctx: Ctx, name: str, default: int, spatial: int) -> tuple[int, int]:
    v = list(ctx.attr(name, [default] * spatial))
    return (1, v[0]) if spatial == 1 else (v[0], v[1])


def _pads(ctx: Ctx, spatial: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from ONNX's [x1_begin, x2_begin, x1_end, x2_end]."""
    p = list(ctx.attr("pads", [0] * 2 * spatial))
    if min(p, default=0) < 0:
        raise ctx.fail("negative pads are not supported")
    return (0, 0, p[0], p[1]) if spatial == 1 else (p[0], p[2], p[1], p[3])


def _window_pads(ctx: Ctx, xh: Value, kernel: tuple[int, int],
                 strides: tuple[int, int], dil: tuple[int, int], spatial: int
                 ) -> tuple[str, tuple[int, int, int, int]]:
    """("VALID" | "SAME" | "EXPLICIT", pads) of the NHWC ``xh``: SAME where the pads are
    TensorFlow's."""
    hw = xh.spec.shape[1:3]
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto == "VALID":
        return "VALID", (0, 0, 0, 0)
    tf_same = [same_pads(n, k, s, d, True) for n, k, s, d in zip(hw, kernel, strides, dil)]
    if auto == "SAME_UPPER":
        return "SAME", (0, 0, 0, 0)
    if auto == "SAME_LOWER":
        spatial_sizes(ctx, "auto_pad SAME_LOWER")
        lower = [same_pads(n, k, s, d, False) for n, k, s, d in zip(hw, kernel, strides, dil)]
        pads = (*lower[0], *lower[1])  # type: ignore[misc]
    elif auto == "NOTSET":
        pads = _pads(ctx, spatial)
    else:
        raise ctx.fail(f"auto_pad {auto!r} is not supported")
    if not any(pads):
        return "VALID", pads
    if None not in tf_same and pads == (*tf_same[0], *tf_same[1]):  # type: ignore[misc]
        return "SAME", pads
    return "EXPLICIT", pads


def _to_nhwc(ctx: Ctx, x: Value, spatial: int) -> Value:
    if spatial == 1:
        x = ctx.emit("expand_dims", x, axis=2)
    return ctx.emit("transpose", x, perm=[0, 2, 3, 1])


def _from_nhwc(ctx: Ctx, y: Value, spatial: int) -> Value:
    y = ctx.emit("transpose", y, perm=[0, 3, 1, 2])
    return ctx.emit("squeeze", y, axis=[2]) if spatial == 1 else y


def _per_axis(pads: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    """(top, bottom, left, right) as ``import_volumes``' (begin, end) per spatial axis."""
    t, b, left, r = pads
    return [(t, b), (left, r)]


@onnx_op("Conv", attrs=("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"))
def _conv(ctx: Ctx) -> Value:
    """conv2d between transposes (NCHW/OIHW to NHWC/HWIO and back); 1-D as 2-D of height
    1; 3-D as conv2d per kernel depth (``import_volumes``); group > 1 as split, one conv2d
    per group, concat; pads other than TensorFlow's SAME as a zero pad first; bias added
    in NHWC"""
    x, w, bias = ctx.x(0), ctx.x(1), ctx.opt(2)
    if rank(x) == 5:
        return conv3d(ctx)
    spatial = _spatial(ctx, x)
    wh = _filter_hwio(ctx, x, w, spatial)
    kernel2 = _pairs_of(tuple(w.spec.shape[2:]), spatial)
    strides, dil = _pairs(ctx, "strides", 1, spatial), _pairs(ctx, "dilations", 1, spatial)
    xh = _to_nhwc(ctx, x, spatial)
    mode, pads = _window_pads(ctx, xh, kernel2, strides, dil, spatial)
    if mode == "EXPLICIT":
        xh, mode = padded(ctx, xh, _per_axis(pads), 0.0), "VALID"
    y = grouped(ctx, "conv2d", xh, wh, ctx.attr("group", 1), strides=list(strides),
                dilations=list(dil), padding=mode)
    if bias is not None:
        y = ctx.emit("add", y, bias)
    return _from_nhwc(ctx, y, spatial)


@onnx_op("ConvTranspose", attrs=("auto_pad", "dilations", "group", "kernel_shape",
                                 "output_padding", "output_shape", "pads", "strides"))
def _conv_transpose(ctx: Ctx) -> Value:
    """conv2d_transpose (VALID, the full output) between transposes, then the pads cropped
    and output_padding added as zeros at the end; pads from output_shape or auto_pad as
    the ONNX spec computes them; group > 1 as split, one per group, concat; bias added in
    NHWC (static batch and spatial sizes)"""
    x, w, bias = ctx.x(0), ctx.x(1), ctx.opt(2)
    spatial = _spatial(ctx, x)
    wh = _filter_hwio(ctx, x, w, spatial)  # [C, M/g, kh, kw] -> [kh, kw, M/g, C]
    group = ctx.attr("group", 1)
    kernel = _pairs_of(tuple(w.spec.shape[2:]), spatial)
    strides, dil = _pairs(ctx, "strides", 1, spatial), _pairs(ctx, "dilations", 1, spatial)
    extra = _pairs_of(tuple(ctx.attr("output_padding", [0] * spatial)), spatial, 0)
    ctx.static(x, "ConvTranspose", [0, *range(2, rank(x))])  # batch and spatial axes
    ctx.static(w, "ConvTranspose's filter", [1])
    xh = _to_nhwc(ctx, x, spatial)
    n, *hw, _ = xh.spec.shape
    full = [s * (d_in - 1) + (k - 1) * d + 1 for s, d_in, k, d in zip(strides, hw, kernel, dil)]
    pads = _transpose_pads(ctx, spatial, full, extra, hw, strides)
    attrs = dict(output_shape=[n, *full, w.spec.shape[1]], strides=list(strides),
                 dilations=list(dil), padding="VALID")
    y = grouped(ctx, "conv2d_transpose", xh, wh, group, **attrs)
    (top, bottom), (left, right) = pads
    grow = [max(extra[0] - bottom, 0), max(extra[1] - right, 0)]
    if any(grow):
        y = ctx.emit("pad", y, paddings=[[0, 0], [0, grow[0]], [0, grow[1]], [0, 0]])
    cut = [max(bottom - extra[0], 0), max(right - extra[1], 0)]
    if top or left or any(cut):
        y = ctx.emit("strided_slice", y, begin=[None, top, left, None],
                     end=[None, -cut[0] or None, -cut[1] or None, None], strides=[1, 1, 1, 1])
    if bias is not None:
        y = ctx.emit("add", y, bias)
    return _from_nhwc(ctx, y, spatial)


def _filter_hwio(ctx: Ctx, x: Value, w: Value, spatial: int) -> Value:
    """The OIHW filter (IOHW for ConvTranspose) as HWIO (HWOI), 1-D as height 1, after
    checking it against the input's rank and the kernel_shape attribute."""
    if rank(w) != rank(x):
        raise ctx.fail("the filter's rank differs from the input's")
    kernel = list(w.spec.shape[2:])
    given = ctx.attr("kernel_shape", None)
    if given is not None and list(given) != kernel:
        raise ctx.fail(f"kernel_shape {list(given)} differs from the filter's {kernel}")
    return ctx.emit("transpose", ctx.emit("expand_dims", w, axis=2) if spatial == 1 else w,
                    perm=[2, 3, 1, 0])


def _pairs_of(v: tuple[int | None, ...], spatial: int, height: int = 1) -> tuple[int, int]:
    """A 1-D window's sizes as 2-D ones of height ``height`` (1 for sizes, 0 for pads)."""
    return (height, v[0]) if spatial == 1 else (v[0], v[1])  # type: ignore[return-value]


def _transpose_pads(ctx: Ctx, spatial: int, full: list[int], extra: tuple[int, int],
                    hw: list[int], strides: tuple[int, int]) -> list[tuple[int, int]]:
    """(begin, end) per spatial axis: the pads attribute, or from output_shape (or, with
    auto_pad SAME_*, input size * stride) the total the ONNX spec splits, the odd one at
    the end for SAME_UPPER and at the beginning otherwise."""
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise ctx.fail(f"auto_pad {auto!r} is not supported")
    shape = ctx.attr("output_shape", None)
    if shape is None and auto in ("NOTSET", "VALID"):
        t, b, left, r = _pads(ctx, spatial) if auto == "NOTSET" else (0, 0, 0, 0)
        return [(t, b), (left, r)]
    if shape is None:
        target = [n * s for n, s in zip(hw, strides)]
    else:
        target = list(_pairs_of(tuple(shape[-spatial:]), spatial))
    pads = []
    for f, e, t in zip(full, extra, target):
        total = f + e - t
        if total < 0:
            raise ctx.fail(f"output_shape {list(shape or target)} is larger than the "
                           "transposed convolution gives")
        small = total // 2
        pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
    return pads


Pool = tuple[Value, int, tuple[int, int], tuple[int, int], tuple[int, int], str,
             tuple[int, int, int, int]]


def _pool_common(ctx: Ctx) -> Pool:
    """(NHWC input, spatial rank, kernel, strides, dilations, padding mode, pads)."""
    x = ctx.x(0)
    spatial = _spatial(ctx, x)
    k = list(ctx.attr("kernel_shape"))
    kernel = (1, k[0]) if spatial == 1 else (k[0], k[1])
    strides = _pairs(ctx, "strides", 1, spatial)
    dil = _pairs(ctx, "dilations", 1, spatial)
    xh = _to_nhwc(ctx, x, spatial)
    mode, pads = _window_pads(ctx, xh, kernel, strides, dil, spatial)
    if ctx.attr("ceil_mode", 0):
        span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dil))
        _check_ceil_mode(ctx, xh.spec.shape[1:3], span, strides, pads)
    return xh, spatial, kernel, strides, dil, mode, pads


def _check_ceil_mode(ctx: Ctx, hw, kernel, strides, pads) -> None:
    """ceil_mode is taken where it gives the floor's output size (else refused)."""
    t, b, left, r = pads
    for n, k, s, extra in zip(hw, kernel, strides, (t + b, left + r)):
        if n is None or (n + extra - k) % s:
            raise ctx.fail("ceil_mode 1 is supported only where it gives the same output "
                           "size as ceil_mode 0")


def _explicit(ctx: Ctx, xh: Value, kernel: tuple[int, int], strides: tuple[int, int],
              dil: tuple[int, int], mode: str, pads: tuple[int, int, int, int]
              ) -> tuple[int, int, int, int]:
    """The pads themselves where the mode is TensorFlow's SAME (static spatial dims)."""
    if mode != "SAME":
        return pads
    spatial_sizes(ctx, "auto_pad SAME here")
    found = [same_pads(n, k, s, d, True)
             for n, k, s, d in zip(xh.spec.shape[1:3], kernel, strides, dil)]
    return (*found[0], *found[1])  # type: ignore[return-value]


def _cells(ctx: Ctx, xh: Value, kernel: tuple[int, int], strides: tuple[int, int],
           dil: tuple[int, int], pads: tuple[int, int, int, int], fill: float) -> Value:
    """A dilated window's cells of the padded input, stacked on a new leading axis."""
    return window_cells(ctx, padded(ctx, xh, _per_axis(pads), fill), kernel, strides, dil)[0]


# Version 22 of both pools adds bfloat16 and says that under ceil_mode a window starting in
# the right padding is dropped: ceil_mode is taken only where it gives the floor's output
# size (_check_ceil_mode; 3-D pools refuse it), so no such window is ever made here.
@onnx_op("MaxPool", attrs=("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                           "storage_order", "strides"), versions=(12, 22))
def _max_pool(ctx: Ctx) -> Value:
    """max_pool in NHWC; pads other than TensorFlow's SAME pad with -inf first;
    dilations: the max over the window's cells, one strided slice each (the Indices
    output is not given); 3-D: ``import_volumes``"""
    if rank(ctx.x(0)) == 5:
        return pool3d(ctx, "max")
    xh, spatial, kernel, strides, dil, mode, pads = _pool_common(ctx)
    if dil != (1, 1):
        pads = _explicit(ctx, xh, kernel, strides, dil, mode, pads)
        cells = _cells(ctx, xh, kernel, strides, dil, pads, -math.inf)
        return _from_nhwc(ctx, ctx.emit("max", cells, axis=[0]), spatial)
    if mode == "EXPLICIT":
        xh, mode = padded(ctx, xh, _per_axis(pads), -math.inf), "VALID"
    y = ctx.emit("max_pool", xh, ksize=list(kernel), strides=list(strides), padding=mode)
    return _from_nhwc(ctx, y, spatial)


@onnx_op("AveragePool", attrs=("auto_pad", "ceil_mode", "count_include_pad", "dilations",
                               "kernel_shape", "pads", "strides"), versions=(11, 19, 22))
def _average_pool(ctx: Ctx) -> Value:
    """avg_pool in NHWC: TensorFlow's SAME where the pads are its own and padding is not
    counted; else a zero pad first, and where padding is not counted a constant
    correction k / (cells inside) per output position; dilations: the mean over the
    window's cells, one strided slice each (the same correction); 3-D: ``import_volumes``"""
    if rank(ctx.x(0)) == 5:
        return pool3d(ctx, "mean")
    xh, spatial, kernel, strides, dil, mode, pads = _pool_common(ctx)
    include = bool(ctx.attr("count_include_pad", 0))
    if (mode == "SAME" and include) or dil != (1, 1):
        pads = _explicit(ctx, xh, kernel, strides, dil, mode, pads)
        mode = "EXPLICIT"
    attrs = dict(ksize=list(kernel), strides=list(strides))
    if mode != "EXPLICIT":
        return _from_nhwc(ctx, ctx.emit("avg_pool", xh, padding=mode, **attrs), spatial)
    if dil != (1, 1):
        cells = _cells(ctx, xh, kernel, strides, dil, pads, 0.0)
        y = ctx.emit("mean", cells, axis=[0])
    else:
        y = ctx.emit("avg_pool", padded(ctx, xh, _per_axis(pads), 0.0), padding="VALID", **attrs)
    if not include:
        spatial_sizes(ctx, "count_include_pad 0 with these pads")  # so y's too
        (_, oh, ow, _), (h, w) = y.spec.shape, xh.spec.shape[1:3]
        counts = inside_counts((h, w), kernel, strides, dil,
                               _per_axis(pads), (oh, ow))
        fix = (kernel[0] * kernel[1]) / counts[..., None]
        y = ctx.emit("mul", y, known(fix.astype(y.spec.dtype)))
    return _from_nhwc(ctx, y, spatial)


@onnx_op("GlobalAveragePool")
def _global_average_pool(ctx: Ctx) -> Value:
    """mean over the spatial axes, kept"""
    x = ctx.x(0)
    return ctx.emit("mean", x, axis=list(range(2, rank(x))), keepdims=True)


@onnx_op("GlobalMaxPool")
def _global_max_pool(ctx: Ctx) -> Value:
    """max over the spatial axes, kept"""
    x = ctx.x(0)
    return ctx.emit("max", x, axis=list(range(2, rank(x))), keepdims=True)
