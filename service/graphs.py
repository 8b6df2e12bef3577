"""Graph descriptions to engine Graphs, paid once per distinct description in each worker.

The cache key is a hash of the description's canonical JSON, so a graph the worker has
seen is neither re-validated by pydantic nor rebuilt nor re-differentiated (the engine's
plan cache is keyed by the Graph's own content key, which the cached Graph keeps).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from engine import EngineError, Graph
from engine.api import NODE_BUDGET
from engine.cache import LRUCache
from engine.dtypes import canonical_dtype

from . import codec
from .errors import ProblemError, from_validation
from .nesting import too_deep
from .schemas import GraphSpec
from .settings import knob

Loc = Sequence[str | int]


class GraphCache:
    """Built graphs by content hash (one per worker process)."""

    def __init__(self, maxsize: int, max_nodes: int, max_elements: int):
        self._cache: LRUCache[Graph] = LRUCache(maxsize, NODE_BUDGET, len)
        self.max_nodes = max_nodes
        self.max_elements = max_elements

    def get(self, raw: Any, where: Loc) -> tuple[Graph, bool]:
        """The Graph a description builds, and whether it came from the cache. ``where`` is
        the description's path in the request, for error locations."""
        if not isinstance(raw, dict):
            raise ProblemError("invalid-request", "the graph must be an object",
                               [(where, "expected an object with 'nodes'")])
        nodes = raw.get("nodes")
        if isinstance(nodes, list) and len(nodes) > self.max_nodes:
            loc = [*where, "nodes"]
            raise ProblemError("too-large", f"the graph has {len(nodes)} nodes; the limit is "
                               f"{self.max_nodes} (raise it with {knob('max_nodes')})",
                               [(loc, "too many nodes")])
        try:
            key = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).digest()
        except orjson.JSONEncodeError:  # nested past orjson's limit (a tensor or attrs)
            raise too_deep(raw, where) from None
        return self._cache.get_or_make(key, lambda: self._build(raw, where))

    def _build(self, raw: dict[str, Any], where: Loc) -> Graph:
        try:
            GraphSpec.model_validate(raw)
        except ValidationError as exc:
            raise from_validation(exc, where) from None
        nodes = [self._decoded(i, node, where) for i, node in enumerate(raw["nodes"])]
        try:
            return Graph.build(nodes, raw.get("inputs"), _names(raw.get("outputs")),
                               max_nodes=self.max_nodes, max_elements=self.max_elements)
        except EngineError as exc:
            raise engine_problem(exc, where) from None

    def _decoded(self, i: int, node: dict[str, Any], where: Loc) -> dict[str, Any]:
        """A leaf's ``value`` as an array of its declared dtype (typed forms name theirs)."""
        if node.get("value") is None:
            return node
        dtype = node.get("dtype") or "float32"
        try:
            dtype = canonical_dtype(dtype)
        except ValueError as exc:
            raise ProblemError("invalid-graph", str(exc), [([*where, "nodes", i, "dtype"],
                                                            str(exc))], node=node["name"]) from None
        value = decode_at(node["value"], dtype, self.max_elements, [*where, "nodes", i, "value"])
        return {**node, "value": value}


def _names(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def decode_at(value: Any, dtype: str, max_elements: int, loc: Loc) -> Any:
    """``codec.decode`` with its faults placed at ``loc`` in the request."""
    try:
        return codec.decode(value, dtype, max_elements)
    except codec.TensorError as exc:
        kind = "too-large" if exc.status == 413 else "invalid-request"
        path = [*loc, *exc.loc]
        raise ProblemError(kind, f"{'.'.join(map(str, path))}: {exc.message}",
                           [(path, exc.message)]) from None


def engine_problem(exc: EngineError, prefix: Loc) -> ProblemError:
    """An engine refusal as a problem: 422 (413 for a limit), naming node and path."""
    loc = [*prefix, *exc.loc]
    kind = "too-large" if exc.status == 413 else (
        "invalid-graph" if exc.node is not None or "nodes" in exc.loc else "invalid-request")
    return ProblemError(kind, str(exc), [(loc, exc.message)], node=exc.node, status=exc.status)
