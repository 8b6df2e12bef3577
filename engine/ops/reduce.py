"""Reductions: sum, mean, max, min, prod, logsumexp (attrs ``axis``, ``keepdims``).

Each also answers to ``reduce_<name>`` (ReduceSum, ReduceMean, ...). A VJP restores the
reduced axes and broadcasts the upstream gradient back over the input.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import fn
from ..dtypes import is_floating, np_dtype
from ..shapes import is_static, normalize_axes, normalize_axis, num_elements
from . import array_loops
from . import attrs as parse
from .contexts import BatchContext, JVPContext, VJPContext
from .registry import Attr, TensorSpec, check_dtypes, defop, kernel
from .rules import broadcast_like, shift_axis

REDUCE_ATTRS = {
    "axis": Attr(None, parse.axis_or_none, aliases=("axes", "reduction_indices", "dim")),
    "keepdims": Attr(False, parse.boolean, aliases=("keep_dims",)),
}


def _axes(attrs, rank: int) -> tuple[int, ...]:
    return normalize_axes(attrs["axis"], rank)


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _infer(allowed: str):
    def infer(specs, attrs):
        dt = check_dtypes(specs, allowed)
        shape = specs[0].shape
        axes = _axes(attrs, len(shape))

        return TensorSpec(reduced_shape(shape, axes, attrs["keepdims"]), dt)

    return infer


def _kernel(reducer, direct=None):
    """Bind normalized axes once per plan; keep the input dtype (numpy widens int sums).
    ``direct(spec, axes, keepdims)``: a leaner run for what it knows (or None), the same
    numbers without the generic one's asarray and astype calls."""

    def build(attrs, specs):
        axes = _axes(attrs, len(specs[0].shape))
        keep = attrs["keepdims"]
        run = None if direct is None else direct(specs[0], axes, keep)
        if run is not None:
            return run
        return lambda x: np.asarray(reducer(x, axes, keep)).astype(x.dtype, copy=False)

    return kernel(build)


def _compiled_total(x: np.ndarray, axes: tuple[int, ...]):
    """The sum of all of ``x`` by ``array_loops``' blocked loop (x's dtype, 0-d), or None
    when it does not apply (a partial reduction, a small or non-float x, not compiled)."""
    if len(axes) != x.ndim:
        return None
    compiled = array_loops.loops(x)
    return None if compiled is None else x.dtype.type(compiled.total(x.reshape(-1)))


def _direct_sum(spec: TensorSpec, axes: tuple[int, ...], keep: bool):
    """add.reduce in the input's dtype (what ndarray.sum calls): an array comes back as it
    is, a full reduction's scalar made 0-d (W6's [64, 10] rows: 2.0 -> 1.7 us); a large
    float one by the compiled loop once ready."""
    reduce, asarray, rank = np.add.reduce, np.asarray, len(spec.shape)
    if rank and (keep or len(axes) < rank):
        return lambda x: reduce(x, axes, x.dtype, None, keep)
    if num_elements(spec.shape) is None or num_elements(spec.shape) < array_loops.LOOP_MIN:
        return lambda x: asarray(reduce(x, axes, x.dtype))

    def run(x):
        s = _compiled_total(x, axes)
        return asarray(reduce(x, axes, x.dtype) if s is None else s)

    return run


def _direct_mean(spec: TensorSpec, axes: tuple[int, ...], keep: bool):
    """A float mean over a static shape: the sum divided by the count, bound once (W2's
    loss: 1.8 -> 1.1 us), a large one's full sum by the compiled loop once ready; an
    input of another dtype or shape takes ``_mean``."""
    dtype = np_dtype(spec.dtype)
    if dtype.kind != "f" or dtype == np.float16 or not is_static(spec.shape):
        return None
    shape = tuple(spec.shape)
    count = dtype.type(math.prod(shape[a] for a in axes))
    reduce, asarray = np.add.reduce, np.asarray
    whole = len(axes) == len(shape) and math.prod(shape) >= array_loops.LOOP_MIN
    unit = (1,) * len(shape) if keep else ()

    def run(x):
        if x.dtype is dtype and x.shape == shape:
            s = _compiled_total(x, axes) if whole else None
            if s is not None:
                return asarray(s / count).reshape(unit)
            return asarray(reduce(x, axes, None, None, keep) / count)
        return asarray(_mean(x, axes, keep)).astype(x.dtype, copy=False)

    return run


def _with_reduced_axes(c: VJPContext, t):
    """Put back the reduced axes (as size 1) so ``t`` broadcasts against the input."""
    if c.attrs["keepdims"]:
        return t
    axes = _axes(c.attrs, c.a.ndim)
    return fn.expand_dims(t, axis=list(axes)) if axes else t


def _spread(c: VJPContext, count: Any = None):
    """The cotangent broadcast back over the reduced axes (divided by ``count`` first, one
    division per reduced value, not per input element: mean's, the same numbers)."""
    g = _with_reduced_axes(c, c.g)
    return broadcast_like(g if count is None else g / count, c.a)


