"""One exception family for everything the engine refuses, each naming where it happened."""
from __future__ import annotations

from collections.abc import Sequence


class EngineError(Exception):
    """A request the engine cannot compute.

    ``loc`` is a path into the caller's description (for a graph: ``("nodes", 3, "attrs",
    "axis")``), ``node`` the name of the node at fault, when there is one.
    """

    status = 422

    def __init__(self, message: str, *, node: str | None = None, loc: Sequence[str | int] = ()):
        super().__init__(message)
        self.message = message
        self.node = node
        self.loc = tuple(loc)

    def __str__(self) -> str:
        where = f"node {self.node!r}: " if self.node else ""
        return where + self.message


class GraphError(EngineError):
    """The graph itself is malformed: unknown op, bad attr, cycle, shapes, dtypes."""


class FeedError(EngineError):
    """A value supplied at run time does not fit the graph (missing, wrong shape or dtype)."""


class LimitError(EngineError):
    """A tensor would exceed a configured size limit; raised before anything is allocated."""

    status = 413


class ComputeError(EngineError):
    """The arithmetic itself failed at run time (shapes only known then, for instance)."""
