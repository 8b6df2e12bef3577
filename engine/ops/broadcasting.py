"""Broadcasting and its undoing: the one place a broadcast gradient is summed back.

``broadcast_to`` / ``broadcast_like`` and ``sum_to_shape`` / ``sum_to_like`` are each
other's transposes; ``rules.sum_to`` and ``rules.broadcast_like`` pick the static or the
run-time ("like") form, so unknown dimensions need no second path.
"""
from __future__ import annotations

import numpy as np

from .. import fn
from ..shapes import broadcast, is_static
from . import attrs as parse
from .contexts import BatchContext
from .registry import Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import (
    batched_first,
    broadcast_like,
    example_rank,
    example_shape,
    lifted,
    shaped_like,
    sum_to,
)


def _broadcast_to_infer(specs, attrs):
    check_dtypes(specs, "any")
    target = attrs["shape"]
    out = broadcast(specs[0].shape, target)
    if len(out) != len(target) or any(
        t is not None and o is not None and t != o for t, o in zip(target, out)
    ):
        raise OpTypeError(f"cannot broadcast {list(specs[0].shape)} to {list(target)}")
    return TensorSpec(tuple(target), specs[0].dtype)


@kernel
def _broadcast_to(attrs, specs):
    """A view of x (no copy); a static target shape is bound once (2.6 -> 1.9 us a call)."""
    target = attrs["shape"]
    if all(d is not None for d in target):
        shape, broadcast_to = tuple(target), np.broadcast_to
        return lambda x: broadcast_to(x, shape)

    def run(x):
        lead = len(target) - x.ndim  # axes the input lacks: an unknown one there is 1

        def dim(i: int, d: int | None) -> int:
            return d if d is not None else (x.shape[i - lead] if i >= lead else 1)

        return np.broadcast_to(x, tuple(dim(i, d) for i, d in enumerate(target)))

    return run


def _summed_axes(have: tuple[int, ...], want: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of a ``have``-shaped gradient that sum to ``want`` (kept as size 1)."""
    lead = len(have) - len(want)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(want) if d == 1 and have[lead + i] != 1)


def _sum_to_shape(t, shape):
    shape = tuple(shape)
    if t.shape == shape:
        return t
    axes = _summed_axes(t.shape, shape)
    out = t.sum(axis=axes, keepdims=True, dtype=t.dtype) if axes else t
    return out.reshape(shape)


@kernel
def _sum_to_shape_kernel(attrs, specs):
    """With the input's shape static, the axes are known once: the sum is one reduce
    (a bias gradient in a loop's body does it every iteration)."""
    shape, have = tuple(attrs["shape"]), specs[0].shape
    if not is_static(have) or have == shape:
        return lambda t: _sum_to_shape(t, shape)
    axes, reduce = _summed_axes(have, shape), np.add.reduce
    if not axes:
        return lambda t: t.reshape(shape)
    if shape and have[len(have) - len(shape):] == shape:  # leading axes only: the reduce
        return lambda t: reduce(t, axes, t.dtype)          # has the shape (an array, not 0-d)

    def run(t):
        return reduce(t, axis=axes, dtype=t.dtype, keepdims=True).reshape(shape)

    return run


SHAPE_ATTR = {"shape": Attr(parse=parse.shape)}


def _shared_static_like(c: BatchContext) -> bool:
    """A "like" operand the same for every example, of known shape: the static form of
    the op serves, and the like need not be tiled along the batch."""
    return c.axes[1] is None and is_static(c.b.shape)


def _broadcast_batch(c: BatchContext):
    """The input lifted to the target's rank (its batch axis first), then broadcast to
    the target grown by the batch (static), or to the batched like (at run time)."""
    target = c.attrs["shape"] if c.node.op == "broadcast_to" else example_shape(c, 1)
    x = lifted(c, 0, len(target))
    if c.node.op == "broadcast_to" or _shared_static_like(c):
        return [fn.broadcast_to(x, shape=[c.size, *target])], [0]
    return [c.apply(x, batched_first(c, 1))], [0]


def _sum_to_batch(c: BatchContext):
    """The input's extra leading example axes (which the target lacks) summed away first,
    so the batch axis meets the target's batch axis; then summed to the target grown by
    the batch (static), or to the batched like (at run time)."""
    x = batched_first(c, 0)
    target = c.attrs["shape"] if c.node.op == "sum_to_shape" else example_shape(c, 1)
    extra = example_rank(c, 0) - len(target)
    if extra > 0:
        x = fn.sum(x, axis=list(range(1, 1 + extra)))
    if c.node.op == "sum_to_shape" or _shared_static_like(c):
        return [fn.sum_to_shape(x, shape=[c.size, *target])], [0]
    return [c.apply(x, batched_first(c, 1))], [0]


defop("broadcast_to", aliases=("BroadcastTo",), infer=_broadcast_to_infer,
      forward=_broadcast_to, attrs=SHAPE_ATTR, batch=_broadcast_batch,
      linear=(0,), transpose=lambda c: [sum_to(c.g, c.a)])
defop("sum_to_shape", infer=lambda specs, attrs: TensorSpec(attrs["shape"], specs[0].dtype),
      forward=_sum_to_shape_kernel, attrs=SHAPE_ATTR, batch=_sum_to_batch,
      linear=(0,), transpose=lambda c: [broadcast_like(c.g, c.a)],
      doc="Internal: sum a broadcast gradient back to a static shape.")
defop("sum_to_like", inputs=2, infer=shaped_like(1),
      forward=lambda t, like: _sum_to_shape(t, like.shape), batch=_sum_to_batch,
      linear=(0,), transpose=lambda c: [broadcast_like(c.g, c.a), None],
      doc="Internal: sum a broadcast gradient back to the run-time shape of the second input.")
defop("broadcast_like", inputs=2, infer=shaped_like(1),
      forward=lambda t, like: np.broadcast_to(t, like.shape), batch=_broadcast_batch,
      linear=(0,), transpose=lambda c: [sum_to(c.g, c.a), None],
      doc="Internal: broadcast to the run-time shape of the second input.")
