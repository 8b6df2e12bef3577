"""Neural-network ops: softmax, log_softmax, cross-entropies, l2_loss, conv2d, pools.

Every gradient is itself a graph op with a VJP, so second order works through all of
them: conv2d's two backprops are linear in each argument and are each other's (and
conv2d's) adjoints; max_pool's gradient routes to the first maximum of each window
(TensorFlow's MaxPoolGrad) and its own VJP gathers from the same positions; avg_pool's
gradient spreads evenly and its adjoint is avg_pool again.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import fn
from ..dtypes import INTEGER
from ..shapes import normalize_axis, same
from . import attrs as parse
from .contexts import BatchContext, JVPContext, VJPContext
from .image_batching import (
    filter_rows,
    fold_channels,
    images_batch,
    in_images,
    input_gradients,
    only_likes,
    patch_rows,
    stand_in,
    unfold_channels,
    unfold_n,
)
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import axis_batch, batched_first, example_shape, same_shape_batch
from .windows import (
    Layout,
    Window,
    add_columns,
    compiled_col2im,
    first_argmax,
    offsets,
    pad,
    patches,
    scatter,
    window_counts,
)

AXIS_ATTR = {"axis": Attr(-1, parse.integer, aliases=("dim",))}


def _axis(attrs: Mapping[str, Any], rank: int) -> int:
    return normalize_axis(attrs["axis"], rank)


def _checked_axis_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _axis(attrs, len(specs[0].shape))
    return TensorSpec(specs[0].shape, dt)


# -- softmax and log_softmax ------------------------------------------------------------

def _row_max(x: np.ndarray, axis: int) -> np.ndarray:
    """x's maximum along ``axis``, kept as size 1. Along a short last axis numpy's reduce
    runs one tiny inner loop per row (W2's [64, 10] logits: 4 us, [100000, 2]: 6 ms), so
    there the rows are made columns first and reduced elementwise, one vectorized pass
    (2 us, 0.1 ms; the maxima are the same numbers)."""
    k = x.shape[axis] if x.ndim else 0
    if axis not in (-1, x.ndim - 1) or not 0 < k <= SHORT_ROW or x.size < MANY_ROWS * k:
        return x.max(axis=axis, keepdims=True)
    return np.maximum.reduce(x.reshape(-1, k).T.copy(), axis=0).reshape(*x.shape[:-1], 1)


SHORT_ROW = 64  # elements: up to here the transposed reduce wins (bench: [64, 64] 6 -> 4 us)
MANY_ROWS = 8  # rows: below it the copy costs more than the loops it saves


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """x minus its maximum along ``axis`` (finite maxima only), so exp never overflows.
    Whether all maxima are finite is asked of their sum: one reduce, not two calls (W2's
    [64, 1]: 0.7 us, 1.4 us); finite maxima whose sum overflows take the careful way,
    which gives the same numbers."""
    m = _row_max(x, axis)
    if not math.isfinite(np.add.reduce(m, axis=None)):
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
    return x - m


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(_shifted(x, axis))
    e /= np.add.reduce(e, axis, keepdims=True)  # ndarray.sum's own wrapper: ~0.2 us more
    return e


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    s = _shifted(x, axis)
    s -= np.log(np.add.reduce(np.exp(s), axis, keepdims=True))
    return s


def _along(forward: Callable[..., Any]):
    """``forward(*arrays, axis)`` as a kernel, the ``axis`` attr bound once per plan: a
    run then passes no keywords (registry.bind's ``**attrs`` call costs ~0.3 us)."""

    def build(attrs, specs):
        axis = attrs["axis"]
        if len(specs) == 1:
            return lambda x: forward(x, axis)
        return lambda a, b: forward(a, b, axis)

    return kernel(build)


def _softmax_vjp(c: VJPContext):
    axis = [c.attrs["axis"]]
    return [c.out * (c.g - fn.sum(c.g * c.out, axis=axis, keepdims=True))]


def _log_softmax_vjp(c: VJPContext):
    axis = [c.attrs["axis"]]
    return [c.g - fn.exp(c.out) * fn.sum(c.g, axis=axis, keepdims=True)]


defop("softmax", aliases=("Softmax",), infer=_checked_axis_infer, forward=_along(_softmax),
      vjp=_softmax_vjp, attrs=AXIS_ATTR, batch=axis_batch(),
      doc="Numerically stable: the maximum is subtracted.")
defop("log_softmax", aliases=("LogSoftmax",), infer=_checked_axis_infer,
      forward=_along(_log_softmax), vjp=_log_softmax_vjp, attrs=AXIS_ATTR,
      batch=axis_batch())

# -- cross-entropies ----------------------------------------------------------------------


def _pair_infer(specs, what: str):
    """labels and logits: one float dtype, one shape (unknown dimensions match anything)."""
    dt = check_dtypes(specs, "float")
    labels, logits = specs[0].shape, specs[1].shape
    if not same(labels, logits):
        raise OpTypeError(f"{what}: labels {list(labels)} and logits {list(logits)} must have "
                          "the same shape", input_index=1)
    merged = tuple(b if a is None else a for a, b in zip(labels, logits, strict=True))
    return merged, dt


def _softmax_xent_infer(specs, attrs):
    shape, dt = _pair_infer(specs, "softmax_cross_entropy_with_logits")
    axis = _axis(attrs, len(shape))
    return [TensorSpec(shape[:axis] + shape[axis + 1:], dt), TensorSpec(shape, dt)]


def _softmax_xent(labels: np.ndarray, logits: np.ndarray,
                  axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(loss, backprop) from one log-softmax, as both libraries' kernels compute them:
    the backprop is softmax - labels, whatever the labels sum to."""
    return _xent_of(labels, _log_softmax(logits, axis), axis)


def _xent_of(labels: np.ndarray, log_p: np.ndarray,
             axis: int) -> tuple[np.ndarray, np.ndarray]:
    loss = -np.add.reduce(labels * log_p, axis)
    backprop = np.exp(log_p)
    backprop -= labels
    return loss, backprop


def _softmax_vjp_of(h, s, axis: int):
    """The softmax's VJP at the softmax s for the cotangent h: s h - s sum(s h)."""
    hs = h * s
    return hs - s * fn.sum(hs, axis=[axis], keepdims=True)


Softmax = Callable[[], Any]  # the logits' softmax as a graph tensor, made when first needed


def _softmax_of(c: VJPContext | JVPContext) -> Softmax:
    """The softmax of a cross-entropy's logits, emitted by the rule that needs it."""
    return lambda: fn.softmax(c.b, axis=_axis(c.attrs, c.b.ndim))


def _softmax_xent_vjp(c: VJPContext, softmax: Softmax | None = None):
    """From the loss, as the libraries' rules give it: d/dlogits = g backprop = g (softmax
    - labels), the true derivative only for labels that sum to one; d/dlabels = -g
    log_softmax (TensorFlow) or zeros (MindSpore's bprop). From the backprop output (second
    order): d/dlogits = s h - s sum(s h), the softmax's own VJP, and d/dlabels = -h (its
    true derivative; TensorFlow's rule leaves it out, which would make the mixed second
    derivative of the loss wrong at every point)."""
    labels, logits = c.a, c.b
    axis = _axis(c.attrs, logits.ndim)
    g = fn.expand_dims(c.g, axis=axis)
    d_logits = g * c.outputs[1]
    d_labels = -g * fn.log_softmax(logits, axis=axis) if c.tf else fn.zeros_like(labels)
    if c.given[1]:
        s = (softmax or _softmax_of(c))()
        d_logits = d_logits + _softmax_vjp_of(c.gs[1], s, axis)
        d_labels = d_labels - c.gs[1]
    return [d_labels, d_logits]


def _softmax_xent_jvp(c: JVPContext, softmax: Softmax | None = None):
    """Forward mode gives the true derivative (JAX's; recorded: sample-jvp-softmax-cross-
    entropy): d loss = <softmax sum(labels) - labels, d logits> - <log_softmax, d labels>,
    d backprop = the softmax's JVP of d logits - d labels."""
    labels, logits = c.a, c.b
    axis = _axis(c.attrs, logits.ndim)
    d_labels, d_logits = c.tangents
    loss, backprop = [], []
    if d_logits is not None:
        s = (softmax or _softmax_of(c))()
        mass = fn.sum(labels, axis=[axis], keepdims=True)
        loss.append(fn.sum((s * mass - labels) * d_logits, axis=[axis]))
        backprop.append(_softmax_vjp_of(d_logits, s, axis))  # symmetric Jacobian
    if d_labels is not None:
        loss.append(-fn.sum(fn.log_softmax(logits, axis=axis) * d_labels, axis=[axis]))
        backprop.append(-d_labels)
    return [_total(loss), _total(backprop)]


def _total(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


defop("softmax_cross_entropy_with_logits",
      aliases=("SoftmaxCrossEntropyWithLogits", "softmax_cross_entropy_with_logits_v2"),
      inputs=2, infer=_softmax_xent_infer, forward=_along(_softmax_xent),
      vjp=_softmax_xent_vjp,
      jvp=_softmax_xent_jvp, batch=axis_batch(),
      attrs=AXIS_ATTR, multi_output=True,
      doc="Inputs labels, logits (same shape). Output 0 (the node's name) is the loss, "
          "without ``axis``; output 1 (``name:1``) is the kernels' second output, the "
          "backprop softmax - labels. The logits' gradient is g times it in both "
          "dialects (the kernel value, the true derivative only for labels that sum to "
          "1); the labels' is -g log_softmax (TensorFlow) or zeros (MindSpore).")


# A plan holding a cross-entropy and the softmax of the same logits (forward over reverse:
# the cross-entropy's JVP needs the softmax) computes both in one kernel, from one shifted
# exp; ``simplify`` puts this op in the cross-entropy's place and reads output 2 instead
# of the softmax.

def _xent_softmax_infer(specs, attrs):
    loss, backprop = _softmax_xent_infer(specs, attrs)
    return [loss, backprop, backprop]  # the softmax: the logits' shape and dtype


def _xent_softmax(labels: np.ndarray, logits: np.ndarray,
                  axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss, backprop, softmax), each the same numbers as the two ops' own kernels give:
    log_softmax and softmax share the shifted logits, their exp and its sum."""
    shifted = _shifted(logits, axis)
    e = np.exp(shifted)
    total = np.add.reduce(e, axis, keepdims=True)
    shifted -= np.log(total)
    e /= total
    return (*_xent_of(labels, shifted, axis), e)


def _xent_softmax_vjp(c: VJPContext):
    d_labels, d_logits = _softmax_xent_vjp(c, lambda: c.outputs[2])
    if c.given[2]:
        s = c.outputs[2]
        d_logits = d_logits + _softmax_vjp_of(c.gs[2], s, _axis(c.attrs, s.ndim))
    return [d_labels, d_logits]


def _xent_softmax_jvp(c: JVPContext):
    s, d_logits = c.outputs[2], c.tangents[1]
    d_s = None if d_logits is None else _softmax_vjp_of(d_logits, s, _axis(c.attrs, s.ndim))
    return [*_softmax_xent_jvp(c, lambda: s), d_s]


defop("softmax_cross_entropy_and_softmax", inputs=2, infer=_xent_softmax_infer,
      forward=_along(_xent_softmax), vjp=_xent_softmax_vjp, jvp=_xent_softmax_jvp,
      batch=axis_batch(), attrs=AXIS_ATTR, multi_output=True,
      doc="Internal (a plan's): softmax_cross_entropy_with_logits' two outputs and, as "
          "output 2, the logits' softmax along ``axis``, from one shifted exp.")


def _sparse_xent_infer(specs, attrs):
    labels, logits = specs
    dt = check_dtypes([logits], "float")
    if labels.dtype not in INTEGER:
        raise OpTypeError(f"labels have dtype {labels.dtype}; the sparse cross-entropy takes "
                          "int32 or int64 class indices", input_index=0)
    if not logits.shape or not same(labels.shape, logits.shape[:-1]):
        raise OpTypeError(f"labels {list(labels.shape)} must have the shape of logits "
                          f"{list(logits.shape)} without its last (class) axis",
                          input_index=0)
    return [TensorSpec(logits.shape[:-1], dt), TensorSpec(logits.shape, dt)]


def _sparse_xent(labels: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = logits.shape[-1]
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"labels{list(where)} = {int(labels[where])} is not a class in "
                         f"[0, {classes})")
    log_p = _log_softmax(logits, -1)
    at = labels[..., None]
    loss = -np.take_along_axis(log_p, at, axis=-1)[..., 0]
    backprop = np.exp(log_p)
    np.put_along_axis(backprop, at, np.take_along_axis(backprop, at, axis=-1) - 1, axis=-1)
    return loss, backprop


def _sparse_xent_vjp(c: VJPContext):
    """d/dlogits = g backprop (softmax - one_hot(labels)); from the backprop output, the
    softmax's VJP (TensorFlow's second derivative). Labels are indices: no gradient."""
    logits = c.b
    d_logits = fn.expand_dims(c.g, axis=-1) * c.outputs[1]
    if c.given[1]:
        axis = logits.ndim - 1
        d_logits = d_logits + _softmax_vjp_of(c.gs[1], fn.softmax(logits, axis=axis), axis)
    return [None, d_logits]


def _sparse_xent_jvp(c: JVPContext):
    """d loss = <backprop, d logits> over the classes; d backprop = the softmax's JVP."""
    dz = c.tangents[1]
    if dz is None:
        return [None, None]
    axis = c.b.ndim - 1
    s = fn.softmax(c.b, axis=axis)
    d_backprop = s * dz - s * fn.sum(s * dz, axis=[axis], keepdims=True)
    return [fn.sum(c.outputs[1] * dz, axis=[axis]), d_backprop]


def _sparse_xent_batch(c: BatchContext):
    """Any leading axes are examples already: both inputs get the batch axis first."""
    loss, backprop = c.apply(batched_first(c, 0), batched_first(c, 1))
    return [loss, backprop], [0, 0]


defop("sparse_softmax_cross_entropy_with_logits",
      aliases=("SparseSoftmaxCrossEntropyWithLogits",), inputs=2, infer=_sparse_xent_infer,
      forward=_sparse_xent, vjp=_sparse_xent_vjp, jvp=_sparse_xent_jvp,
      batch=_sparse_xent_batch, multi_output=True,
      doc="Inputs labels (class indices, the shape of logits without its last axis) and "
          "logits. Output 0 is the loss, output 1 the backprop softmax - one_hot(labels), "
          "as TensorFlow's op; a label out of range is an error.")


def _sigmoid_xent_infer(specs, attrs):
    shape, dt = _pair_infer(specs, "sigmoid_cross_entropy_with_logits")
    return TensorSpec(shape, dt)


def _sigmoid_xent(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    x = logits
    return np.maximum(x, 0) - x * labels + np.log1p(np.exp(-np.abs(x)))


defop("sigmoid_cross_entropy_with_logits", aliases=("SigmoidCrossEntropyWithLogits",),
      inputs=2, infer=_sigmoid_xent_infer, forward=_sigmoid_xent,
      vjp=lambda c: [-c.g * c.b, c.g * (fn.sigmoid(c.b) - c.a)], batch=same_shape_batch,
      doc="Stable form max(x, 0) - x z + log1p(exp(-|x|)); gradients to labels and logits.")


def _l2_loss(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(np.square(x)) / 2, dtype=x.dtype)


def _l2_loss_infer(specs, attrs):
    return TensorSpec((), check_dtypes(specs, "float"))


def _l2_loss_batch(c: BatchContext):
    """One scalar per example: the sum over every axis but the batch axis."""
    x = c.moved(0, 0)
    return [fn.sum(fn.square(x), axis=list(range(1, x.ndim))) * 0.5], [0]


defop("l2_loss", aliases=("L2Loss",), infer=_l2_loss_infer, forward=_l2_loss,
      vjp=lambda c: [c.g * c.a], batch=_l2_loss_batch, doc="sum(x ** 2) / 2, a scalar.")


# -- conv2d and its two backprops -------------------------------------------------------


def _pair_attr(name: str) -> Any:
    return lambda v: parse.pair(v, name)


WINDOW_ATTRS = {
    "strides": Attr((1, 1), _pair_attr("strides"), aliases=("stride",)),
    "padding": Attr("VALID", parse.choice("SAME", "VALID"), aliases=("pad_mode",)),
    "data_format": Attr("NHWC", parse.choice("NHWC")),
}
CONV_ATTRS = {**WINDOW_ATTRS,
              "dilations": Attr((1, 1), _pair_attr("dilations"),
                                aliases=("dilation", "dilation_rate"))}
POOL_ATTRS = {"ksize": Attr(parse=_pair_attr("ksize"), aliases=("kernel_size", "pool_size")),
              **WINDOW_ATTRS}


def _window(attrs: Mapping[str, Any], size: tuple[int, int]) -> Window:
    return Window(tuple(size), attrs["strides"], attrs.get("dilations", (1, 1)),
                  attrs["padding"] == "SAME")


def _rank4(specs, names: tuple[str, ...]) -> None:
    for i, (spec, name) in enumerate(zip(specs, names, strict=True)):
        if len(spec.shape) != 4:
            raise OpTypeError(f"{name} must have rank 4, got shape {list(spec.shape)}",
                              input_index=i)


def _check_channels(x_shape, w_shape, w_index: int) -> None:
    cin, fin = x_shape[3], w_shape[2]
    if cin is not None and fin is not None and cin != fin:
        raise OpTypeError(f"the filter's in-channels ({fin}) differ from the input's "
                          f"channels ({cin})", input_index=w_index)


def _conv_out_shape(x_shape, w_shape, attrs) -> tuple[int | None, ...]:
    kh, kw = w_shape[0], w_shape[1]
    win = _window(attrs, (kh or 1, kw or 1))
    dims = []
    for axis, k in ((0, kh), (1, kw)):
        n = x_shape[1 + axis]
        dims.append(None if k is None and not win.same else win.out_dim(n, axis))
    return (x_shape[0], dims[0], dims[1], w_shape[3])


def _conv2d_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the input (NHWC)", "the filter (HWIO)"))
    _check_channels(specs[0].shape, specs[1].shape, 1)
    return TensorSpec(_conv_out_shape(specs[0].shape, specs[1].shape, attrs), dt)


def _input_columns(attrs, x: np.ndarray, size: tuple[int, ...]) -> tuple[np.ndarray, Layout]:
    """im2col: every window of the (padded) input as one row, (N * OH * OW, KH * KW * C)."""
    win = _window(attrs, size[:2])
    lay = win.layout(x.shape[1], x.shape[2])
    view = patches(pad(x, lay), win, lay)
    return view.reshape(-1, view.shape[3] * view.shape[4] * view.shape[5]), lay


@kernel
def _conv2d_kernel(attrs, specs):
    def run(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        cols, lay = _input_columns(attrs, x, w.shape)
        out = cols @ w.reshape(cols.shape[1], w.shape[3])
        return out.reshape(x.shape[0], lay.oh, lay.ow, w.shape[3])

    return run


def _conv_transpose(c: VJPContext):
    x, w = c.inputs
    return [fn.conv2d_backprop_input(c.g, w, x, **c.attrs),
            fn.conv2d_backprop_filter(x, c.g, w, **c.attrs)]


def _conv2d_batch(c: BatchContext):
    """Images alone batched fold into N; filters alone into the out channels; both at
    once: one batched GEMM over each example's patches, bnk,bko->bno (no B x work)."""
    if c.axes[1] is None:
        return in_images(c, [0])
    w = c.moved(1, 0)
    if c.axes[0] is None:
        return [unfold_channels(c.apply(c.a, fold_channels(w, 3)), 3, c.size)], [3]
    rows, (oh, ow) = patch_rows(c, c.moved(0, 0), w.shape[1:3])
    out = fn.matmul(rows, filter_rows(c, w))
    return [fn.reshape(out, shape=[c.size, -1, oh, ow, w.shape[-1]])], [0]


defop("conv2d", aliases=("Conv2D",), inputs=2, infer=_conv2d_infer, forward=_conv2d_kernel,
      attrs=CONV_ATTRS, linear=(0, 1), multilinear=True, transpose=_conv_transpose,
      batch=_conv2d_batch,
      doc="NHWC input, HWIO filter; TensorFlow's SAME/VALID padding, strides, dilations.")


def _backprop_infer(names: tuple[str, str, str], input_at: int, filter_at: int):
    """A backprop's output takes the shape of its third input (which lends only that)."""

    def infer(specs, attrs):
        dt = check_dtypes(specs[:2], "float")
        _rank4(specs, names)
        _check_channels(specs[input_at].shape, specs[filter_at].shape, filter_at)
        return TensorSpec(specs[2].shape, dt)

    return infer


COLUMN_BYTES = 1 << 20  # the most of the input gradient's columns held at once (L2-sized)


def _input_gradient_by_columns(rows: np.ndarray, w: np.ndarray, shape: tuple[int, ...],
                               win: Window, lay: Layout) -> np.ndarray:
    """conv2d's input gradient as every tap's contribution from one GEMM (rows @ w^T, the
    columns of im2col) summed back by the compiled col2im: numpy's strided adds of each
    tap's C-long runs would cost more than the GEMM. A few images at a time, so that the
    columns stay in cache and no run allocates (and page-faults) kh kw times the input."""
    kh, kw, cin, cout = w.shape
    # w^T copied to C order: the GEMMs run ~2% faster than on the transposed view (W5: 8
    # of [1024, 32] @ [32, 144], 379 -> 370 us) for a copy of the filter's few values
    wt = np.ascontiguousarray(w.reshape(kh * kw * cin, cout).T)
    pixels = lay.oh * lay.ow
    step = max(1, COLUMN_BYTES // (pixels * wt.shape[1] * rows.itemsize))
    buf = np.empty((min(step, shape[0]) * pixels, wt.shape[1]), rows.dtype)
    out = np.empty(shape, rows.dtype)
    for n in range(0, shape[0], step):
        m = min(step, shape[0] - n)
        cols = np.matmul(rows[n * pixels:(n + m) * pixels], wt, out=buf[:m * pixels])
        out[n:n + m] = add_columns(cols.reshape(m, lay.oh, lay.ow, kh, kw, cin),
                                   (m, *shape[1:]), win, lay)
    return out


@kernel
def _backprop_input_kernel(attrs, specs):
    def run(g: np.ndarray, w: np.ndarray, like: np.ndarray) -> np.ndarray:
        kh, kw, cin, cout = w.shape
        win = _window(attrs, (kh, kw))
        lay = win.layout(like.shape[1], like.shape[2])
        rows = g.reshape(-1, cout)
        if g.dtype == w.dtype and compiled_col2im(g.dtype) is not None:
            return _input_gradient_by_columns(rows, w, like.shape, win, lay)
        # Each kernel offset's contribution, one GEMM at a time into one reused buffer,
        # added by numpy where the offset's windows read (whole rows of W C values).
        taps = w.reshape(kh * kw, cin, cout)
        part = np.empty((rows.shape[0], cin), dtype=np.result_type(g, w))
        shape = (*g.shape[:3], cin)

        def offset(i: int, j: int) -> np.ndarray:
            return np.matmul(rows, taps[i * kw + j].T, out=part).reshape(shape)

        return scatter(offset, like.shape, win, lay, g.dtype)

    return run


def _backprop_input_transpose(c: VJPContext):
    g, w, _ = c.inputs
    return [fn.conv2d(c.g, w, **c.attrs), fn.conv2d_backprop_filter(c.g, g, w, **c.attrs), None]


def _backprop_input_batch(c: BatchContext):
    """Gradients alone batched fold into N (the like with them); filters alone into the
    in channels (so into the answer's); both: the patches' gradient from one batched
    GEMM, bno,bko->bnk, summed back by conv2d_patches_grad."""
    if c.axes[0] is None and c.axes[1] is None:
        return only_likes(c, 2)
    if c.axes[1] is None:
        return in_images(c, [0, 2])
    w = c.moved(1, 0)
    if c.axes[0] is None:
        out = c.apply(c.a, fold_channels(w, 2), stand_in(c, 2, 3))
        return [unfold_channels(out, 3, c.size)], [3]
    return [unfold_n(input_gradients(c, c.moved(0, 0), w, stand_in(c, 2, 0),
                                       c.attrs), c.size)], [0]


defop("conv2d_backprop_input", aliases=("Conv2DBackpropInput",), inputs=3,
      infer=_backprop_infer(("the gradient", "the filter", "the input"), 2, 1),
      forward=_backprop_input_kernel,
      attrs=CONV_ATTRS, linear=(0, 1), multilinear=True, transpose=_backprop_input_transpose,
      batch=_backprop_input_batch,
      doc="Internal: conv2d's gradient w.r.t. its input. Inputs (gradient, filter, input); "
          "the input gives only its shape. Linear in the gradient and in the filter.")


@kernel
def _backprop_filter_kernel(attrs, specs):
    def run(x: np.ndarray, g: np.ndarray, like: np.ndarray) -> np.ndarray:
        cols, _ = _input_columns(attrs, x, like.shape)
        return (cols.T @ g.reshape(cols.shape[0], -1)).reshape(like.shape)

    return run


def _backprop_filter_transpose(c: VJPContext):
    x, g, _ = c.inputs
    return [fn.conv2d_backprop_input(g, c.g, x, **c.attrs), fn.conv2d(x, c.g, **c.attrs), None]


def _backprop_filter_batch(c: BatchContext):
    """Images alone batched fold into the in channels, gradients alone into the out
    channels (so into the filter's); both: one batched GEMM over the patches,
    bnk,bno->bko."""
    if c.axes[0] is None and c.axes[1] is None:
        return only_likes(c, 2)
    if c.axes[1] is None:
        out = c.apply(fold_channels(c.moved(0, 0), 3), c.b, stand_in(c, 2, 2))
        return [unfold_channels(out, 2, c.size)], [2]
    if c.axes[0] is None:
        out = c.apply(c.a, fold_channels(c.moved(1, 0), 3), stand_in(c, 2, 3))
        return [unfold_channels(out, 3, c.size)], [3]
    kh, kw, ch, o = example_shape(c, 2)
    rows, _ = patch_rows(c, c.moved(0, 0), (kh, kw))
    g = fn.reshape(c.moved(1, 0), shape=[c.size, -1, o])
    out = fn.matmul(rows, g, transpose_a=True)
    return [fn.reshape(out, shape=[c.size, kh, kw, ch, o])], [0]


defop("conv2d_backprop_filter", aliases=("Conv2DBackpropFilter",), inputs=3,
      infer=_backprop_infer(("the input", "the gradient", "the filter"), 0, 2),
      forward=_backprop_filter_kernel,
      attrs=CONV_ATTRS, linear=(0, 1), multilinear=True,
      transpose=_backprop_filter_transpose, batch=_backprop_filter_batch,
      doc="Internal: conv2d's gradient w.r.t. its filter. Inputs (input, gradient, filter); "
          "the filter gives only its shape. Linear in the input and in the gradient.")

# -- pools --------------------------------------------------------------------------------


def _pooled_shape(shape, attrs) -> tuple[int | None, ...]:
    win = _window(attrs, attrs["ksize"])
    return (shape[0], win.out_dim(shape[1], 0), win.out_dim(shape[2], 1), shape[3])


def _pool_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the input (NHWC)",))
    return TensorSpec(_pooled_shape(specs[0].shape, attrs), dt)


def _pool_grad_infer(specs, attrs):
    """(input, gradient of the pooled output) -> shaped like the input."""
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the input", "the gradient"))
    return TensorSpec(specs[0].shape, dt)


def _pooled_like_infer(specs, attrs):
    """(input, a tensor shaped like the input) -> shaped like the pooled output."""
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the input", "the tensor"))
    return TensorSpec(_pooled_shape(specs[0].shape, attrs), dt)


def _pool_geometry(attrs, x: np.ndarray):
    win = _window(attrs, attrs["ksize"])
    return win, win.layout(x.shape[1], x.shape[2])


@kernel
def _max_pool_kernel(attrs, specs):
    def run(x: np.ndarray) -> np.ndarray:
        win, lay = _pool_geometry(attrs, x)
        xp = pad(x, lay, -np.inf)
        out = None
        for _, _, (rows, cols) in offsets(win, lay):
            part = xp[:, rows, cols, :]
            out = part.copy() if out is None else np.maximum(out, part, out=out)
        return out

    return run


def _first_maxima(attrs, x: np.ndarray):
    """The window geometry and, per window, the offset of its first maximum."""
    win, lay = _pool_geometry(attrs, x)
    return win, lay, first_argmax(pad(x, lay, -np.inf), win, lay)


@kernel
def _max_pool_grad_kernel(attrs, specs):
    def run(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        win, lay, chosen = _first_maxima(attrs, x)
        kw = win.size[1]
        return scatter(lambda i, j: np.where(chosen == i * kw + j, g, 0), x.shape, win, lay,
                       g.dtype)

    return run


@kernel
def _max_pool_grad_grad_kernel(attrs, specs):
    def run(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        win, lay, chosen = _first_maxima(attrs, x)
        view = patches(pad(t, lay), win, lay)
        n, oh, ow, kh, kw, c = view.shape
        picked = np.take_along_axis(view.reshape(n, oh, ow, kh * kw, c),
                                    chosen[:, :, :, None, :], axis=3)
        return picked[:, :, :, 0, :]

    return run


defop("max_pool", aliases=("MaxPool", "max_pool2d"), infer=_pool_infer,
      forward=_max_pool_kernel, attrs=POOL_ATTRS, batch=images_batch,
      vjp=lambda c: [fn.max_pool_grad(c.a, c.g, **c.attrs)],
      doc="NHWC; SAME pads with -inf. The gradient goes to each window's first maximum.")
defop("max_pool_grad", aliases=("MaxPoolGrad",), inputs=2, infer=_pool_grad_infer,
      forward=_max_pool_grad_kernel, attrs=POOL_ATTRS, batch=images_batch,
      vjp=lambda c: [fn.zeros_like(c.a), fn.max_pool_grad_grad(c.a, c.g, **c.attrs)],
      doc="Internal: (input, gradient of max_pool's output) -> gradient of the input, all "
          "to the first maximum of each window (row-major within the window).")
defop("max_pool_grad_grad", aliases=("MaxPoolGradGrad",), inputs=2,
      infer=_pooled_like_infer, forward=_max_pool_grad_grad_kernel,
      attrs=POOL_ATTRS, batch=images_batch,
      vjp=lambda c: [fn.zeros_like(c.a), fn.max_pool_grad(c.a, c.g, **c.attrs)],
      doc="Internal: (input, t shaped like the input) -> t read at each window's first "
          "maximum; the adjoint of max_pool_grad in its second argument.")


@kernel
def _avg_pool_kernel(attrs, specs):
    def run(x: np.ndarray) -> np.ndarray:
        win, lay = _pool_geometry(attrs, x)
        xp = pad(x, lay)
        total = np.zeros((x.shape[0], lay.oh, lay.ow, x.shape[3]), dtype=x.dtype)
        for _, _, (rows, cols) in offsets(win, lay):
            total += xp[:, rows, cols, :]
        return total / window_counts(win, lay, x.dtype)

    return run


@kernel
def _avg_pool_grad_kernel(attrs, specs):
    def run(g: np.ndarray, like: np.ndarray) -> np.ndarray:
        win, lay = _pool_geometry(attrs, like)
        share = g / window_counts(win, lay, g.dtype)
        return scatter(lambda i, j: share, like.shape, win, lay, g.dtype)

    return run


defop("avg_pool", aliases=("AvgPool", "avg_pool2d"), infer=_pool_infer,
      forward=_avg_pool_kernel, attrs=POOL_ATTRS, batch=images_batch,
      linear=(0,), transpose=lambda c: [fn.avg_pool_grad(c.g, c.a, **c.attrs)],
      doc="NHWC; SAME divides by the number of cells inside the input (TensorFlow).")


def _avg_pool_grad_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    _rank4(specs, ("the gradient", "the input"))
    return TensorSpec(specs[1].shape, dt)


defop("avg_pool_grad", aliases=("AvgPoolGrad",), inputs=2, infer=_avg_pool_grad_infer,
      forward=_avg_pool_grad_kernel, attrs=POOL_ATTRS, batch=images_batch,
      linear=(0,), transpose=lambda c: [fn.avg_pool(c.g, **c.attrs), None],
      doc="Internal: (gradient of avg_pool's output, input) -> gradient of the input; the "
          "input gives only its shape. Linear; its adjoint is avg_pool.")
