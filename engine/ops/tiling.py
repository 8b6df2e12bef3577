"""Tiling: tile (repeat along each axis) and its transpose tile_grad (sum of the copies)."""
from __future__ import annotations

import numpy as np

from .. import fn
from . import attrs as parse
from .registry import Attr, TensorSpec, check_dtypes, defop
from .rules import check_per_axis, leading_with, shaped_like


def _multiples(v) -> tuple[int, ...]:
    items = parse.int_list(v)
    if min(items, default=0) < 0:
        raise ValueError(f"multiples must be >= 0, got {list(items)}")
    return items


def _tile_infer(specs, attrs):
    check_dtypes(specs, "any")
    shape = specs[0].shape
    check_per_axis(attrs["multiples"], len(shape), "multiples")
    return TensorSpec(tuple(0 if m == 0 else (None if d is None else d * m)
                            for d, m in zip(shape, attrs["multiples"])), specs[0].dtype)


def _tile_grad(g, like, multiples):
    """Each output axis is (multiple, size) interleaved: sum out the multiples."""
    split = [n for m, d in zip(multiples, like.shape) for n in (m, d)]
    return np.asarray(np.sum(g.reshape(split), axis=tuple(range(0, len(split), 2)),
                             dtype=g.dtype))


# The batch axis is repeated once (tile_grad's like tiled along it, as any shared input).
_tile_batch = leading_with(lambda c: {"multiples": [1, *c.attrs["multiples"]]})

defop("tile", aliases=("Tile",), infer=_tile_infer, batch=_tile_batch,
      forward=lambda x, multiples: np.tile(x, multiples),
      attrs={"multiples": Attr(parse=_multiples)},
      linear=(0,), transpose=lambda c: [fn.tile_grad(c.g, c.a, multiples=c.attrs["multiples"])],
      doc="Repeats the input multiples[i] times along each axis i.")
defop("tile_grad", inputs=2, batch=_tile_batch,
      infer=shaped_like(1),
      forward=_tile_grad, attrs={"multiples": Attr(parse=_multiples)},
      linear=(0,), transpose=lambda c: [fn.tile(c.g, multiples=c.attrs["multiples"]), None],
      doc="Internal (tile's VJP): the sum of g's copies, shaped like the second input.")
