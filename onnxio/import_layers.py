"""Entries of the ONNX import table (``import_ops.TABLE``) for layers over channels:
the normalizations (onto our layer_norm and batch_norm) and DepthToSpace/SpaceToDepth
(reshape, transpose, reshape).
"""
from __future__ import annotations

import math

import numpy as np

from engine.shapes import normalize_axis

from .import_ops import Ctx, onnx_op, rank
from .scope import Value, known


@onnx_op("LayerNormalization", attrs=("axis", "epsilon", "stash_type"))
def _layer_norm(ctx: Ctx) -> Value:
    """layer_norm over the axes from axis on; scale and bias broadcast to those axes'
    shape where theirs differs, a missing bias zeros; the Mean and InvStdDev outputs,
    where asked for, as mean(x) and 1 / sqrt(mean((x - mean)^2) + epsilon) over those
    axes, kept (in float32 under stash_type 1, ONNX's default)"""
    x = ctx.x(0)
    axis = normalize_axis(ctx.attr("axis", -1), rank(x))
    axes = list(range(axis, rank(x)))
    features = tuple(x.spec.shape[axis:])

    def fitted(v: Value | None) -> Value:
        if v is not None and tuple(v.spec.shape) == features:
            return v
        ctx.static(x, "scale and bias of another shape than the normalized axes",
                   range(axis, rank(x)))
        if v is None:
            return known(np.zeros(features, dtype=x.spec.dtype))
        return ctx.emit("broadcast_to", v, shape=list(features))

    epsilon = float(ctx.attr("epsilon", 1e-5))
    y = ctx.emit("layer_norm", x, fitted(ctx.x(1)), fitted(ctx.opt(2)), axis=axes,
                 epsilon=epsilon)
    if not any(ctx.node.output[1:]):
        return y
    mean = ctx.emit("mean", x, axis=axes, keepdims=True)
    var = ctx.emit("mean", ctx.emit("square", ctx.emit("sub", x, mean)), axis=axes,
                   keepdims=True)
    stats = [mean, ctx.emit("rsqrt", ctx.emit("add", var, ctx.scalar(epsilon, var)))]
    if ctx.attr("stash_type", 1) == 1 and x.spec.dtype != "float32":
        stats = [ctx.emit("cast", v, dtype="float32") for v in stats]
    return [y, *stats]


@onnx_op("BatchNormalization", attrs=("epsilon", "momentum", "training_mode"))
def _batch_norm(ctx: Ctx) -> Value:
    """batch_norm (inference form) over channel axis 1"""
    if ctx.attr("training_mode", 0):
        raise ctx.fail("training_mode 1 is not supported (inference only)")
    return ctx.emit("batch_norm", *(ctx.x(i) for i in range(5)), axis=1,
                    epsilon=float(ctx.attr("epsilon", 1e-5)))


def _per_channel(ctx: Ctx, v: Value, x: Value) -> Value:
    """A [C] tensor shaped to broadcast over axis 1 of x."""
    return ctx.emit("reshape", v, shape=[-1] + [1] * (rank(x) - 2))


def _normalized(ctx: Ctx, x: Value, features: tuple[int, ...], axes: list[int]) -> Value:
    """layer_norm over ``axes`` (of sizes ``features``) with unit gain and no offset."""
    return ctx.emit("layer_norm", x, known(np.ones(features, x.spec.dtype)),
                    known(np.zeros(features, x.spec.dtype)), axis=axes,
                    epsilon=float(ctx.attr("epsilon", 1e-5)))


@onnx_op("InstanceNormalization", attrs=("epsilon",))
def _instance_norm(ctx: Ctx) -> Value:
    """layer_norm over the spatial axes (unit gain), then scale and bias per channel
    (static spatial sizes)"""
    x = ctx.x(0)
    spatial = ctx.static(x, "InstanceNormalization", range(1, rank(x)))[1:]
    y = _normalized(ctx, x, spatial, list(range(2, rank(x))))
    return ctx.emit("add", ctx.emit("mul", y, _per_channel(ctx, ctx.x(1), x)),
                    _per_channel(ctx, ctx.x(2), x))


