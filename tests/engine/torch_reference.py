"""TensorFlow semantics written in PyTorch, as the oracle for ``test_torch_oracle.py``.

Where the two libraries agree the reference is the torch function itself; these helpers
cover where they differ in form: TensorFlow's NHWC/HWIO layouts, its asymmetric SAME
padding, SAME average pooling that divides by the cells inside the input, reductions over
lists of axes with ``keepdims``, gather with multi-dimensional indices, and numpy slice
rules (torch has no negative steps). Importing this module needs torch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as tnn

Axis = int | Sequence[int] | None


def reduce_dims(x: torch.Tensor, axis: Axis) -> tuple[int, ...]:
    """Axes as non-negative ints, all of them for None (TensorFlow's reduction axes)."""
    if axis is None:
        return tuple(range(x.dim()))
    axes = [axis] if isinstance(axis, int) else list(axis)
    return tuple(sorted({a % x.dim() for a in axes}))


def reduce(kind: str, x: torch.Tensor, axis: Axis = None, keepdims: bool = False
           ) -> torch.Tensor:
    """tf.reduce_<kind>: torch reduces with keepdim, then drops the axes if asked."""
    dims = reduce_dims(x, axis)
    if not dims:
        return x
    if kind == "prod":  # torch.prod takes one dim at a time
        out = x
        for d in dims:
            out = out.prod(dim=d, keepdim=True)
    else:
        fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin,
              "logsumexp": torch.logsumexp}[kind]
        out = fn(x, dim=dims, keepdim=True)
    return out if keepdims else out.squeeze(dims)


def numpy_slice(x: torch.Tensor, begin: Sequence[int | None], end: Sequence[int | None],
                strides: Sequence[int]) -> torch.Tensor:
    """x[b0:e0:s0, b1:e1:s1, ...] with Python's rules, negative steps included."""
    for axis, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        index = np.arange(x.shape[axis])[slice(b, e, s)].copy()
        x = x.index_select(axis, torch.as_tensor(index, dtype=torch.long))
    return x


def gather(params: torch.Tensor, indices: torch.Tensor, axis: int) -> torch.Tensor:
    """tf.gather: params.shape[:axis] + indices.shape + params.shape[axis+1:]."""
    axis %= params.dim()
    picked = params.index_select(axis, indices.reshape(-1).long())
    shape = (*params.shape[:axis], *indices.shape, *params.shape[axis + 1:])
    return picked.reshape(shape)


def same_pads(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after): the odd cell goes after."""
    extent = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def _nchw_padded(x: torch.Tensor, window: tuple[int, int], strides: tuple[int, int],
                 padding: str, dilations: tuple[int, int] = (1, 1),
                 value: float = 0.0) -> torch.Tensor:
    """NHWC -> NCHW, with TensorFlow's SAME padding applied explicitly."""
    x = x.permute(0, 3, 1, 2)
    if padding == "VALID":
        return x
    top, bottom = same_pads(x.shape[2], window[0], strides[0], dilations[0])
    left, right = same_pads(x.shape[3], window[1], strides[1], dilations[1])
    return tnn.pad(x, (left, right, top, bottom), value=value)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def conv2d(x: torch.Tensor, w: torch.Tensor, strides: tuple[int, int], padding: str,
           dilations: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """tf.nn.conv2d on NHWC input and an HWIO filter."""
    window = (w.shape[0], w.shape[1])
    padded = _nchw_padded(x, window, strides, padding, dilations)
    return _nhwc(tnn.conv2d(padded, w.permute(3, 2, 0, 1), stride=strides,
                            dilation=dilations))


def max_pool(x: torch.Tensor, ksize: tuple[int, int], strides: tuple[int, int],
             padding: str) -> torch.Tensor:
    """tf.nn.max_pool2d: SAME pads with -inf so the padding never wins."""
    padded = _nchw_padded(x, ksize, strides, padding, value=-np.inf)
    return _nhwc(tnn.max_pool2d(padded, ksize, strides))


def avg_pool(x: torch.Tensor, ksize: tuple[int, int], strides: tuple[int, int],
             padding: str) -> torch.Tensor:
    """tf.nn.avg_pool2d: window sums over the count of cells inside the input.

    torch's count_include_pad=False only matches TensorFlow when SAME padding is
    symmetric, so the divisor is computed here by pooling a padded tensor of ones.
    """
    sums = tnn.avg_pool2d(_nchw_padded(x, ksize, strides, padding), ksize, strides,
                          divisor_override=1)
    ones = torch.ones_like(x[:1, :, :, :1])
    counts = tnn.avg_pool2d(_nchw_padded(ones, ksize, strides, padding), ksize, strides,
                            divisor_override=1)
    return _nhwc(sums / counts)


def softmax_cross_entropy(labels: torch.Tensor, logits: torch.Tensor, axis: int = -1
                          ) -> torch.Tensor:
    """tf.nn.softmax_cross_entropy_with_logits (v2: labels get a gradient too)."""
    return -(labels * torch.log_softmax(logits, dim=axis)).sum(dim=axis)


def softmax_cross_entropy_kernel(labels: torch.Tensor, logits: torch.Tensor, axis: int = -1,
                                 labels_grad: bool = True) -> torch.Tensor:
    """The loss as both libraries differentiate it (OPS.md conventions): the value is the
    cross-entropy, d/dlogits is g (softmax - labels), the kernels' backprop, whatever the
    labels sum to (the true derivative has softmax sum(labels)); d/dlabels is -g
    log_softmax (TensorFlow) or zeros (MindSpore's bprop, ``labels_grad=False``).
    First order only: the detached terms are constants to a second derivative."""
    kernel = torch.logsumexp(logits, dim=axis) - (labels.detach() * logits).sum(dim=axis)
    loss = softmax_cross_entropy(labels, logits, axis).detach() + kernel - kernel.detach()
    if labels_grad:
        log_p = torch.log_softmax(logits, dim=axis).detach()
        loss = loss - ((labels - labels.detach()) * log_p).sum(dim=axis)
    return loss


def softmax_cross_entropy_ms(labels: torch.Tensor, logits: torch.Tensor, axis: int = -1
                             ) -> torch.Tensor:
    """MindSpore's: labels that sum to one, and no gradient to them (its bprop)."""
    return softmax_cross_entropy(labels.detach(), logits, axis)


def sigmoid_cross_entropy(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """tf.nn.sigmoid_cross_entropy_with_logits, elementwise."""
    return tnn.binary_cross_entropy_with_logits(logits, labels, reduction="none")


def split(x: torch.Tensor, sizes: int | Sequence[int], axis: int) -> tuple[torch.Tensor, ...]:
    """tf.split: an int is a number of equal pieces; one size of -1 takes the rest."""
    length = x.shape[axis]
    if isinstance(sizes, int):
        return torch.split(x, length // sizes, dim=axis)
    known = sum(s for s in sizes if s != -1)
    return torch.split(x, [length - known if s == -1 else s for s in sizes], dim=axis)
