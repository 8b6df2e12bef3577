"""Normalization: batch_norm (inference form: inputs x, scale, offset, mean, variance of
one channel axis ``axis``) and layer_norm (inputs x, gamma, beta; statistics over
``axis``). Both forwards in numpy; the VJPs are the closed forms, written with graph ops
so that they can be differentiated again, and agree with TensorFlow's composite ops
(tf.nn.batch_normalization; tf.nn.moments and batch_normalization for a layer norm).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import fn
from ..shapes import normalize_axes, normalize_axis, same
from . import attrs as parse
from .contexts import BatchContext, JVPContext, VJPContext
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import batched_first


def _epsilon(v: Any) -> float:
    if parse.number(v) < 0:
        raise ValueError(f"epsilon must be >= 0, got {v}")
    return float(v)


def _sum_of(terms: Sequence[Any]) -> Any:
    live = [t for t in terms if t is not None]
    total = live[0]
    for t in live[1:]:
        total = total + t
    return total


# -- batch_norm -------------------------------------------------------------------------------

BN_ATTRS = {"epsilon": Attr(1e-3, _epsilon, aliases=("variance_epsilon", "eps")),
            "axis": Attr(-1, parse.integer)}
_BN_NAMES = ("scale", "offset", "mean", "variance")


def _bn_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    x = specs[0].shape
    if not x:
        raise OpTypeError("batch_norm needs an input of rank >= 1", input_index=0)
    channels = x[normalize_axis(attrs["axis"], len(x))]
    for i, (spec, name) in enumerate(zip(specs[1:], _BN_NAMES, strict=True), start=1):
        if not same(spec.shape, (channels,)):
            raise OpTypeError(f"{name} has shape {list(spec.shape)}; it must be [{channels}] "
                              "(one per channel of the input's axis)", input_index=i)
    return TensorSpec(x, dt)


def _per_channel_shape(rank: int, axis: int) -> list[int]:
    return [-1 if i == axis else 1 for i in range(rank)]


@kernel
def _bn_kernel(attrs, specs):
    rank = len(specs[0].shape)
    shape = _per_channel_shape(rank, normalize_axis(attrs["axis"], rank))
    eps = attrs["epsilon"]

    def run(x, scale, offset, mean, variance):
        gain = scale.reshape(shape) / np.sqrt(variance.reshape(shape) + x.dtype.type(eps))
        return (x - mean.reshape(shape)) * gain + offset.reshape(shape)

    return run


class _BatchNorm:
    """The pieces both rules read: per-channel tensors broadcast against x, r =
    rsqrt(variance + eps), the gain scale r, the centred input, and the sum over all
    axes but the channel's."""

    def __init__(self, c: Any):
        x = c.a
        self.axis = normalize_axis(c.attrs["axis"], x.ndim)
        self.others = [i for i in range(x.ndim) if i != self.axis]
        scale, _, mean, variance = (self.wide(t) for t in c.inputs[1:])
        self.r = fn.rsqrt(variance + c.attrs["epsilon"])
        self.gain = scale * self.r
        self.centred = x - mean

    def wide(self, t):
        """A per-channel tensor with size-1 axes so that it broadcasts against x."""
        return fn.expand_dims(t, axis=self.others) if self.others else t

    def per_channel(self, t):
        return fn.sum(t, axis=self.others) if self.others else t


def _bn_vjp(c: VJPContext):
    bn, g = _BatchNorm(c), c.g
    d_offset = bn.per_channel(g)
    d_variance = bn.per_channel(g * bn.centred * bn.gain * bn.r * bn.r) * -0.5
    return [g * bn.gain, bn.per_channel(g * bn.centred * bn.r), d_offset,
            -bn.per_channel(g * bn.gain), d_variance]


def _bn_jvp(c: JVPContext):
    bn = _BatchNorm(c)
    dx, dscale, doffset, dmean, dvar = (None if t is None else (t if k == 0 else bn.wide(t))
                                        for k, t in enumerate(c.tangents))
    return [_sum_of([
        None if dx is None else dx * bn.gain,
        None if dscale is None else bn.centred * bn.r * dscale,
        doffset,
        None if dmean is None else -dmean * bn.gain,
        None if dvar is None else bn.centred * bn.gain * bn.r * bn.r * dvar * -0.5])]


def _bn_batch(c: BatchContext):
    """The batch merges into the channel axis: B examples of C channels are one input of
    B C channels, the per-channel inputs stacked (tiled where unbatched)."""
    rank = c.a.ndim - 1 if c.axes[0] is not None else c.a.ndim
    axis = normalize_axis(c.attrs["axis"], rank)
    example = [-1 if d is None else d for d in c.outputs[0].shape]
    channels = example[axis]
    x = c.moved(0, axis) if c.axes[0] is not None else batched_first(c, 0)
    if c.axes[0] is None:
        x = fn.transpose(x, perm=[*range(1, axis + 1), 0, *range(axis + 1, rank + 1)])
    merged = fn.reshape(x, shape=[*example[:axis], c.size * channels, *example[axis + 1:]])
    params = [fn.reshape(batched_first(c, k), shape=[c.size * channels]) for k in range(1, 5)]
    out = c.apply(merged, *params, axis=axis)
    return [fn.reshape(out, shape=[*example[:axis], c.size, channels,
                                   *example[axis + 1:]])], [axis]


