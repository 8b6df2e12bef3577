"""More convolutions (NHWC): depthwise_conv2d (filter [h, w, in, multiplier]; each input
channel convolved with its own filters) and conv2d_transpose (TensorFlow's
conv2d_backprop_input as a user op, its output shape an attr).

Both are bilinear, and batch without B times the work (conv2d_transpose as
conv2d_backprop_input does, see nn.py). depthwise_conv2d is conv2d with the block-diagonal filter
``full[i, j, d, c m] = w[i, j, c, m] [d = c]``, so its transpose is conv2d's own two
backprops at that filter, read back on the diagonal; conv2d_transpose's transpose is
conv2d (in the value) and conv2d_backprop_filter (in the filter).
"""
from __future__ import annotations

import numpy as np

from .. import fn
from ..errors import EngineError
from ..shapes import is_static
from . import attrs as parse
from .contexts import BatchContext, VJPContext
from .image_batching import fold_channels, input_gradients, unfold_channels, unfold_n
from .nn import (
    CONV_ATTRS,
    _backprop_input_kernel,
    _check_channels,
    _conv_out_shape,
    _rank4,
    _window,
)
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import batched_first
from .windows import pad, patches


def _depthwise_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the input (NHWC)", "the filter [h, w, in, multiplier]"))
    x, w = specs[0].shape, specs[1].shape
    _check_channels(x, w, 1)
    n, oh, ow, _ = _conv_out_shape(x, w, attrs)
    channels = None if w[2] is None or w[3] is None else w[2] * w[3]
    return TensorSpec((n, oh, ow, channels), dt)


