"""Entries of the ONNX import table (``import_ops.TABLE``) that write at indices:
ScatterND and ScatterElements (indices known at import), and OneHot.

A scatter with known indices over a static shape is fixed at import: which flat position
of the data each update lands on. The answer is then ``where(written, updates gathered
to their positions, data)`` (reduction none; the last of repeated indices wins, as
onnxruntime does), ``data + updates added at their positions`` (reduction add, by
gather_grad, which sums repeats), or for mul, max and min, the data combined (mul,
maximum, minimum) with the first update landing on each position, then the second, and
so on, each round a where over the positions written in it. Every derivative follows
from gather's, where's and the combining op's.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine.shapes import normalize_axis

from .import_ops import Ctx, _indices, onnx_op, rank
from .scope import Value, known


def _scatter(ctx: Ctx, data: Value, updates: Value, targets: np.ndarray) -> Value:
    """data with updates (in row-major order) at the flat positions ``targets``."""
    shape = ctx.static(data, ctx.node.op_type)
    if targets.size != math.prod(ctx.static(updates, "the updates")):
        raise ctx.fail(f"{targets.size} positions for {updates.spec.shape} updates")
    reduction = ctx.attr("reduction", "none")
    flat_updates = ctx.emit("reshape", updates, shape=[-1])
    flat_targets = targets.reshape(-1).astype(np.int64)
    if reduction == "add":
        flat_data = ctx.emit("reshape", data, shape=[-1])
        added = ctx.emit("gather_grad", flat_updates, known(flat_targets), flat_data, axis=0)
        return ctx.emit("add", data, ctx.emit("reshape", added, shape=list(shape)))
    if reduction == "none":
        source = np.full(math.prod(shape), -1, dtype=np.int64)
        source[flat_targets] = np.arange(flat_targets.size)  # the last repeat wins
        return _placed(ctx, data, flat_updates, source, lambda _, placed: placed)
    if reduction not in _COMBINE:
        raise ctx.fail(f"reduction {reduction!r} is not supported (none, add, "
                       f"{', '.join(_COMBINE)})")
    out = data
    for source in _occurrences(flat_targets, math.prod(shape)):
        out = _placed(ctx, out, flat_updates, source,
                      lambda old, placed: ctx.emit(_COMBINE[reduction], old, placed))
    return out


_COMBINE = {"mul": "mul", "max": "maximum", "min": "minimum"}


def _occurrences(flat_targets: np.ndarray, size: int) -> list[np.ndarray]:
    """Per flat position, the update landing there k-th (in the updates' order), for each
    k up to the most repeated position: -1 where fewer land there. Combining them in
    turn applies the updates in their order, as ONNX's reference does."""
    seen = np.zeros(size, dtype=np.int64)
    rounds: list[np.ndarray] = []
    for i, target in enumerate(flat_targets):
        if seen[target] == len(rounds):
            rounds.append(np.full(size, -1, dtype=np.int64))
        rounds[seen[target]][target] = i
        seen[target] += 1
    return rounds


def _placed(ctx: Ctx, data: Value, flat_updates: Value, source: np.ndarray,
            combine: Callable[[Value, Value], Value]) -> Value:
    """data where ``source`` (per flat position, the update to take, or -1) is -1, and
    combine(data, that update) elsewhere."""
    shape = list(data.spec.shape)
    written = known((source >= 0).reshape(shape))
    placed = ctx.emit("gather", flat_updates, known(np.maximum(source, 0)), axis=0)
    return ctx.emit("where", written, combine(data, ctx.emit("reshape", placed, shape=shape)),
                    data)


@onnx_op("ScatterND", attrs=("reduction",))
def _scatter_nd(ctx: Ctx) -> Value:
    """updates written at index tuples known at import (static shapes; reduction none,
    add, mul, max or min; negative indices wrapped)"""
    data, updates = ctx.x(0), ctx.x(2)
    shape = ctx.static(data, "ScatterND")
    index = ctx.const(1, "indices")
    assert index is not None
    k = index.shape[-1] if index.ndim else 0
    if not 1 <= k <= len(shape):
        raise ctx.fail(f"indices of last size {k} into a tensor of rank {len(shape)}")
    dims = np.asarray(shape[:k])
    index = np.where(index < 0, index + dims, index)
    if (index < 0).any() or (index >= dims).any():
        raise ctx.fail(f"indices out of range for the shape {list(shape)}")
    positions = np.arange(math.prod(shape)).reshape(shape)
    return _scatter(ctx, data, updates, positions[tuple(np.moveaxis(index, -1, 0))])


@onnx_op("ScatterElements", attrs=("axis", "reduction"))
def _scatter_elements(ctx: Ctx) -> Value:
    """updates written along axis at indices known at import (static shapes; reduction
    none, add, mul, max or min; negative indices wrapped)"""
    data, updates = ctx.x(0), ctx.x(2)
    shape = ctx.static(data, "ScatterElements")
    axis = normalize_axis(ctx.attr("axis", 0), len(shape))
    index = ctx.const(1, "indices")
    assert index is not None
    index = np.where(index < 0, index + shape[axis], index)
    if index.ndim != len(shape) or (index < 0).any() or (index >= shape[axis]).any() or any(
            i > s for i, s in zip(index.shape, shape)):
        raise ctx.fail(f"indices of shape {list(index.shape)} do not fit {list(shape)} on "
                       f"axis {axis}")
    grid = list(np.indices(index.shape, dtype=np.int64))
    grid[axis] = index
    positions = np.arange(math.prod(shape)).reshape(shape)
    return _scatter(ctx, data, updates, positions[tuple(grid)])


@onnx_op("OneHot", attrs=("axis",))
def _one_hot(ctx: Ctx) -> Value:
    """one_hot (depth and [off, on] values known at import; negative indices wrapped)"""
    depth = ctx.ints(1, "depth")
    values = ctx.const(2, "values")
    assert depth is not None and values is not None
    if len(depth) != 1 or values.size != 2:
        raise ctx.fail("depth is one number and values [off, on]")
    idx = ctx.x(0)
    if not idx.spec.dtype.startswith("int"):
        idx = ctx.emit("cast", idx, dtype="int64")
    idx = _indices(ctx, idx, depth[0])
    off, on = (v.item() for v in np.asarray(values).reshape(-1))
    return ctx.emit("one_hot", idx, depth=depth[0], on_value=on, off_value=off,
                    axis=normalize_axis(ctx.attr("axis", -1), rank(idx) + 1),
                    dtype=str(values.dtype))
