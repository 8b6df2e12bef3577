"""Graph descriptions to engine Graphs, paid once per distinct description in each worker.

The cache key is a hash of the description's canonical JSON, so a graph the worker has
seen is neither decoded nor rebuilt nor re-differentiated (the engine's plan cache is
keyed by the Graph's key, which is this same hash: a built graph is not hashed again). Judging the
description is the engine's job (``Graph.from_description`` names the node at fault);
this module only lends it the decoder of the wire's tensor forms for leaf values.
Registered models (``repository.py``) are built by the same function and kept pinned,
outside the LRU, in ``ModelGraphs``.
"""
from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
import pybase64

from engine import NODE_BUDGET, EngineError, Graph, LRUCache

from .codec import decode_at
from .nesting import too_deep
from .problems import ProblemError, onnx_problem


def build_graph(description: Any, where: list[str | int], max_nodes: int,
                max_elements: int, key: str | None = None) -> Graph:
    """A description as a Graph; ``where`` is its path, for the faults of its leaf values
    (an EngineError's own loc is from the description's top). ``key``: the description's
    hash, kept as the graph's key (``Graph.from_description``)."""
    def decode_value(raw: Any, dtype: str, loc: tuple[str | int, ...]) -> Any:
        return decode_at(raw, dtype, max_elements, [*where, *loc])

    if is_onnx(description):
        description = onnx_description(description, where)
    return Graph.from_description(description, max_nodes=max_nodes,
                                  max_elements=max_elements, decode_value=decode_value,
                                  key=key)


def is_onnx(description: Any) -> bool:
    """``{"onnx": "<base64>"}``: an ONNX model where a graph is expected (API.md §9)."""
    return isinstance(description, dict) and "onnx" in description


def onnx_description(description: dict[str, Any], where: list[str | int]) -> dict[str, Any]:
    """The graph description of ``{"onnx": base64}``. onnxio (and onnx, ~1.8 s to import)
    is imported here, on a worker's first ONNX graph, so workers that never see one never
    pay for it. No feed shapes are passed as hints: symbolic dims stay null and the
    engine specializes the graph to each request's feeds (onnxio turns ``Reshape`` to
    ``[batch, -1]`` and ``Flatten`` into reshapes with -1), so one import serves every
    batch size; a model whose shape arithmetic needs static dims is refused naming the
    node (export it with static shapes)."""
    text = description["onnx"]
    loc = [*where, "onnx"]
    extra = sorted(set(description) - {"onnx"})
    if extra:
        msg = f"an ONNX graph is {{\"onnx\": base64}} alone; {extra[0]!r} is not taken"
        raise ProblemError("invalid-request", msg, [([*where, extra[0]], msg)])
    if not isinstance(text, str):
        msg = "'onnx' must be the base64 of a serialized ONNX ModelProto"
        raise ProblemError("invalid-request", msg, [(loc, msg)])
    try:
        data = pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        msg = "'onnx' is not valid base64"
        raise ProblemError("invalid-request", msg, [(loc, msg)]) from None
    import onnxio

    try:
        return onnxio.to_description(data)
    except onnxio.OnnxError as exc:
        raise onnx_problem(exc, loc) from None


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
        return self._cache.get_or_make(key, lambda: self._build(description, where, key))

    def _build(self, description: Any, where: list[str | int], key: bytes) -> Graph:
        """The graph, keyed by the description's hash (the engine's plan cache then need
        not hash the built graph again)."""
        try:
            return build_graph(description, where, self.max_nodes, self.max_elements,
                               key.hex())
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
