"""TopK and Hardmax: selections by rank, written with comparisons (no sort op of ours).

Along an axis of static size n, element i's rank is how many elements come before it:
larger ones (smaller for largest=0), and equal ones at a lower index (ONNX's tie rule).
The k-th output picks, per row, the element of rank k: a bool selection ``[..., K, n]``
read through ``where`` and summed, so the gradient reaches the selected values only, as a
gather's does. The work is n x n comparisons per row, fine for the small K and n that
models top-k over (beam search, routing); the engine's element limit judges the rest.
"""
from __future__ import annotations

import numpy as np

from engine.shapes import normalize_axis

from .import_ops import Ctx, onnx_op, rank
from .scope import Value, known


def _to_last(ctx: Ctx, x: Value, axis: int) -> Value:
    r = rank(x)
    if axis == r - 1:
        return x
    return ctx.emit("transpose", x, perm=[a for a in range(r) if a != axis] + [axis])


def _from_last(ctx: Ctx, x: Value, axis: int) -> Value:
    r = rank(x)
    if axis == r - 1:
        return x
    perm = list(range(r - 1))
    perm.insert(axis, r - 1)
    return ctx.emit("transpose", x, perm=perm)


def _ranks(ctx: Ctx, xt: Value, largest: bool) -> Value:
    """Each element's rank along the last axis (int64), ties to the lower index."""
    n = xt.spec.shape[-1]
    assert n is not None
    xi = ctx.emit("expand_dims", xt, axis=-1)   # [..., n(i), 1]
    xj = ctx.emit("expand_dims", xt, axis=-2)   # [..., 1, n(j)]
    beats = ctx.emit("greater" if largest else "less", xj, xi)
    earlier = known(np.tril(np.ones((n, n), dtype=bool), -1))  # [i, j]: j < i
    tie = ctx.emit("logical_and", ctx.emit("equal", xj, xi), earlier)
    before = ctx.emit("cast", ctx.emit("logical_or", beats, tie), dtype="int64")
    return ctx.emit("sum", before, axis=[-1], keepdims=False)


def _axis_size(ctx: Ctx, x: Value, axis: int) -> int:
    (n,) = ctx.static(x, ctx.node.op_type, [axis])
    return n


@onnx_op("TopK", attrs=("axis", "largest", "sorted"))
def _top_k(ctx: Ctx) -> list[Value]:
    """values and int64 indices of the K largest (smallest) along axis, sorted, ties to
    the lower index: per row, where(rank == k, x, 0) summed (K known at import, static
    axis); the gradient goes to the selected values"""
    x = ctx.x(0)
    axis = normalize_axis(ctx.attr("axis", -1), rank(x))
    n = _axis_size(ctx, x, axis)
    k_in = ctx.ints(1, "K")
    assert k_in is not None
    if len(k_in) != 1 or not 0 <= k_in[0] <= n:
        raise ctx.fail(f"K is {k_in}; one value from 0 to the axis size {n} expected")
    k = k_in[0]
    xt = _to_last(ctx, x, axis)
    ranks = ctx.emit("expand_dims", _ranks(ctx, xt, bool(ctx.attr("largest", 1))), axis=-2)
    wanted = known(np.arange(k, dtype=np.int64).reshape(k, 1))
    select = ctx.emit("equal", ranks, wanted)   # [..., K, n]
    rows = ctx.emit("expand_dims", xt, axis=-2)
    values = ctx.emit("sum", ctx.emit("where", select, rows, ctx.scalar(0, x)),
                      axis=[-1], keepdims=False)
    where = known(np.arange(n, dtype=np.int64))
    indices = ctx.emit("sum", ctx.emit("where", select, where, known(np.int64(0))),
                       axis=[-1], keepdims=False)
    return [_from_last(ctx, values, axis), _from_last(ctx, indices, axis)]


@onnx_op("Hardmax", attrs=("axis",))
def _hardmax(ctx: Ctx) -> Value:
    """1 where the first maximum along axis is, else 0: one_hot(argmax) (no gradient: it
    is piecewise constant)"""
    x = ctx.x(0)
    axis = normalize_axis(ctx.attr("axis", -1), rank(x))
    n = _axis_size(ctx, x, axis)
    return ctx.emit("one_hot", ctx.emit("argmax", x, axis=axis), depth=n, axis=axis,
                    dtype=x.spec.dtype)