@onnx_op("GroupNormalization", attrs=("epsilon", "num_groups", "stash_type"))
def _group_norm(ctx: Ctx) -> Value:
    """x as [N, groups, rest], layer_norm over rest (unit gain), back to x's shape, then
    scale and bias per channel (21: given per channel; 18: per group, repeated over its
    channels); static sizes past the batch axis"""
    x = ctx.x(0)
    dims = ctx.static(x, "GroupNormalization", range(1, rank(x)))
    groups = int(ctx.attr("num_groups"))
    channels = dims[0]
    if groups < 1 or channels % groups:
        raise ctx.fail(f"num_groups {groups} does not divide the {channels} channels")
    rest = channels // groups * math.prod(dims[1:])
    grouped = ctx.emit("reshape", x, shape=[-1, groups, rest])
    y = ctx.emit("reshape", _normalized(ctx, grouped, (rest,), [2]), shape=[-1, *dims])
    scale, bias = ctx.x(1), ctx.x(2)
    if ctx.version < 21:
        of_channel = known(np.arange(channels, dtype=np.int64) // (channels // groups))
        scale, bias = (ctx.emit("gather", v, of_channel, axis=0) for v in (scale, bias))
    return ctx.emit("add", ctx.emit("mul", y, _per_channel(ctx, scale, x)),
                    _per_channel(ctx, bias, x))


@onnx_op("DepthToSpace", attrs=("blocksize", "mode"))
def _depth_to_space(ctx: Ctx) -> Value:
    """reshape to [N, b, b, C/b^2, H, W] (DCR) or [N, C/b^2, b, b, H, W] (CRD), transpose
    the blocks beside H and W, reshape to [N, C/b^2, H b, W b] (static C, H, W)"""
    x = ctx.x(0)
    if rank(x) != 4:
        raise ctx.fail("DepthToSpace needs a rank-4 input")
    c, h, w = ctx.static(x, "DepthToSpace", range(1, 4))
    b = int(ctx.attr("blocksize"))
    mode = ctx.attr("mode", "DCR")
    if mode not in ("DCR", "CRD") or c % (b * b):
        raise ctx.fail(f"mode {mode!r} with blocksize {b} and {c} channels is not supported "
                       "(DCR or CRD; blocksize^2 dividing the channels)")
    depth = c // (b * b)
    if mode == "DCR":
        split, perm = [-1, b, b, depth, h, w], [0, 3, 4, 1, 5, 2]
    else:
        split, perm = [-1, depth, b, b, h, w], [0, 1, 4, 2, 5, 3]
    moved = ctx.emit("transpose", ctx.emit("reshape", x, shape=split), perm=perm)
    return ctx.emit("reshape", moved, shape=[-1, depth, h * b, w * b])


# Version 28 adds mode: DCR, the default, is version 13's order.
@onnx_op("SpaceToDepth", attrs=("blocksize", "mode"), versions=(13, 28))
def _space_to_depth(ctx: Ctx) -> Value:
    """reshape to [N, C, H/b, b, W/b, b], transpose the blocks before the channels (DCR)
    or after them (CRD, from version 28), reshape to [N, C b^2, H/b, W/b] (static C, H,
    W)"""
    x = ctx.x(0)
    if rank(x) != 4:
        raise ctx.fail("SpaceToDepth needs a rank-4 input")
    c, h, w = ctx.static(x, "SpaceToDepth", range(1, 4))
    b = int(ctx.attr("blocksize"))
    if h % b or w % b:
        raise ctx.fail(f"blocksize {b} does not divide the spatial sizes {h}, {w}")
    mode = ctx.attr("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise ctx.fail(f"mode {mode!r} is not supported (DCR, CRD)")
    blocks = ctx.emit("reshape", x, shape=[-1, c, h // b, b, w // b, b])
    perm = [0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4]
    moved = ctx.emit("transpose", blocks, perm=perm)
    return ctx.emit("reshape", moved, shape=[-1, c * b * b, h // b, w // b])
