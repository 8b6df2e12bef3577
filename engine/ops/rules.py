"""Rules shared by many ops: shape and dtype inference, batching, and the two helpers
that broadcast a gradient up or sum it back down (the one place broadcasting is undone)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..shapes import broadcast, is_static
from .contexts import BatchContext
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


def check_per_axis(values, rank: int, name: str) -> None:
    """An attr with one entry per input axis (paddings, multiples) has as many."""
    if len(values) != rank:
        raise ValueError(f"{name} has {len(values)} entries but the input has rank {rank}")


def _to_shape_of(g, like, static_op: str, like_op: str):
    """``g`` through ``static_op`` (to like's static shape) or ``like_op`` (to its run-time
    shape, when some dimension is unknown); nothing when the shapes already agree."""
    if g.shape == like.shape and is_static(g.shape):
        return g
    if is_static(like.shape):
        return g.builder.emit(static_op, [g], {"shape": list(like.shape)})
    return g.builder.emit(like_op, [g, like])


def sum_to(g, like):
    """Undo broadcasting: sum ``g`` down to the shape of ``like``. The one place it happens."""
    return _to_shape_of(g, like, "sum_to_shape", "sum_to_like")


def broadcast_like(g, like):
    """Broadcast ``g`` up to ``like``'s shape (static when known, else at run time)."""
    return _to_shape_of(g, like, "broadcast_to", "broadcast_like")
