"""Batching rules' helpers for the image ops (NHWC): the batch folds into an axis the op
already treats independently, so one call serves every example.

Images fold into their own batch axis N. A filter (or gradient) batched alone folds into
its channels, where each example's filter meets the shared operand on its own channels.
Images and filters batched together (conv2d's family) become one batched GEMM over the
images' patches (``conv2d_patches``), each example's patches against its own filter.
"""
from __future__ import annotations

from .. import fn
from .contexts import BatchContext
from .rules import batched_first, example_shape


def images_batch(c: BatchContext):
    """Every input an image: see ``in_images``."""
    return in_images(c, range(len(c.inputs)))


def in_images(c: BatchContext, images):
    """The op on image inputs [B, N, ...] seen as [B N, ...] (other inputs shared), once."""
    ins = list(c.inputs)
    for k in images:
        ins[k] = fold_n(batched_first(c, k))
    return [unfold_n(c.apply(*ins), c.size)], [0]


def fold_n(t):
    """[B, N, H, W, C] -> [B N, H, W, C]."""
    return fn.reshape(t, shape=[-1, *t.shape[2:]])


def unfold_n(t, size: int):
    """[B N, H, W, C] -> [B, N, H, W, C]."""
    return fn.reshape(t, shape=[size, -1, *t.shape[1:]])


def fold_channels(t, axis: int):
    """The batch (axis 0) folded into ``axis`` of the example: its entries become
    (batch, entry) pairs, batch major; [B, ...] -> [..., B d, ...]."""
    perm = [*range(1, axis + 1), 0, *range(axis + 1, t.ndim)]
    moved = fn.transpose(t, perm=perm)
    shape = list(moved.shape)
    return fn.reshape(moved, shape=[*shape[:axis], -1, *shape[axis + 2:]])


def unfold_channels(t, axis: int, size: int):
    """``axis`` of [.., B d, ..] split into (B, d): the batch axis lands at ``axis``."""
    shape = list(t.shape)
    return fn.reshape(t, shape=[*shape[:axis], size, -1, *shape[axis + 1:]])


def stand_in(c: BatchContext, k: int, axis: int | None):
    """A "like" input k (it lends only its shape) for the folded call: zeros of its
    example shape, with the batch folded into ``axis`` (None: not at all)."""
    shape = list(example_shape(c, k))
    if axis is not None:
        shape[axis] *= c.size
    return c.inputs[k].builder.emit("fill", [], {"shape": shape, "value": 0.0,
                                                "dtype": c.inputs[k].dtype})


def patch_rows(c: BatchContext, x, ksize):
    """Batched images [B, N, H, W, C] as patch rows [B, N OH OW, kh kw C], and (OH, OW)."""
    p = fn.conv2d_patches(fold_n(x), ksize=list(ksize), **c.attrs)
    return fn.reshape(p, shape=[c.size, -1, p.shape[3]]), p.shape[1:3]


def filter_rows(c: BatchContext, w):
    """Batched filters [B, kh, kw, C, O] as [B, kh kw C, O]."""
    return fn.reshape(w, shape=[c.size, -1, w.shape[-1]])


def only_likes(c: BatchContext, like: int):
    """Only the "like" input is batched: one answer for every example (it lends only its
    example shape)."""
    ins = list(c.inputs)
    ins[like] = stand_in(c, like, None)
    return [c.apply(*ins)], [None]


def input_gradients(c: BatchContext, g, w, like, attrs):
    """Per-example output gradients [B, N, OH, OW, O] and filters [B, kh, kw, C, O] to
    input gradients [B N, H, W, C] (the shape of ``like``): the patches' gradients from
    one batched GEMM, bno,bko->bnk, summed back by conv2d_patches_grad."""
    rows = fn.matmul(fn.reshape(g, shape=[c.size, -1, g.shape[-1]]), filter_rows(c, w),
                     transpose_b=True)
    cols = fn.reshape(rows, shape=[-1, *g.shape[2:4], rows.shape[-1]])
    return fn.conv2d_patches_grad(cols, like, ksize=list(w.shape[1:3]), **attrs)
