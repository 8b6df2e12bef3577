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
from ..ops.subscripts import LETTERS, resolve
from ..shapes import is_static, normalize_axis
from .vmap import RULES, LeadingContext, broadcast_batch

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


@rule("softmax", "log_softmax")
def _along_axis(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same(ctx.inputs, axis=normalize_axis(ctx.attrs["axis"], ctx.rank(0)) + 1)


@rule("softmax_cross_entropy_with_logits")
def _softmax_xent(ctx: LeadingContext) -> Sequence[Tensor]:
    axis = normalize_axis(ctx.attrs["axis"], ctx.rank(1)) + 1
    return ctx.same([ctx.materialized(0), ctx.materialized(1)], axis=axis)


@rule("sigmoid_cross_entropy_with_logits")
def _sigmoid_xent(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same([ctx.materialized(0), ctx.materialized(1)])


@rule("l2_loss")
def _l2_loss(ctx: LeadingContext) -> Sequence[Tensor]:
    x = ctx.inputs[0]
    return [F.sum(F.square(x), axis=list(range(1, x.ndim))) * 0.5]


# -- shapes: attrs gain the batch axis ----------------------------------------------------


@rule("reshape")
def _reshape(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same(ctx.inputs, shape=[ctx.size, *ctx.attrs["shape"]])


@rule("broadcast_to")
def _broadcast_to(ctx: LeadingContext) -> Sequence[Tensor]:
    return [_broadcast(ctx, list(ctx.attrs["shape"]))]


@rule("sum_to_shape")
def _sum_to_shape(ctx: LeadingContext) -> Sequence[Tensor]:
    return [_sum_to(ctx, list(ctx.attrs["shape"]))]


@rule("reshape_like", "broadcast_like", "sum_to_like")
def _like(ctx: LeadingContext) -> Sequence[Tensor]:
    """The second input only lends its example shape: the op's static form with it."""
    target = _static(ctx, ctx.example_shape(1))
    if ctx.node.op == "broadcast_like":
        return [_broadcast(ctx, target)]
    if not ctx.batched[0]:  # only the like is batched: one answer, repeated
        op = "reshape" if ctx.node.op == "reshape_like" else "sum_to_shape"
        return [broadcast_batch(ctx.emit(op, ctx.inputs[:1], shape=target), ctx.size)]
    if ctx.node.op == "reshape_like":
        return [F.reshape(ctx.inputs[0], shape=[ctx.size, *target])]
    return [_sum_to(ctx, target)]


def _broadcast(ctx: LeadingContext, target: list[int | None]) -> Tensor:
    x = _lifted(ctx, 0, len(target)) if ctx.batched[0] else ctx.inputs[0]
    return F.broadcast_to(x, shape=[ctx.size, *target])


def _sum_to(ctx: LeadingContext, target: list[int | None]) -> Tensor:
    x = ctx.inputs[0]
    extra = ctx.rank(0) - len(target)
    if extra > 0:  # leading example axes the target lacks: summed away first
        x = F.sum(x, axis=list(range(1, 1 + extra)))
    return F.sum_to_shape(x, shape=[ctx.size, *target])


@rule("expand_dims")
def _expand_dims(ctx: LeadingContext) -> Sequence[Tensor]:
    axis = ctx.attrs["axis"]
    items = [axis] if isinstance(axis, int) else list(axis)
    out_rank = ctx.rank(0) + len(items)
    return ctx.same(ctx.inputs, axis=[normalize_axis(a, out_rank) + 1 for a in items])


@rule("squeeze")
def _squeeze(ctx: LeadingContext) -> Sequence[Tensor]:
    shape = ctx.example_shape(0)
    axis = ctx.attrs["axis"]
    if axis is None:
        axes = [i for i, d in enumerate(shape) if d == 1]
    else:
        axes = [normalize_axis(a, len(shape)) for a in ([axis] if isinstance(axis, int)
                                                        else axis)]
    return ctx.same(ctx.inputs, axis=[a + 1 for a in axes])


@rule("concat")
def _concat(ctx: LeadingContext) -> Sequence[Tensor]:
    axis = normalize_axis(ctx.attrs["axis"], ctx.rank(0)) + 1
    return ctx.same([ctx.materialized(i) for i in range(len(ctx.inputs))], axis=axis)


@rule("stack")
def _stack(ctx: LeadingContext) -> Sequence[Tensor]:
    axis = normalize_axis(ctx.attrs["axis"], ctx.rank(0) + 1) + 1
    return ctx.same([ctx.materialized(i) for i in range(len(ctx.inputs))], axis=axis)


@rule("split")
def _split(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same(ctx.inputs, axis=normalize_axis(ctx.attrs["axis"], ctx.rank(0)) + 1)


@rule("split_like")
def _split_like(ctx: LeadingContext) -> Sequence[Tensor]:
    """Only the pieces' lengths come from the likes: a split with static sizes."""
    axis = normalize_axis(ctx.attrs["axis"], ctx.rank(0))
    sizes = _static(ctx, [ctx.example_shape(i)[axis] for i in range(1, len(ctx.inputs))])
    out = F.split(ctx.materialized(0), num_or_size_splits=sizes, axis=axis + 1)
    return list(out) if isinstance(out, tuple) else [out]


@rule("slice")
def _slice(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same(ctx.inputs, begin=[0, *ctx.attrs["begin"]],
                    size=[-1, *ctx.attrs["size"]])


@rule("pad")
def _pad(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same(ctx.inputs, paddings=[[0, 0], *map(list, ctx.attrs["paddings"])])


@rule("tile")
def _tile(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same(ctx.inputs, multiples=[1, *ctx.attrs["multiples"]])


def _strided_attrs(ctx: LeadingContext) -> dict:
    """strided_slice attrs with a whole batch axis in front: each mask bit moves up one."""
    attrs = ctx.attrs
    strides = attrs["strides"] or [1] * len(attrs["begin"])
    return {"begin": [None, *attrs["begin"]], "end": [None, *attrs["end"]],
            "strides": [1, *strides], "begin_mask": attrs["begin_mask"] << 1,
            "end_mask": attrs["end_mask"] << 1,
            "shrink_axis_mask": attrs["shrink_axis_mask"] << 1}


@rule("strided_slice")
def _strided_slice(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same(ctx.inputs, **_strided_attrs(ctx))


@rule("strided_slice_grad")
def _strided_slice_grad(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same([ctx.materialized(0), ctx.materialized(1)], **_strided_attrs(ctx))


@rule("tile_grad")
def _tile_grad(ctx: LeadingContext) -> Sequence[Tensor]:
    return ctx.same([ctx.materialized(0), ctx.materialized(1)],
                    multiples=[1, *ctx.attrs["multiples"]])


# -- contractions: a batch letter in every batched operand and in the output --------------


def _batched_einsum(ctx: LeadingContext, subscripts: Sequence[str], output: str
                    ) -> Sequence[Tensor]:
    used = "".join(subscripts) + output
    z = next(ch for ch in LETTERS if ch not in used)
    terms = [z + s if ctx.batched[i] else s for i, s in enumerate(subscripts)]
    eq = ",".join(terms) + "->" + z + output
    return [F.einsum(*ctx.inputs, equation=eq)]


@rule("einsum")
def _einsum(ctx: LeadingContext) -> Sequence[Tensor]:
    con = resolve(ctx.attrs["equation"], [ctx.rank(i) for i in range(len(ctx.inputs))])
    return _batched_einsum(ctx, con.inputs, con.output)


@rule("tensordot")
def _tensordot(ctx: LeadingContext) -> Sequence[Tensor]:
    from ..ops.linalg import _tensordot_contraction

    con = _tensordot_contraction(ctx.attrs, [ctx.rank(0), ctx.rank(1)])
    return _batched_einsum(ctx, con.inputs, con.output)


@rule("matmul")
def _matmul(ctx: LeadingContext) -> Sequence[Tensor]:
    """Vectors become matrices (and back); the batched operands' batch dims are padded to
    the other operand's, then numpy's broadcasting batched matmul does the rest."""
    ta, tb = ctx.attrs["transpose_a"], ctx.attrs["transpose_b"]
    ra, rb = ctx.rank(0), ctx.rank(1)
    a, b = ctx.inputs
    if ra == 1 and rb == 1:
        prod = (_lifted(ctx, 0, 1) if ctx.batched[0] else a) * (
            _lifted(ctx, 1, 1) if ctx.batched[1] else b)
        return [F.sum(prod, axis=[-1])]
    if ra == 1:
        a = F.expand_dims(a, axis=-2)
    if rb == 1:
        b = F.expand_dims(b, axis=-1)
    ea, eb = max(ra, 2), max(rb, 2)
    width = max(ea, eb)
    if ctx.batched[0] and ea < width:
        a = F.expand_dims(a, axis=list(range(1, 1 + width - ea)))
    if ctx.batched[1] and eb < width:
        b = F.expand_dims(b, axis=list(range(1, 1 + width - eb)))
    inner = a.shape[-2] if ta else a.shape[-1]
    if inner == 1:  # an outer product (a VJP's x^T g): a broadcast multiply, no matmul
        col = F.expand_dims(F.squeeze(a, axis=-2), axis=-1) if ta else a
        row = b if not tb else F.expand_dims(F.squeeze(b, axis=-1), axis=-2)
        out = col * row
    else:
        out = F.matmul(a, b, transpose_a=ta, transpose_b=tb)
    if rb == 1:
        out = F.squeeze(out, axis=-1)
    if ra == 1:
        out = F.squeeze(out, axis=-1 if rb == 1 else -2)
    return [out]


# -- windows: images fold the batch into their own batch axis N; a batched filter folds
# it into the channels, with a block-diagonal filter (B times the work, one op call) ------


@rule("max_pool", "avg_pool", "max_pool_grad", "max_pool_grad_grad", "avg_pool_grad")
def _pools(ctx: LeadingContext) -> Sequence[Tensor]:
    return [_in_images(ctx, range(len(ctx.inputs)))]


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
