"""The ONNX import table's Resize entry: nearest, linear and cubic, axis by axis.

Every resized axis has a static size, so where each output position reads from is known
at import: nearest is one gather of constant indices along the axis; linear and cubic are
a few gathers of constant taps (indices clamped to the edge) blended by constant weights,
2 taps for linear and 4 for cubic, more with antialias, whose kernel is widened by
1 / scale when downsampling and normalized. tf_crop_and_resize samples inside a region
known at import and writes extrapolation_value where the sample falls outside the input.
All of it is linear in the input, so every derivative follows from gather's.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine.shapes import normalize_axis

from .import_ops import Ctx, onnx_op, rank
from .scope import Value, known

_COORDINATES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                "asymmetric", "tf_crop_and_resize")
_NEAREST = {"round_prefer_floor": lambda x: np.ceil(x - 0.5),
            "round_prefer_ceil": lambda x: np.floor(x + 0.5),
            "floor": np.floor, "ceil": np.ceil}
_POLICIES = ("stretch", "not_larger", "not_smaller")


@onnx_op("Resize", attrs=("antialias", "axes", "coordinate_transformation_mode",
                          "cubic_coeff_a", "exclude_outside", "extrapolation_value",
                          "keep_aspect_ratio_policy", "mode", "nearest_mode"))
def _resize(ctx: Ctx) -> Value:
    """modes nearest (nearest_mode any), linear and cubic (cubic_coeff_a, exclude_outside;
    antialias for both when downsampling), per resized axis: gathers at constant source
    positions (every coordinate_transformation_mode; tf_crop_and_resize with roi known at
    import, extrapolation_value outside), linear and cubic blending their taps by
    constant weights; scales or sizes known at import (keep_aspect_ratio_policy any),
    static sizes of resized axes"""
    mode = ctx.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "cubic"):
        raise ctx.fail(f"mode {mode!r} is not supported (nearest, linear, cubic)")
    coordinates = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if coordinates not in _COORDINATES:
        raise ctx.fail(f"coordinate_transformation_mode {coordinates!r} is not supported "
                       f"({', '.join(_COORDINATES)})")
    nearest = ctx.attr("nearest_mode", "round_prefer_floor")
    if nearest not in _NEAREST:
        raise ctx.fail(f"nearest_mode {nearest!r} is not supported ({', '.join(_NEAREST)})")
    antialias = bool(ctx.attr("antialias", 0))
    if antialias and mode == "nearest":
        raise ctx.fail("antialias applies to modes linear and cubic, not nearest")
    x = ctx.x(0)
    if mode != "nearest" and not x.spec.dtype.startswith("float"):
        raise ctx.fail(f"mode {mode} needs a floating input, not {x.spec.dtype}")
    axes = [normalize_axis(a, rank(x)) for a in ctx.attr("axes", range(rank(x)))]
    regions = _regions(ctx, len(axes)) if coordinates == "tf_crop_and_resize" else None
    for k, (axis, in_len, scale, out_len) in enumerate(_targets(ctx, x, axes)):
        region = None if regions is None else regions[k]
        if out_len == in_len and scale == 1.0 and region in (None, (0.0, 1.0)):
            continue
        source = _source(coordinates, np.arange(out_len, dtype=np.float64), scale, in_len,
                         out_len, region)
        if mode == "nearest":
            x = _gather(ctx, x, axis, _NEAREST[nearest](source), in_len)
        elif mode == "linear" and not (antialias and scale < 1):
            x = _linear(ctx, x, axis, source, in_len)
        else:
            taps, weights = _taps(source, in_len, _kernel(ctx, mode),
                                  min(scale, 1.0) if antialias else 1.0,
                                  bool(ctx.attr("exclude_outside", 0)))
            x = _blend(ctx, x, axis, in_len, taps, weights)
        if region is not None and ((source < 0) | (source > in_len - 1)).any():
            x = _extrapolated(ctx, x, axis, (source < 0) | (source > in_len - 1))
    return x


def _targets(ctx: Ctx, x: Value, axes: list[int]) -> list[tuple[int, int, float, int]]:
    """(axis, input size, scale, output size) per listed axis, from scales or sizes; with
    sizes, keep_aspect_ratio_policy not_larger / not_smaller takes one scale for all the
    listed axes (the least / greatest size ratio) and rounds each size half up."""
    scales = ctx.const(2, "scales")
    sizes = ctx.ints(3, "sizes")
    if scales is not None and scales.size == 0:
        scales = None
    if (scales is None) == (sizes is None):
        raise ctx.fail("exactly one of scales and sizes is required")
    given = [float(s) for s in scales.reshape(-1)] if scales is not None else sizes
    if len(given) != len(axes):  # type: ignore[arg-type]
        raise ctx.fail(f"{len(given)} scales or sizes for {len(axes)} axes")  # type: ignore
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if policy not in _POLICIES:
        raise ctx.fail(f"keep_aspect_ratio_policy {policy!r} is not supported "
                       f"({', '.join(_POLICIES)})")
    in_lens = [ctx.static(x, "Resize", [axis])[0] for axis in axes]
    if sizes is not None and policy != "stretch":
        ratios = [int(s) / n for s, n in zip(sizes, in_lens)]
        common = min(ratios) if policy == "not_larger" else max(ratios)
        targets = [(common, math.floor(common * n + 0.5)) for n in in_lens]
    elif sizes is not None:
        targets = [(int(s) / n, int(s)) for s, n in zip(sizes, in_lens)]
    else:
        targets = [(s, math.floor(n * s)) for s, n in zip(given, in_lens)]  # type: ignore
    out = []
    for axis, in_len, (scale, out_len) in zip(axes, in_lens, targets):
        if out_len < 1 or scale <= 0:
            raise ctx.fail(f"axis {axis} of size {in_len} resized to {out_len}")
        out.append((axis, in_len, scale, out_len))
    return out


def _regions(ctx: Ctx, n_axes: int) -> list[tuple[float, float]]:
    """tf_crop_and_resize's roi: (start, end) per listed axis, as fractions of the axis
    (the starts first, then the ends)."""
    roi = ctx.const(1, "roi")
    if roi is None or roi.size != 2 * n_axes:
        raise ctx.fail(f"tf_crop_and_resize needs roi of {2 * n_axes} numbers (a start and "
                       f"an end per resized axis), got "
                       f"{'none' if roi is None else roi.size}")
    flat = [float(r) for r in roi.reshape(-1)]
    return list(zip(flat[:n_axes], flat[n_axes:]))


def _source(mode: str, i: np.ndarray, scale: float, in_len: int, out_len: int,
            region: tuple[float, float] | None = None) -> np.ndarray:
    """Where each output position lies on the input axis (ONNX's coordinate modes).
    align_corners and tf_crop_and_resize divide by the output's size less one, as
    onnxruntime does; ONNX's reference takes scale x input size there, unfloored, so
    the two differ when a scale does not give a whole size."""
    if mode == "tf_crop_and_resize":
        assert region is not None
        start, end = region
        if out_len == 1:
            return np.full_like(i, (start + end) / 2 * (in_len - 1))
        return start * (in_len - 1) + i * (end - start) * (in_len - 1) / (out_len - 1)
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


def _gather(ctx: Ctx, x: Value, axis: int, positions: np.ndarray, in_len: int) -> Value:
    """x read at ``positions`` on ``axis``, those outside clamped to the edge."""
    index = np.clip(positions, 0, in_len - 1).astype(np.int64)
    return ctx.emit("gather", x, known(index), axis=axis)


def _linear(ctx: Ctx, x: Value, axis: int, source: np.ndarray, in_len: int) -> Value:
    """The two neighbours of each source position weighted linearly."""
    below = np.floor(source)
    weight = (source - below).astype(x.spec.dtype)
    return _blend(ctx, x, axis, in_len, [below, below + 1], [1 - weight, weight])


def _kernel(ctx: Ctx, mode: str) -> tuple[float, Callable[[np.ndarray], np.ndarray]]:
    """(support, weight of a tap at each distance): linear's triangle, or Keys' cubic
    convolution kernel with a = cubic_coeff_a."""
    if mode == "linear":
        return 1.0, lambda d: np.clip(1 - np.abs(d), 0, None)
    a = float(ctx.attr("cubic_coeff_a", -0.75))

    def cubic(d: np.ndarray) -> np.ndarray:
        d = np.abs(d)
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        return np.where(d <= 1, near, np.where(d < 2, far, 0.0))

    return 2.0, cubic


def _taps(source: np.ndarray, in_len: int,
          kernel: tuple[float, Callable[[np.ndarray], np.ndarray]], stretch: float,
          exclude_outside: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The taps (unclamped indices) around each source position and their weights: the
    kernel, widened by 1 / ``stretch`` (antialias's scale, 1 otherwise) over the
    2 ceil(support / stretch) cells nearest each position (a position on a cell counts
    as past the cell before it, as ONNX's reference takes them), normalized; with
    exclude_outside, taps off the input weigh 0 and the others are renormalized."""
    support, weigh = kernel
    first = math.floor(-support / stretch) + 1
    base = np.ceil(source) - 1
    taps = [base + first + j for j in range(2 - 2 * first)]
    weights = np.stack([weigh((t - source) * stretch) for t in taps])
    if exclude_outside:
        weights = np.where((np.stack(taps) < 0) | (np.stack(taps) > in_len - 1), 0.0,
                           weights)
    total = weights.sum(axis=0)
    weights = weights / np.where(total == 0, 1.0, total)
    return taps, list(weights)


def _blend(ctx: Ctx, x: Value, axis: int, in_len: int, taps: list[np.ndarray],
           weights: list[np.ndarray]) -> Value:
    """The sum over taps of x gathered there (clamped to the edge) times its weight, each
    weight one per output position along ``axis``."""
    shape = [1] * rank(x)
    shape[axis] = len(taps[0])
    terms = [ctx.emit("mul", _gather(ctx, x, axis, t, in_len),
                      known(np.asarray(w).reshape(shape).astype(x.spec.dtype)))
             for t, w in zip(taps, weights)]
    total = terms[0]
    for term in terms[1:]:
        total = ctx.emit("add", total, term)
    return total


def _extrapolated(ctx: Ctx, x: Value, axis: int, outside: np.ndarray) -> Value:
    """tf_crop_and_resize: extrapolation_value where the source falls off the input."""
    shape = [1] * rank(x)
    shape[axis] = len(outside)
    fill = np.asarray(ctx.attr("extrapolation_value", 0.0), dtype=x.spec.dtype)
    return ctx.emit("where", known(outside.reshape(shape)), known(fill), x)
