"""Padding: pad with a constant (affine in x, not linear unless the constant is 0, so it
declares a VJP: slicing the padding off)."""
from __future__ import annotations

import numpy as np

from .. import fn
from . import attrs as parse
from .contexts import VJPContext
from .registry import Attr, TensorSpec, check_dtypes, defop
from .rules import check_per_axis, leading_with


def _paddings(v) -> tuple[tuple[int, int], ...]:
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"expected [[before, after], ...] per axis, got {v!r}")
    out = []
    for row in v:
        pair = parse.int_list(row)
        if len(pair) != 2:
            raise ValueError(f"each entry is a pair [before, after], got {row!r}")
        if min(pair) < 0:
            raise ValueError(f"negative padding {list(pair)} is not supported")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _constant_mode(v) -> str:
    if not isinstance(v, str) or v.upper() != "CONSTANT":
        raise ValueError(f"only mode CONSTANT is supported, got {v!r}")
    return "CONSTANT"


def _pad_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    check_per_axis(attrs["paddings"], len(shape), "paddings")
    return TensorSpec(tuple(None if d is None else d + b + a
                            for d, (b, a) in zip(shape, attrs["paddings"])), specs[0].dtype)


def _pad(x, paddings, mode, constant_values):
    return np.pad(x, paddings, constant_values=np.asarray(constant_values).astype(x.dtype))


def _pad_vjp(c: VJPContext):
    pads = c.attrs["paddings"]
    return [fn.strided_slice(c.g, begin=[b for b, _ in pads],
                            end=[-a if a else None for _, a in pads])]


defop("pad", aliases=("Pad", "PadV2"), infer=_pad_infer, forward=_pad,
      attrs={"paddings": Attr(parse=_paddings),
             "mode": Attr("CONSTANT", _constant_mode),
             "constant_values": Attr(0.0, parse.number, aliases=("constant_value",))},
      vjp=_pad_vjp,
      batch=leading_with(lambda c: {"paddings": [[0, 0], *map(list, c.attrs["paddings"])]}),
      doc="Constant padding only; the gradient slices the padding off.")


