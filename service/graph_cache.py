"""Graph descriptions to engine Graphs, paid once per distinct description in each worker.

The cache key is a hash of the description's canonical JSON, so a graph the worker has
seen is neither decoded nor rebuilt nor re-differentiated (the engine's plan cache is
keyed by the Graph's own content key, which the cached Graph keeps). Judging the
description is the engine's job (``Graph.from_description`` names the node at fault);
this module only lends it the decoder of the wire's tensor forms for leaf values.
"""
from __future__ import annotations

import hashlib
from typing import Any

import orjson

from engine import NODE_BUDGET, EngineError, Graph, LRUCache

from .codec import decode_at
from .nesting import too_deep


class GraphCache:
    """Built graphs by content hash (one per worker process)."""

    def __init__(self, maxsize: int, max_nodes: int, max_elements: int):
        self._cache: LRUCache[Graph] = LRUCache(maxsize, NODE_BUDGET, len)
        self.max_nodes = max_nodes
        self.max_elements = max_elements

    def get(self, description: Any, where: list[str | int]) -> tuple[Graph, bool]:
        """The Graph a description builds, and whether it came from the cache. ``where`` is
        the description's path in the request, for the faults of its leaf values. An
        engine refusal is raised as seen from a function taking the graph as ``graph``."""
        try:
            key = hashlib.sha256(orjson.dumps(description, option=orjson.OPT_SORT_KEYS)).digest()
        except orjson.JSONEncodeError:  # nested past orjson's limit (a tensor or attrs)
            raise too_deep(description, where) from None
        return self._cache.get_or_make(key, lambda: self._build(description, where))

    def _build(self, description: Any, where: list[str | int]) -> Graph:
        def decode_value(raw: Any, dtype: str, loc: tuple[str | int, ...]) -> Any:
            return decode_at(raw, dtype, self.max_elements, [*where, *loc])

        try:
            return Graph.from_description(description, max_nodes=self.max_nodes,
                                          max_elements=self.max_elements,
                                          decode_value=decode_value)
        except EngineError as exc:
            raise exc.within("graph") from None