def _count(c: VJPContext):
    axes = _axes(c.attrs, c.a.ndim)
    dims = [c.a.shape[a] for a in axes]
    if all(d is not None for d in dims):
        return c.a.scalar(float(math.prod(dims)) if c.a.dtype != "int32" else math.prod(dims))
    return fn.reduction_count(c.a, axis=list(axes))


def _extreme_vjp(ignore_nan_as: float):
    """1/k to each of k tied extremes. TensorFlow: a NaN extreme makes the slice's gradient
    NaN (0/0). MindSpore's extreme skips NaN (``ignore_nan_as``: -inf for max, +inf for
    min), so [1, NaN, 3] gives [0, 0, 1]."""

    def vjp(c: VJPContext):
        axes = list(_axes(c.attrs, c.a.ndim))
        if c.tf or not is_floating(c.a.dtype):
            out = _with_reduced_axes(c, c.out)
        else:
            numbers = fn.where(fn.equal(c.a, c.a), c.a, c.a.scalar(ignore_nan_as))
            out = fn.max(numbers, axis=axes, keepdims=True) if ignore_nan_as < 0 \
                else fn.min(numbers, axis=axes, keepdims=True)
        hits = fn.cast(fn.equal(out, c.a), dtype=c.g.dtype)
        count = fn.sum(hits, axis=axes, keepdims=True)
        return [hits / count * _with_reduced_axes(c, c.g)]

    return vjp


def _extreme(reduce: Callable[..., np.ndarray], sign: int) -> Callable[..., np.ndarray]:
    """max (sign -1) or min (+1); over no elements their identity, the dtype's lowest for
    max (-inf), as TensorFlow and ONNX answer, where numpy refuses."""
    def run(x: np.ndarray, axes: Any, keep: bool) -> np.ndarray:
        if x.size:
            return reduce(x, axis=axes, keepdims=keep)
        if x.dtype.kind == "f":
            initial: Any = sign * math.inf
        else:
            initial = np.iinfo(x.dtype).max if sign > 0 else np.iinfo(x.dtype).min
        return reduce(x, axis=axes, keepdims=keep, initial=initial)

    return run


_MAX, _MIN = _extreme(np.max, -1), _extreme(np.min, 1)


def _logsumexp(x, axes, keep):
    if not axes:
        return x.copy()
    m = _MAX(x, axes, True)  # over no elements: log(0) = -inf
    m = np.where(np.isfinite(m), m, 0)
    s = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return s if keep else np.squeeze(s, axis=axes)


def _mean(x, axes, keep):
    n = math.prod(x.shape[a] for a in axes)
    if x.dtype.kind in "iu":  # integer mean truncates, as TensorFlow's
        return x.sum(axis=axes, keepdims=keep, dtype=x.dtype) // (n or 1)
    if x.dtype == np.float16:  # numpy accumulates half precision in float32
        return np.mean(x, axis=axes, keepdims=keep)
    return x.sum(axis=axes, keepdims=keep) / x.dtype.type(n)  # as np.mean: sum, then divide


def _linear(transpose):
    return {"linear": (0,), "transpose": transpose}


_FAMILY = (
    ("sum", "numeric", lambda x, a, k: x.sum(axis=a, keepdims=k, dtype=x.dtype),
     _linear(lambda c: [_spread(c)]), _direct_sum),
    ("mean", "numeric", _mean, _linear(lambda c: [_spread(c, _count(c))]), _direct_mean),
    ("max", "numeric", _MAX,
     {"vjp": _extreme_vjp(-math.inf)}),
    ("min", "numeric", _MIN,
     {"vjp": _extreme_vjp(math.inf)}),
    ("prod", "numeric", lambda x, a, k: np.prod(x, axis=a, keepdims=k, dtype=x.dtype),
     {"vjp": lambda c: [
         _spread(c) * fn.prod_others(c.a, axis=list(_axes(c.attrs, c.a.ndim)))]}),
    ("logsumexp", "float", _logsumexp,
     {"vjp": lambda c: [
         _spread(c) * fn.exp(c.a - broadcast_like(_with_reduced_axes(c, c.out), c.a))]}),
)

def _reduce_batch(c: BatchContext):
    """The batch axis first; the reduced axes shift by one (null: all but the batch)."""
    x = c.moved(0, 0)
    axes = [a + 1 for a in _axes(c.attrs, x.ndim - 1)]
    return [c.apply(x, axis=axes)], [0]


for _name, _allowed, _reducer, _rules, *_direct in _FAMILY:
    defop(_name, aliases=(f"reduce_{_name}",), infer=_infer(_allowed),
          forward=_kernel(_reducer, *_direct), attrs=REDUCE_ATTRS, batch=_reduce_batch,
          **_rules)


# -- the Euclidean norm; argmax and argmin ------------------------------------------------------


