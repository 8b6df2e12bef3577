"""One exception family for everything the engine refuses, each naming where it happened."""
from __future__ import annotations

from collections.abc import Sequence


class EngineError(Exception):
    """A request the engine cannot compute.

    ``loc`` says where, in the engine's own words: it starts with the name of an argument
    of the function that was called (``nodes`` of ``Graph.build``, ``grad_ys`` of
    ``compute_gradients``, ``graph`` for a node found faulty only once shapes are fed)
    and goes on with indices, node fields and attr names, e.g. ``("nodes", 3, "attrs",
    "axis")``. ``node`` is the name of the node at fault, when there is one. Callers map
    this to their own words (the service: to JSON paths and HTTP statuses).
    """

    def __init__(self, message: str, *, node: str | None = None, loc: Sequence[str | int] = ()):
        super().__init__(message)
        self.message = message
        self.node = node
        self.loc = tuple(loc)

    def within(self, arg: str) -> EngineError:
        """The same refusal seen from a function that took the faulty input as ``arg``
        (a graph description's fault, raised by a caller that takes the graph)."""
        return type(self)(self.message, node=self.node, loc=(arg, *self.loc))

    def __str__(self) -> str:
        where = f"node {self.node!r}: " if self.node else ""
        return where + self.message


class GraphError(EngineError):
    """The graph itself is malformed: unknown op, bad attr, cycle, shapes, dtypes."""


class FeedError(EngineError):
    """A value supplied at run time does not fit the graph (missing, wrong shape or dtype)."""


class LimitError(EngineError):
    """A tensor would exceed a configured size limit; raised before anything is allocated."""


class ComputeError(EngineError):
    """The arithmetic itself failed at run time (shapes only known then, for instance)."""
