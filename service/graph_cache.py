"""Graph descriptions to engine Graphs, paid once per distinct description in each worker.

The cache key is a hash of the description's canonical JSON, so a graph the worker has
seen is neither decoded nor rebuilt nor re-differentiated (the engine's plan cache is
keyed by the Graph's own content key, which the cached Graph keeps). Judging the
description is the engine's job (``Graph.from_description`` names the node at fault);
this module only lends it the decoder of the wire's tensor forms for leaf values.
Registered models (``repository.py``) are built by the same function and kept pinned,
outside the LRU, in ``ModelGraphs``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from engine import NODE_BUDGET, EngineError, Graph, LRUCache

from .codec import decode_at


def build_graph(description: Any, where: list[str | int], max_nodes: int,
                max_elements: int) -> Graph:
    """A description as a Graph; ``where`` is its path, for the faults of its leaf values
    (an EngineError's own loc is from the description's top)."""
    def decode_value(raw: Any, dtype: str, loc: tuple[str | int, ...]) -> Any:
        return decode_at(raw, dtype, max_elements, [*where, *loc])

    return Graph.from_description(description, max_nodes=max_nodes,
                                  max_elements=max_elements, decode_value=decode_value)


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
        key = hashlib.sha256(orjson.dumps(description, option=orjson.OPT_SORT_KEYS)).digest()
        return self._cache.get_or_make(key, lambda: self._build(description, where))

    def _build(self, description: Any, where: list[str | int]) -> Graph:
        try:
            return build_graph(description, where, self.max_nodes, self.max_elements)
        except EngineError as exc:
            raise exc.within("graph") from None


class ModelGraphs:
    """A worker's registered models, built once each: name -> (version, Graph)."""

    def __init__(self, max_nodes: int, max_elements: int):
        self._graphs: dict[str, tuple[str, Graph]] = {}
        self.max_nodes = max_nodes
        self.max_elements = max_elements

    def get(self, name: str) -> Graph | None:
        held = self._graphs.get(name)
        return None if held is None else held[1]

    def versions(self) -> dict[str, str]:
        return {name: version for name, (version, _) in self._graphs.items()}

    def update(self, build: Mapping[str, tuple[str, Any]], drop: list[str]) -> None:
        """Build the models given (the parent judged them already) and forget ``drop``."""
        for name in drop:
            self._graphs.pop(name, None)
        for name, (version, description) in build.items():
            self._graphs[name] = (version, build_graph(description, ["models", name],
                                                       self.max_nodes, self.max_elements))
