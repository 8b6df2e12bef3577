"""Parsers for attr values: each normalizes an accepted form or raises ValueError."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..dtypes import canonical_dtype
from ..shapes import normalize_shape


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def integer(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"expected an int, got {v!r}")
    return v


def zero_only(v: Any) -> int:
    """An attr TensorFlow exports as 0; any other value asks for what we do not support."""
    if integer(v) != 0:
        raise ValueError(f"only 0 is supported, got {v}")
    return 0


def number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number, got {v!r}")
    return float(v)


def int_list(v: Any) -> tuple[int, ...]:
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"expected a list of ints, got {v!r}")
    return tuple(integer(x) for x in v)


def int_or_list(v: Any) -> int | tuple[int, ...]:
    """An int or a list of ints, kept as given (an int stays an int)."""
    return integer(v) if isinstance(v, int) and not isinstance(v, bool) else int_list(v)


def axis_or_none(v: Any) -> int | tuple[int, ...] | None:
    """Reduction axes: null (all), an int, or a list of ints."""
    return None if v is None else int_or_list(v)


def shape(v: Any) -> tuple[int | None, ...]:
    return normalize_shape(v)


def dtype(v: Any) -> str:
    return canonical_dtype(v)


def choice(*options: str, case_insensitive: bool = True) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        for o in options:
            if v == o or (case_insensitive and v.lower() == o.lower()):
                return o
        raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")

    return parse


def pair(v: Any, name: str = "value") -> tuple[int, int]:
    """conv/pool window attrs: an int (or [n]), a pair (H, W), or TensorFlow's NHWC four
    [1, h, w, 1]."""
    if isinstance(v, int) and not isinstance(v, bool):
        out = (v, v)
    else:
        items = int_list(v)
        if len(items) == 1:  # TensorFlow also takes a one-element list
            out = (items[0], items[0])
        elif len(items) == 2:
            out = (items[0], items[1])
        elif len(items) == 4:
            if items[0] != 1 or items[3] != 1:
                raise ValueError(
                    f"a four-element {name} is NHWC and must be [1, h, w, 1], got {list(items)}"
                )
            out = (items[1], items[2])
        else:
            raise ValueError(f"{name} must be an int, [h, w] or [1, h, w, 1], got {v!r}")
    if out[0] < 1 or out[1] < 1:
        raise ValueError(f"{name} must be positive, got {v!r}")
    return out
