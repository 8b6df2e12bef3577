"""Scans along one axis: cumsum and cumprod (attrs ``axis``, ``exclusive``, ``reverse``),
and reverse (flip along axes). cumsum and reverse are linear: cumsum's transpose is the
cumsum running the other way, reverse's is reverse again.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import fn
from ..shapes import normalize_axes, normalize_axis
from . import attrs as parse
from .contexts import BatchContext, JVPContext, VJPContext
from .registry import Attr, defop, kernel
from .rules import shift_axis, unary

SCAN_ATTRS = {"axis": Attr(0, parse.integer), "exclusive": Attr(False, parse.boolean),
              "reverse": Attr(False, parse.boolean)}


def _scan(step: Any, identity: float):
    """A scan kernel: numpy's cumulative ``step`` with TensorFlow's exclusive/reverse."""

    @kernel
    def build(attrs, specs):
        axis = normalize_axis(attrs["axis"], len(specs[0].shape))
        exclusive, reverse = attrs["exclusive"], attrs["reverse"]

        def run(x: np.ndarray) -> np.ndarray:
            if reverse:
                x = np.flip(x, axis)
            out = step(x, axis=axis, dtype=x.dtype)
            if exclusive and out.shape[axis]:
                first = np.full_like(np.take(out, [0], axis=axis), identity)
                out = np.concatenate([first, np.delete(out, -1, axis=axis)], axis=axis)
            return np.flip(out, axis) if reverse else out

        return run

    return build


def _scan_batch(c: BatchContext):
    """The batch axis first; the scanned axis moves one on."""
    return [c.apply(c.moved(0, 0), axis=shift_axis(c.attrs["axis"], c.a.ndim - 1))], [0]


defop("cumsum", aliases=("Cumsum",), infer=unary("numeric"), forward=_scan(np.cumsum, 0),
      attrs=SCAN_ATTRS, linear=(0,), batch=_scan_batch,
      transpose=lambda c: [c.apply(c.g, reverse=not c.attrs["reverse"])],
      doc="Running sums along ``axis``; ``exclusive`` starts from 0, ``reverse`` runs from "
          "the end. Linear: the gradient is the cumsum running the other way.")


def _over_x(c, t):
    """t / x: TensorFlow's cumprod gradient divides with div_no_nan (0 where x = 0, which
    is wrong there but finite); MindSpore's plainly (NaN or inf there)."""
    return fn.div_no_nan(t, c.a) if c.tf else t / c.a


def _cumprod_vjp(c: VJPContext):
    return [_over_x(c, fn.cumsum(c.out * c.g, axis=c.attrs["axis"],
                                 exclusive=c.attrs["exclusive"],
                                 reverse=not c.attrs["reverse"]))]


def _cumprod_jvp(c: JVPContext):
    # dy_j = y_j sum over the scanned k of dx_k / x_k: the same scan of dx / x.
    return [c.out * fn.cumsum(_over_x(c, c.da), **c.attrs)]


defop("cumprod", aliases=("Cumprod",), infer=unary("numeric"),
      forward=_scan(np.cumprod, 1), attrs=SCAN_ATTRS, vjp=_cumprod_vjp, jvp=_cumprod_jvp,
      batch=_scan_batch,
      doc="Running products along ``axis`` (``exclusive``, ``reverse`` as cumsum). The "
          "gradient cumsum(y g, reversed) / x divides by x: at a zero TensorFlow gives 0 "
          "(div_no_nan), MindSpore NaN (0/0).")


def _reverse_axes(attrs, rank: int) -> tuple[int, ...]:
    return normalize_axes(attrs["axis"], rank)


@kernel
def _reverse_kernel(attrs, specs):
    axes = _reverse_axes(attrs, len(specs[0].shape))
    return lambda x: np.flip(x, axes) if axes else x.copy()


def _reverse_infer(specs, attrs):
    _reverse_axes(attrs, len(specs[0].shape))
    return unary("any")(specs, attrs)


def _reverse_batch(c: BatchContext):
    rank = c.a.ndim - 1
    return [c.apply(c.moved(0, 0), axis=[a + 1 for a in _reverse_axes(c.attrs, rank)])], [0]


defop("reverse", aliases=("ReverseV2", "reverse_v2", "flip"), infer=_reverse_infer,
      forward=_reverse_kernel, attrs={"axis": Attr(parse=parse.int_or_list,
                                                   aliases=("axes", "dims"))},
      linear=(0,), transpose=lambda c: [c.apply(c.g)], batch=_reverse_batch,
      doc="The elements in reverse order along each of ``axis`` (an int or a list).")
