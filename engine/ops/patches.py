"""im2col as graph ops: conv2d_patches (every window of an NHWC input as one row of
kh kw C values, the filter's HWI order) and its transpose conv2d_patches_grad (col2im:
each row summed back where it was read from).

They exist so that conv2d and its backprops batch over per-example images *and* filters
as one batched GEMM over the patches (``bnk,bko->bno``) instead of one convolution with a
block-diagonal filter, B times the work; and so that a plan computes conv2d and its
filter's gradient as GEMMs over one shared patch matrix (``engine.rewrites``, where the
forward's im2col is not redone for the gradient). Both are linear, each the other's
transpose.
"""
from __future__ import annotations

import numpy as np

from .. import fn
from . import attrs as parse
from .image_batching import images_batch
from .nn import CONV_ATTRS, _conv_out_shape, _input_columns, _rank4, _window
from .registry import Attr, TensorSpec, check_dtypes, defop, kernel
from .windows import add_columns

PATCH_ATTRS = {"ksize": Attr(parse=lambda v: parse.pair(v, "ksize"),
                             aliases=("kernel_size", "ksizes")),
               **CONV_ATTRS}


def _patches_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the input (NHWC)",))
    (kh, kw), c = attrs["ksize"], specs[0].shape[3]
    k = None if c is None else kh * kw * c
    return TensorSpec(_conv_out_shape(specs[0].shape, (kh, kw, c, k), attrs), dt)


@kernel
def _patches_kernel(attrs, specs):
    def run(x: np.ndarray) -> np.ndarray:
        cols, lay = _input_columns(attrs, x, attrs["ksize"])
        return cols.reshape(x.shape[0], lay.oh, lay.ow, cols.shape[1])

    return run


@kernel
def _patches_grad_kernel(attrs, specs):
    def run(g: np.ndarray, like: np.ndarray) -> np.ndarray:
        kh, kw = attrs["ksize"]
        win = _window(attrs, (kh, kw))
        lay = win.layout(like.shape[1], like.shape[2])
        rows = g.reshape(*g.shape[:3], kh, kw, like.shape[3])
        return add_columns(rows, like.shape, win, lay)

    return run


def _patches_grad_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the gradient of the patches", "the input"))
    return TensorSpec(specs[1].shape, dt)


defop("conv2d_patches", infer=_patches_infer, forward=_patches_kernel, attrs=PATCH_ATTRS,
      linear=(0,), transpose=lambda c: [fn.conv2d_patches_grad(c.g, c.a, **c.attrs)],
      batch=images_batch,
      doc="Internal (batched conv2d): [N, OH, OW, kh kw C], window (oh, ow) of the "
          "input flattened in the filter's (h, w, in) order; ksize, strides, padding, "
          "dilations as conv2d.")
defop("conv2d_patches_grad", inputs=2, infer=_patches_grad_infer,
      forward=_patches_grad_kernel, attrs=PATCH_ATTRS,
      linear=(0,), transpose=lambda c: [fn.conv2d_patches(c.g, **c.attrs), None],
      batch=images_batch,
      doc="Internal: conv2d_patches' transpose; each row summed back onto the input "
          "positions it was read from, shaped like the second input.")