def _norm_jvp(c: JVPContext):
    axes = list(_axes(c.attrs, c.a.ndim))
    return [fn.sum(c.a * c.da, axis=axes, keepdims=c.attrs["keepdims"]) / c.out]


defop("euclidean_norm", aliases=("reduce_euclidean_norm", "EuclideanNorm"),
      infer=_infer("float"), attrs=REDUCE_ATTRS, batch=_reduce_batch, jvp=_norm_jvp,
      forward=_kernel(lambda x, a, k: np.sqrt(np.sum(x * x, axis=a, keepdims=k))),
      vjp=lambda c: [c.a / (_with_reduced_axes(c, c.out) / _with_reduced_axes(c, c.g))],
      doc="sqrt(sum(x^2)) over ``axis``. Gradient x / (norm / g), TensorFlow's: NaN where "
          "the norm is 0 (0/0), so -0 and 0 pass through as themselves elsewhere.")


def _arg_infer(specs, attrs):
    check_dtypes(specs, "numeric")
    shape = specs[0].shape
    axis = normalize_axis(attrs["axis"], len(shape))
    return TensorSpec(shape[:axis] + shape[axis + 1:], attrs["output_type"])


def _index_dtype(v):
    dt = parse.dtype(v)
    if dt not in ("int32", "int64"):
        raise ValueError(f"expected int32 or int64, got {v!r}")
    return dt


ARG_ATTRS = {"axis": Attr(0, parse.integer, aliases=("dimension",)),
             "output_type": Attr("int64", _index_dtype, aliases=("dtype",))}


def _arg_kernel(pick):
    @kernel
    def build(attrs, specs):
        axis = normalize_axis(attrs["axis"], len(specs[0].shape))
        return lambda x: pick(x, axis=axis).astype(attrs["output_type"])

    return build


def _arg_batch(c: BatchContext):
    return [c.apply(c.moved(0, 0), axis=shift_axis(c.attrs["axis"], c.a.ndim - 1))], [0]


defop("argmax", aliases=("ArgMax",), infer=_arg_infer, forward=_arg_kernel(np.argmax),
      attrs=ARG_ATTRS, batch=_arg_batch,
      doc="The index of the first maximum along ``axis`` (int64 unless ``output_type``); "
          "no gradient.")
defop("argmin", aliases=("ArgMin",), infer=_arg_infer, forward=_arg_kernel(np.argmin),
      attrs=ARG_ATTRS, batch=_arg_batch,
      doc="The index of the first minimum along ``axis``; no gradient.")


# -- helpers the VJPs above emit -----------------------------------------------------------

def _prod_others(x, axis):
    """For each element, the product of the other elements of its reduced slice.

    Exclusive products from both ends, so zeros are handled exactly (no division).
    """
    axes = tuple(axis)
    rest = [i for i in range(x.ndim) if i not in axes]
    perm = axes + tuple(rest)
    moved = np.transpose(x, perm)
    lead = moved.shape[: len(axes)]
    flat = moved.reshape((-1, *moved.shape[len(axes):]))
    ones = np.ones_like(flat[:1])
    left = np.cumprod(np.concatenate([ones, flat[:-1]]), axis=0)
    right = np.cumprod(np.concatenate([ones, flat[:0:-1]]), axis=0)[::-1]
    others = (left * right).reshape((*lead, *moved.shape[len(axes):]))
    return np.transpose(others, np.argsort(perm)).astype(x.dtype, copy=False)


def _axis_list_batch(c: BatchContext):
    """The internal ops with an explicit axis list: the batch axis first, the list shifted
    past it. reduction_count's output (a count) is the same for every example."""
    x = c.moved(0, 0)
    out = c.apply(x, axis=[shift_axis(a, x.ndim - 1) for a in c.attrs["axis"]])
    return [out], [None if c.node.op == "reduction_count" else 0]


def _prod_others_vjp(c: VJPContext):
    # Second order (rarely needed): d others_i / d x_j = prod over k != i, j; written with
    # a division like TensorFlow's cumprod gradient, exact away from zeros.
    axes = list(c.attrs["axis"])
    total = broadcast_like(fn.sum(c.g * c.out, axis=axes, keepdims=True), c.a)
    return [(total - c.g * c.out) / c.a]


defop("prod_others", infer=lambda specs, attrs: specs[0], forward=_prod_others,
      vjp=_prod_others_vjp, attrs={"axis": Attr(parse=parse.int_list)},
      batch=_axis_list_batch,
      doc="Internal: the gradient of prod. Product of the other elements of each slice.")


def _count_infer(specs, attrs):
    return TensorSpec((), specs[0].dtype)


defop("reduction_count", infer=_count_infer,
      forward=lambda x, axis: np.asarray(math.prod(x.shape[a] for a in axis), dtype=x.dtype),
      attrs={"axis": Attr(parse=parse.int_list)}, batch=_axis_list_batch,
      doc="Internal: how many elements a reduction over ``axis`` averages (dynamic shapes).")
