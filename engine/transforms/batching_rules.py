"""Batching rules still registered onto ops by name, moving into the op declarations
(elementwise ops, reductions, gather and transpose already have; see rules.py).

Each rule sees its node's inputs with the batch axis leading (``ctx.batched[i]``) or
absent (shared by every example), and answers the batched outputs, batch axis leading,
by calling the op (or a few ops) once for the whole batch: JAX's recipe of moving the
batch axis where the op can treat it as one more independent axis. Axis attrs shift by
one; shape attrs gain the batch size in front.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import fn as F
from ..builder import Tensor
from ..errors import EngineError
from ..shapes import is_static
from .vmap import RULES, LeadingContext

Rule = Callable[[LeadingContext], Sequence[Tensor]]


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


def _static(ctx: LeadingContext, shape: Sequence[int | None]) -> list[int]:
    if not is_static(tuple(shape)):
        raise EngineError(f"vmap of {ctx.node.op} needs static shapes", node=ctx.node.name)
    return [int(d) for d in shape]  # type: ignore[arg-type]


def _lifted(ctx: LeadingContext, i: int, rank: int) -> Tensor:
    """Batched input i with size-1 axes after the batch axis, up to ``rank`` example axes,
    so numpy's right-aligned broadcasting pairs its axes with the other inputs'."""
    t = ctx.inputs[i]
    missing = rank - ctx.rank(i)
    return F.expand_dims(t, axis=list(range(1, 1 + missing))) if missing > 0 else t


@rule("conv2d")
def _conv2d(ctx: LeadingContext) -> Sequence[Tensor]:
    if not ctx.batched[1]:
        return [_in_images(ctx, [0])]
    x = _channels_folded(ctx.materialized(0))
    (out,) = ctx.same([x, _block_diagonal(ctx, ctx.inputs[1])])
    return [_channels_unfolded(out, ctx.size)]


@rule("conv2d_backprop_input")
def _conv2d_backprop_input(ctx: LeadingContext) -> Sequence[Tensor]:
    if not ctx.batched[1]:
        return [_in_images(ctx, [0, 2])]
    g = _channels_folded(ctx.materialized(0))
    like = _folded_like(ctx, 2)
    (out,) = ctx.same([g, _block_diagonal(ctx, ctx.inputs[1]), like])
    return [_channels_unfolded(out, ctx.size)]


@rule("conv2d_backprop_filter")
def _conv2d_backprop_filter(ctx: LeadingContext) -> Sequence[Tensor]:
    """Per example filter gradients: the (b, b) blocks of the channel-folded gradient."""
    x, g = _channels_folded(ctx.materialized(0)), _channels_folded(ctx.materialized(1))
    kh, kw, c, o = _static(ctx, ctx.example_shape(2))
    like = ctx.emit("fill", [], shape=[kh, kw, ctx.size * c, ctx.size * o], value=0.0,
                    dtype=x.dtype)
    (full,) = ctx.same([x, g, like])
    blocks = F.reshape(full, shape=[kh, kw, ctx.size, c, ctx.size, o])
    return [F.einsum(blocks, equation="hwacao->ahwco")]


def _in_images(ctx: LeadingContext, images: Sequence[int]) -> Tensor:
    """The op on image inputs [B, N, ...] seen as [B N, ...]; other inputs shared."""
    ins = list(ctx.inputs)
    for i in images:
        n, *rest = _static(ctx, ctx.example_shape(i))
        ins[i] = F.reshape(ctx.materialized(i), shape=[ctx.size * n, *rest])
    (out,) = ctx.same(ins)
    return F.reshape(out, shape=[ctx.size, *_static(ctx, ctx.node.spec.shape)])


def _channels_folded(t: Tensor) -> Tensor:
    """[B, N, H, W, C] -> [N, H, W, B C]."""
    b, n, h, w, c = t.shape
    return F.reshape(F.transpose(t, perm=[1, 2, 3, 0, 4]), shape=[n, h, w, b * c])


def _channels_unfolded(t: Tensor, size: int) -> Tensor:
    """[N, H, W, B C] -> [B, N, H, W, C]."""
    n, h, w, bc = t.shape
    split = F.reshape(t, shape=[n, h, w, size, bc // size])
    return F.transpose(split, perm=[3, 0, 1, 2, 4])


def _folded_like(ctx: LeadingContext, i: int) -> Tensor:
    """A stand-in of input i's shape with the batch folded into the channels (a "like"
    operand lends only its shape)."""
    n, h, w, c = _static(ctx, ctx.example_shape(i))
    return ctx.emit("fill", [], shape=[n, h, w, ctx.size * c], value=0.0,
                    dtype=ctx.inputs[i].dtype)


def _block_diagonal(ctx: LeadingContext, filters: Tensor) -> Tensor:
    """[B, kh, kw, C, O] -> [kh, kw, B C, B O], example b's filter in block (b, b)."""
    b, kh, kw, c, o = filters.shape
    eye = ctx.b.constant(np.eye(b), dtype=filters.dtype)
    spread = F.einsum(filters, eye, equation="ahwco,ad->hwacdo")
    return F.reshape(spread, shape=[kh, kw, b * c, b * o])
