"""Rules shared by many ops: shape and dtype inference, batching, and the two helpers
that broadcast a gradient up or sum it back down (the one place broadcasting is undone)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..shapes import broadcast, is_static, normalize_axis
from .contexts import BatchContext, JVPContext, VJPContext
from .registry import TensorSpec, check_dtypes


def unary(allowed: str = "float", out_dtype: str | None = None):
    """Same shape out; the input's dtype (or ``out_dtype``)."""

    def infer(specs: tuple[TensorSpec, ...], attrs: Mapping[str, Any]) -> TensorSpec:
        dt = check_dtypes(specs, allowed)
        return TensorSpec(specs[0].shape, out_dtype or dt)

    return infer


def broadcasting(allowed: str = "numeric", out_dtype: str | None = None):
    """numpy broadcasting of all inputs, which must share one dtype."""

    def infer(specs: tuple[TensorSpec, ...], attrs: Mapping[str, Any]) -> TensorSpec:
        dt = check_dtypes(specs, allowed)
        return TensorSpec(broadcast(*(s.shape for s in specs)), out_dtype or dt)

    return infer


def shaped_like(k: int):
    """The first input's dtype at the shape of input k, which lends only its shape (the
    internal "like" ops: a run-time shape needs no second, static path)."""

    def infer(specs: tuple[TensorSpec, ...], attrs: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(specs[k].shape, specs[0].dtype)

    return infer


def elementwise_batch(c: BatchContext) -> tuple[list[Any], list[int | None]]:
    """Batching of a one-input elementwise op: the op as is; the batch axis stays put."""
    return [c.apply(c.a)], [c.axes[0]]


def example_rank(c: BatchContext, k: int = 0) -> int:
    """Input k's rank in one example (its batch axis, if any, not counted)."""
    return c.inputs[k].ndim - (c.axes[k] is not None)


def example_shape(c: BatchContext, k: int = 0) -> tuple[int | None, ...]:
    """Input k's shape in one example (its batch axis, if any, taken out)."""
    shape = list(c.inputs[k].shape)
    if c.axes[k] is not None:
        del shape[c.axes[k] % len(shape)]
    return tuple(shape)


def lifted(c: BatchContext, k: int, rank: int) -> Any:
    """Batched input k with its batch axis first and size-1 axes after it up to ``rank``
    example axes, so numpy's right-aligned broadcasting pairs the example axes as in one
    example; an unbatched input as it is."""
    if c.axes[k] is None:
        return c.inputs[k]
    t = c.moved(k, 0)
    missing = rank - (t.ndim - 1)
    return t.builder.emit("expand_dims", [t], {"axis": list(range(1, 1 + missing))}) \
        if missing > 0 else t


def broadcasting_batch(c: BatchContext) -> tuple[list[Any], list[int | None]]:
    """Batching of a broadcasting op: every batched input lifted (``lifted``) to the
    example's output rank, unbatched inputs as they are; the batch axis first."""
    rank = len(c.outputs[0].shape)  # one example's output (a spec or a handle)
    return [c.apply(*(lifted(c, k, rank) for k in range(len(c.inputs))))], [0]


def batched_first(c: BatchContext, k: int) -> Any:
    """Input k with a batch axis first: moved there, or (unbatched) repeated along a new
    one (a broadcast, no copy, where its shape is static; else tiled), for ops whose
    batch rule needs the batch in every operand."""
    t = c.inputs[k]
    if c.axes[k] is not None:
        return c.moved(k, 0)
    if is_static(t.shape):
        return t.builder.emit("broadcast_to", [t], {"shape": [c.size, *t.shape]})
    tiled = t.builder.emit("expand_dims", [t], {"axis": 0})
    return t.builder.emit("tile", [tiled], {"multiples": [c.size] + [1] * t.ndim})


def leading_with(changes: Callable[[BatchContext], Mapping[str, Any]]):
    """The batching rule of an op that takes a leading batch axis as one more example axis
    once ``changes(c)`` shifts its attrs (an axis up by one, a shape grown in front):
    every input with the batch axis first (unbatched ones tiled), the op once; every
    output's batch axis first."""

    def batch(c: BatchContext) -> tuple[list[Any], list[int | None]]:
        out = c.apply(*(batched_first(c, k) for k in range(len(c.inputs))), **changes(c))
        outs = list(out) if isinstance(out, tuple) else [out]
        return outs, [0] * len(outs)

    return batch


# A one-input op on its trailing axes (or on all alike), and an op whose inputs must share
# one shape (add_n): the batch axis first, the op as is.
leading_batch = same_shape_batch = leading_with(lambda c: {})


def axis_batch(extra: int = 0):
    """``leading_with`` for an op with one ``axis`` attr over input 0's axes (``extra``
    more for an op that adds axes, as stack): the axis shifted past the batch axis."""
    return leading_with(lambda c: {"axis": shift_axis(c.attrs["axis"],
                                                      example_rank(c) + extra)})


def shift_axis(axis: int, example_rank: int) -> int:
    """An example's axis attr in the batched call, the batch axis being first."""
    return normalize_axis(axis, example_rank) + 1


def check_per_axis(values, rank: int, name: str) -> None:
    """An attr with one entry per input axis (paddings, multiples) has as many."""
    if len(values) != rank:
        raise ValueError(f"{name} has {len(values)} entries but the input has rank {rank}")


def _to_shape_of(g, like, static_op: str, like_op: str):
    """``g`` through ``static_op`` (to like's static shape) or ``like_op`` (to its run-time
    shape, when some dimension is unknown); nothing when the shapes already agree."""
    shape = like.spec.shape
    if g.spec.shape == shape and is_static(shape):
        return g
    if is_static(shape):
        return g.builder.emit(static_op, [g], {"shape": list(like.shape)})
    return g.builder.emit(like_op, [g, like])


def sum_to(g, like):
    """Undo broadcasting: sum ``g`` down to the shape of ``like``. The one place it happens."""
    return _to_shape_of(g, like, "sum_to_shape", "sum_to_like")


def broadcast_like(g, like):
    """Broadcast ``g`` up to ``like``'s shape (static when known, else at run time)."""
    return _to_shape_of(g, like, "broadcast_to", "broadcast_like")


def by_partials(partials: Callable[[Any], list[Any]]) -> dict[str, Any]:
    """The vjp, jvp and batch rules of an elementwise op, from its partial derivatives
    ``partials(c)``, d out / d input k (None: 1): the VJP multiplies the cotangent by
    each, the JVP sums the tangents times them, so the two modes cannot disagree."""

    def vjp(c: VJPContext) -> list[Any]:
        return [c.g if p is None else c.g * p for p in partials(c)]

    def jvp(c: JVPContext) -> list[Any]:
        terms = [t if p is None else t * p
                 for t, p in zip(c.tangents, partials(c), strict=True) if t is not None]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return [total]

    return {"vjp": vjp, "jvp": jvp, "batch": broadcasting_batch}
