"""The ONNX import table's Resize entry: nearest and linear, axis by axis.

Every resized axis has a static size, so where each output position reads from is known
at import: nearest is one gather of constant indices along the axis, linear two gathers
blended by constant weights. Both are linear in the input, so every derivative follows
from gather's. Cubic, antialias and tf_crop_and_resize are refused.
"""
from __future__ import annotations

import math

import numpy as np

from engine.shapes import normalize_axis

from .import_ops import Ctx, onnx_op, rank
from .scope import Value, known

_COORDINATES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                "asymmetric")
_NEAREST = {"round_prefer_floor": lambda x: np.ceil(x - 0.5),
            "round_prefer_ceil": lambda x: np.floor(x + 0.5),
            "floor": np.floor, "ceil": np.ceil}


@onnx_op("Resize", attrs=("antialias", "axes", "coordinate_transformation_mode",
                          "cubic_coeff_a", "exclude_outside", "extrapolation_value",
                          "keep_aspect_ratio_policy", "mode", "nearest_mode"))
def _resize(ctx: Ctx) -> Value:
    """modes nearest (nearest_mode any) and linear, per resized axis: gathers at constant
    source positions (coordinate_transformation_mode half_pixel, half_pixel_symmetric,
    pytorch_half_pixel, align_corners, asymmetric), linear blending its two neighbours
    by constant weights; scales or sizes known at import, static sizes of resized axes"""
    mode = ctx.attr("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise ctx.fail(f"mode {mode!r} is not supported (nearest, linear)")
    coordinates = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if coordinates not in _COORDINATES:
        raise ctx.fail(f"coordinate_transformation_mode {coordinates!r} is not supported "
                       f"({', '.join(_COORDINATES)})")
    nearest = ctx.attr("nearest_mode", "round_prefer_floor")
    if nearest not in _NEAREST:
        raise ctx.fail(f"nearest_mode {nearest!r} is not supported ({', '.join(_NEAREST)})")
    if ctx.attr("antialias", 0) or ctx.attr("exclude_outside", 0):
        raise ctx.fail("antialias and exclude_outside are not supported")
    if ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ctx.fail("keep_aspect_ratio_policy other than stretch is not supported")
    x = ctx.x(0)
    axes = [normalize_axis(a, rank(x)) for a in ctx.attr("axes", range(rank(x)))]
    for axis, in_len, scale, out_len in _targets(ctx, x, axes):
        if out_len == in_len and scale == 1.0:
            continue
        source = _source(coordinates, np.arange(out_len, dtype=np.float64), scale, in_len,
                         out_len)
        x = _along(ctx, x, axis, source, in_len, None if mode == "linear" else
                   _NEAREST[nearest])
    return x


def _targets(ctx: Ctx, x: Value, axes: list[int]) -> list[tuple[int, int, float, int]]:
    """(axis, input size, scale, output size) per listed axis, from scales or sizes."""
    scales = ctx.const(2, "scales")
    sizes = ctx.ints(3, "sizes")
    if scales is not None and scales.size == 0:
        scales = None
    if (scales is None) == (sizes is None):
        raise ctx.fail("exactly one of scales and sizes is required")
    given = [float(s) for s in scales.reshape(-1)] if scales is not None else sizes
    if len(given) != len(axes):  # type: ignore[arg-type]
        raise ctx.fail(f"{len(given)} scales or sizes for {len(axes)} axes")  # type: ignore
    out = []
    for axis, value in zip(axes, given):  # type: ignore[arg-type]
        (in_len,) = ctx.static(x, "Resize", [axis])
        if scales is not None:
            scale, out_len = float(value), math.floor(in_len * float(value))
        else:
            scale, out_len = int(value) / in_len, int(value)
        if out_len < 1 or scale <= 0:
            raise ctx.fail(f"axis {axis} of size {in_len} resized to {out_len}")
        out.append((axis, in_len, scale, out_len))
    return out


def _source(mode: str, i: np.ndarray, scale: float, in_len: int, out_len: int) -> np.ndarray:
    """Where each output position lies on the input axis (ONNX's coordinate modes)."""
    if mode == "asymmetric":
        return i / scale
    if mode == "align_corners":
        return np.zeros_like(i) if out_len == 1 else i * (in_len - 1) / (out_len - 1)
    if mode == "pytorch_half_pixel" and out_len == 1:
        return np.zeros_like(i)
    if mode == "half_pixel_symmetric":
        adjustment = out_len / (scale * in_len)
        offset = in_len / 2 * (1 - adjustment)
        return offset + (i + 0.5) / scale - 0.5
    return (i + 0.5) / scale - 0.5


def _along(ctx: Ctx, x: Value, axis: int, source: np.ndarray, in_len: int,
           rounding) -> Value:
    """x resampled at ``source`` on ``axis``: the nearest cell (``rounding``), or (None)
    the two neighbours weighted linearly; positions outside clamp to the edge."""
    def gather(positions: np.ndarray) -> Value:
        index = np.clip(positions, 0, in_len - 1).astype(np.int64)
        return ctx.emit("gather", x, known(index), axis=axis)

    if rounding is not None:
        return gather(rounding(source))
    below = np.floor(source)
    shape = [1] * rank(x)
    shape[axis] = len(source)
    weight = (source - below).reshape(shape).astype(x.spec.dtype)
    low, high = gather(below), gather(below + 1)
    return ctx.emit("add", ctx.emit("mul", low, known(1 - weight)),
                    ctx.emit("mul", high, known(weight)))
