"""Where a JSON document is nested too deep, found without recursion.

orjson refuses to encode past its own depth limit (about 255 levels) with a bare
"Recursion limit reached"; a graph description is hashed with orjson, so a constant whose
``value`` (or an op's ``attrs``) is nested that deep would otherwise be a 500. This walks
only containers, with an explicit stack, and names the JSON path of the first one too deep.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .codec import MAX_RANK
from .problems import ProblemError

Loc = Sequence[str | int]
MAX_NESTING = 2 * MAX_RANK  # levels below a graph description: a rank-32 tensor fits in it


def too_deep_at(doc: Any, limit: int = MAX_NESTING) -> list[str | int] | None:
    """The path (from ``doc``) of the first container more than ``limit`` levels down."""
    stack: list[tuple[Any, list[str | int]]] = [(doc, [])]
    while stack:
        value, loc = stack.pop()
        if len(loc) > limit:
            return loc
        if isinstance(value, dict):
            stack.extend((v, [*loc, k]) for k, v in value.items() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, [*loc, i]) for i, v in enumerate(value)
                         if isinstance(v, (dict, list)))
    return None


def too_deep(doc: Any, where: Loc, limit: int = MAX_NESTING) -> ProblemError:
    """A 422 naming where ``doc`` (found at ``where`` in the request) is nested too deep."""
    loc = [*where, *(too_deep_at(doc, limit) or [])]
    msg = f"nested more than {limit} levels deep (a tensor has at most rank {MAX_RANK})"
    shown = ".".join(map(str, loc[:len(where) + 8])) + ("..." if len(loc) > len(where) + 8 else "")
    return ProblemError("invalid-request", f"{shown}: {msg}", [(loc, msg)])