defop("batch_norm", aliases=("FusedBatchNorm", "FusedBatchNormV3", "batch_normalization"),
      inputs=5, infer=_bn_infer, forward=_bn_kernel, attrs=BN_ATTRS, vjp=_bn_vjp,
      jvp=_bn_jvp, batch=_bn_batch,
      doc="Inference form: (x - mean) scale / sqrt(variance + epsilon) + offset, the "
          "four per-channel inputs of shape [C] along ``axis`` (default -1, NHWC); "
          "gradients to all five.")

# -- layer_norm -------------------------------------------------------------------------------

LN_ATTRS = {"axis": Attr(-1, parse.int_or_list, aliases=("axes", "begin_norm_axis")),
            "epsilon": Attr(1e-3, _epsilon, aliases=("eps",))}


def _ln_axes(attrs, rank: int) -> tuple[int, ...]:
    return tuple(sorted(normalize_axes(attrs["axis"], rank)))


def _ln_infer(specs, attrs):
    dt = check_dtypes(specs, "float")
    x = specs[0].shape
    axes = _ln_axes(attrs, len(x))
    want = tuple(x[a] for a in axes)
    for i, name in ((1, "gamma"), (2, "beta")):
        if not same(specs[i].shape, want):
            raise OpTypeError(f"{name} has shape {list(specs[i].shape)}; it must be the "
                              f"input's normalized dimensions {list(want)}", input_index=i)
    return TensorSpec(x, dt)


@kernel
def _ln_kernel(attrs, specs):
    rank = len(specs[0].shape)
    axes = _ln_axes(attrs, rank)
    eps = attrs["epsilon"]

    def run(x, gamma, beta):
        wide = [x.shape[i] if i in axes else 1 for i in range(rank)]
        mu = x.mean(axis=axes, keepdims=True)
        centred = x - mu
        var = (centred * centred).mean(axis=axes, keepdims=True)
        xhat = centred / np.sqrt(var + x.dtype.type(eps))
        return xhat * gamma.reshape(wide) + beta.reshape(wide)

    return run


class _LayerNorm:
    """mean and variance over the axes, r = rsqrt(variance + eps), x̂ = (x - mean) r,
    gamma broadcast against x, and the sums over the other axes (gamma's shape)."""

    def __init__(self, c: Any):
        x = c.a
        self.axes = list(_ln_axes(c.attrs, x.ndim))
        self.others = [i for i in range(x.ndim) if i not in self.axes]
        centred = x - fn.mean(x, axis=self.axes, keepdims=True)
        self.r = fn.rsqrt(fn.mean(centred * centred, axis=self.axes, keepdims=True)
                          + c.attrs["epsilon"])
        self.xhat = centred * self.r
        self.gamma = self.wide(c.b)

    def wide(self, t):
        """A tensor of gamma's shape, with size-1 axes so that it broadcasts against x."""
        return fn.expand_dims(t, axis=self.others) if self.others else t

    def mean(self, t):
        return fn.mean(t, axis=self.axes, keepdims=True)

    def normalized_vjp(self, h):
        """The VJP of x ↦ x̂ for the cotangent h (the layer norm's core)."""
        return self.r * (h - self.mean(h) - self.xhat * self.mean(h * self.xhat))

    def per_feature(self, t):
        return fn.sum(t, axis=self.others) if self.others else t


def _ln_vjp(c: VJPContext):
    ln = _LayerNorm(c)
    return [ln.normalized_vjp(c.g * ln.gamma), ln.per_feature(c.g * ln.xhat),
            ln.per_feature(c.g)]


def _ln_jvp(c: JVPContext):
    ln = _LayerNorm(c)
    dx, dgamma, dbeta = c.tangents
    # x ↦ x̂ has a symmetric Jacobian, so its JVP is its VJP.
    return [_sum_of([
        None if dx is None else ln.normalized_vjp(dx) * ln.gamma,
        None if dgamma is None else ln.xhat * ln.wide(dgamma),
        None if dbeta is None else ln.wide(dbeta)])]


def _ln_batch(c: BatchContext):
    """The op normalizes the batched x (axes shifted past the batch axis) with unit gamma
    and zero beta; the (possibly batched) gamma and beta then apply by broadcasting."""
    x = batched_first(c, 0)
    rank = x.ndim - 1
    axes = [a + 1 for a in _ln_axes(c.attrs, rank)]
    features = [d for i, d in enumerate(x.shape) if i in axes]
    b = x.builder
    unit = [b.emit("fill", [], {"shape": features, "value": v, "dtype": x.dtype})
            for v in (1.0, 0.0)]
    wide = [-1 if i == 0 else (x.shape[i] if i in axes else 1) for i in range(rank + 1)]
    gamma, beta = (fn.reshape(batched_first(c, k), shape=wide) for k in (1, 2))
    return [c.apply(x, *unit, axis=axes) * gamma + beta], [0]


defop("layer_norm", aliases=("LayerNorm", "layer_normalization"), inputs=3,
      infer=_ln_infer, forward=_ln_kernel, attrs=LN_ATTRS, vjp=_ln_vjp, jvp=_ln_jvp,
      batch=_ln_batch,
      doc="(x - mean) / sqrt(variance + epsilon) gamma + beta, the statistics over "
          "``axis`` (an int or a list, default -1; epsilon 1e-3 as Keras); gamma and beta "
          "have the normalized dimensions' shape.")
