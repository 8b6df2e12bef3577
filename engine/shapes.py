"""Static shapes with unknown dimensions (``None``), and the rules that combine them."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

Shape = tuple[int | None, ...]


class DimensionError(ValueError):
    """One dimension of a shape is not a size; ``index`` says which."""

    def __init__(self, message: str, index: int):
        super().__init__(message)
        self.index = index


def normalize_shape(dims: object) -> Shape:
    """A shape from user input: ints >= 0, with ``None`` or ``-1`` for unknown."""
    if isinstance(dims, int) and not isinstance(dims, bool):
        dims = [dims]
    if not isinstance(dims, (list, tuple)):
        raise ValueError(f"shape must be a list of ints, got {dims!r}")
    out: list[int | None] = []
    for i, d in enumerate(dims):
        if d is None or (d == -1 and not isinstance(d, bool)):
            out.append(None)
        elif isinstance(d, bool) or not isinstance(d, int):
            raise DimensionError(f"shape dimensions must be ints or null, got {d!r}", i)
        elif d < 0:
            raise DimensionError(f"shape dimension {d} is negative (only -1 means unknown)", i)
        else:
            out.append(d)
    return tuple(out)


def is_static(shape: Shape) -> bool:
    return None not in shape


def num_elements(shape: Shape) -> int | None:
    """Element count, or None when a dimension is unknown."""
    n = 1
    for d in shape:
        if d is None:
            return None
        n *= d
    return n


def known_elements(shape: Shape) -> int:
    """Product of the known dimensions: a lower bound, used to refuse early."""
    n = 1
    for d in shape:
        if d is not None:
            n *= d
    return n


def broadcast(*shapes: Shape) -> Shape:
    """numpy broadcasting of static shapes; raises ValueError when they cannot meet."""
    if all(s == shapes[0] for s in shapes[1:]) and None not in shapes[0]:
        return shapes[0]
    rank = max((len(s) for s in shapes), default=0)
    out: list[int | None] = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(
                "shapes " + " and ".join(fmt(s) for s in shapes) + " cannot be broadcast"
            )
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def compatible(actual: Sequence[int], declared: Shape) -> bool:
    """Does a concrete shape fit a declared one with unknown dimensions?"""
    return len(actual) == len(declared) and all(
        d is None or d == a for a, d in zip(actual, declared, strict=True)
    )


def same(a: Shape, b: Shape) -> bool:
    """Could two static shapes be the same? Unknown dimensions match anything."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def normalize_axes(axis: object, rank: int) -> tuple[int, ...]:
    """Reduction axes: None = all; an int or a list of ints, negatives from the end."""
    if axis is None:
        return tuple(range(rank))
    items: Iterable[object] = axis if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, int):
            raise ValueError(f"axis must be an int or a list of ints, got {axis!r}")
        n = normalize_axis(a, rank)
        if n in out:
            raise ValueError(f"axis {a} is repeated")
        out.append(n)
    return tuple(sorted(out))


def fmt(shape: Shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