@kernel
def _depthwise_kernel(attrs, specs):
    def run(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        kh, kw, c, m = w.shape
        win = _window(attrs, (kh, kw))
        lay = win.layout(x.shape[1], x.shape[2])
        view = patches(pad(x, lay), win, lay)  # (N, OH, OW, KH, KW, C)
        out = np.einsum("nhwijc,ijcm->nhwcm", view, w, optimize=True)
        return out.reshape(x.shape[0], lay.oh, lay.ow, c * m)

    return run


def _full_filter(w):
    """The conv2d filter [h, w, in, in * multiplier] that depthwise_conv2d amounts to, and
    the identity that picks its diagonal blocks."""
    if not is_static(w.shape):
        raise EngineError("depthwise_conv2d's gradient needs the filter's static shape")
    kh, kw, c, m = w.shape
    eye = w.builder.constant(np.eye(c), w.dtype)
    full = fn.einsum(w, eye, equation="ijcm,dc->ijdcm")
    return fn.reshape(full, shape=[kh, kw, c, c * m]), eye


def _depthwise_transpose(c: VJPContext):
    x, w = c.inputs
    full, eye = _full_filter(w)
    kh, kw, ch, m = w.shape
    d_full = fn.conv2d_backprop_filter(x, c.g, full, **c.attrs)
    d_w = fn.einsum(fn.reshape(d_full, shape=[kh, kw, ch, ch, m]), eye,
                    equation="ijdcm,dc->ijcm")
    return [fn.conv2d_backprop_input(c.g, full, x, **c.attrs), d_w]


def _depthwise_batch(c: BatchContext):
    """The batch folds into the channels: B independent depthwise convolutions are one
    over B C channels, the filters stacked along ``in``."""
    x, w = batched_first(c, 0), batched_first(c, 1)
    _, _, h, wd, ch = x.shape
    kh, kw, _, m = w.shape[1:]
    xs = fn.reshape(fn.transpose(x, perm=[1, 2, 3, 0, 4]), shape=[-1, h, wd, c.size * ch])
    ws = fn.reshape(fn.transpose(w, perm=[1, 2, 0, 3, 4]), shape=[kh, kw, c.size * ch, m])
    out = c.apply(xs, ws)
    _, oh, ow, cm = c.outputs[0].shape
    return [fn.reshape(out, shape=[-1, oh, ow, c.size, cm])], [3]


defop("depthwise_conv2d", aliases=("DepthwiseConv2dNative", "depthwise_conv2d_native"),
      inputs=2, infer=_depthwise_infer, forward=_depthwise_kernel, attrs=CONV_ATTRS,
      linear=(0, 1), multilinear=True, transpose=_depthwise_transpose,
      batch=_depthwise_batch,
      doc="NHWC input, filter [h, w, in, multiplier]; output channel c * multiplier + m "
          "is input channel c convolved with filter (c, m). strides, padding, dilations "
          "as conv2d.")


def _output_shape(v):
    shape = parse.int_list(v)
    if len(shape) != 4 or any(d < 1 for d in shape):
        raise ValueError(f"expected four positive sizes (NHWC), got {list(shape)}")
    return shape


TRANSPOSE_ATTRS = {"output_shape": Attr(parse=_output_shape, aliases=("input_sizes",)),
                   **CONV_ATTRS}


def _conv_attrs(attrs):
    return {k: v for k, v in attrs.items() if k != "output_shape"}


def _conv_transpose_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the value (NHWC)", "the filter [h, w, out, in]"))
    value, w = specs[0].shape, specs[1].shape
    out = attrs["output_shape"]
    if w[3] is not None and value[3] is not None and w[3] != value[3]:
        raise OpTypeError(f"the filter's in-channels (its last axis, {w[3]}) differ from "
                          f"the value's channels ({value[3]})", input_index=1)
    _check_channels(out, w, 1)
    conv = _conv_out_shape(out, w, attrs)
    for axis, name in ((0, "batch"), (1, "height"), (2, "width")):
        if value[axis] is not None and conv[axis] is not None and value[axis] != conv[axis]:
            raise OpTypeError(f"output_shape {list(out)} convolved back gives {name} "
                              f"{conv[axis]}, but the value has {value[axis]}",
                              input_index=0)
    return TensorSpec(tuple(out), dt)


@kernel
def _conv_transpose_kernel(attrs, specs):
    backprop = _backprop_input_kernel.build(attrs, specs)
    shape = tuple(attrs["output_shape"])

    def run(value: np.ndarray, w: np.ndarray) -> np.ndarray:
        return backprop(value, w, np.broadcast_to(np.zeros((), value.dtype), shape))

    return run


def _conv_transpose_transpose(c: VJPContext):
    value, w = c.inputs
    conv = _conv_attrs(c.attrs)
    return [fn.conv2d(c.g, w, **conv), fn.conv2d_backprop_filter(c.g, value, w, **conv)]


def _conv_transpose_batch(c: BatchContext):
    """As conv2d_backprop_input's: a shared filter folds the batch into N, a filter
    batched alone into its out channels (the answer's), both at once are one batched
    GEMM over the answer's patches."""
    out = list(c.attrs["output_shape"])
    if c.axes[1] is None:
        value = batched_first(c, 0)
        _, n, h, w, o = value.shape
        folded = c.apply(fn.reshape(value, shape=[c.size * n, h, w, o]), c.b,
                         output_shape=[c.size * out[0], *out[1:]])
        return [fn.reshape(folded, shape=[c.size, *out])], [0]
    f = c.moved(1, 0)
    if c.axes[0] is None:
        folded = c.apply(c.a, fold_channels(f, 2), output_shape=[*out[:3], c.size * out[3]])
        return [unfold_channels(folded, 3, c.size)], [3]
    like = f.builder.emit("fill", [], {"shape": [c.size * out[0], *out[1:]], "value": 0.0,
                                       "dtype": f.dtype})
    dx = input_gradients(c, c.moved(0, 0), f, like, _conv_attrs(c.attrs))
    return [unfold_n(dx, c.size)], [0]


defop("conv2d_transpose", aliases=("Conv2DTranspose",), inputs=2,
      infer=_conv_transpose_infer, forward=_conv_transpose_kernel, attrs=TRANSPOSE_ATTRS,
      linear=(0, 1), multilinear=True, transpose=_conv_transpose_transpose,
      batch=_conv_transpose_batch,
      doc="Inputs value (NHWC) and filter [h, w, out, in]; attr output_shape (NHWC, "
          "required), strides, padding, dilations: the transpose of conv2d, i.e. "
          "TensorFlow's conv2d_backprop_input with the output's shape as an attr.")
