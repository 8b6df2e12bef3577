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
from collections.abc import Callable, Mapping
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
    if is_onnx(description):
        description, _ = onnx_description(description, where)
    return described_graph(description, where, max_nodes, max_elements, key)


def described_graph(description: dict[str, Any], where: list[str | int], max_nodes: int,
                    max_elements: int, key: str | None) -> Graph:
    """A graph description of ours (not ONNX) as a Graph, its leaf values decoded."""
    def decode_value(raw: Any, dtype: str, loc: tuple[str | int, ...]) -> Any:
        return decode_at(raw, dtype, max_elements, [*where, *loc])

    return Graph.from_description(description, max_nodes=max_nodes,
                                  max_elements=max_elements, decode_value=decode_value,
                                  key=key)


#: The value a request feeds a graph input, decoded to its dtype; None if not fed.
Fed = Callable[[str, str], Any]


def is_onnx(description: Any) -> bool:
    """``{"onnx": "<base64>"}``: an ONNX model where a graph is expected (API.md §9)."""
    return isinstance(description, dict) and "onnx" in description


def onnx_description(description: dict[str, Any], where: list[str | int],
                     fed: Fed | None = None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The graph description of ``{"onnx": base64}``, and the graph inputs bound. onnxio
    (and onnx, ~1.8 s to import) is imported here, on a worker's first ONNX graph, so
    workers that never see one never pay for it. No feed shapes are passed as hints:
    symbolic dims stay null and the engine specializes the graph to each request's feeds
    (onnxio turns ``Reshape`` to ``[batch, -1]`` and ``Flatten`` into reshapes with -1), so
    one import serves every batch size; a model whose shape arithmetic needs static dims
    is refused naming the node (export it with static shapes). A graph input that an op
    needs known at import (axes, a shape, a k, fed at run time) is bound to the value
    ``fed`` gives it: the graph is built for that value."""
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
        built, bound = onnxio.bound_description(data, fed)
    except onnxio.OnnxError as exc:
        if exc.fed:  # the feed's fault, not the model's: named at the feed
            at = ["body", "feeds", exc.node]
            raise ProblemError("invalid-request", exc.message, [(at, exc.message)]) from None
        raise onnx_problem(exc, loc) from None
    return built, tuple(sorted(bound))


def _digest(value: Any, where: list[str | int]) -> bytes:
    try:
        return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).digest()
    except orjson.JSONEncodeError:  # nested past orjson's limit (a tensor or attrs)
        raise too_deep(value, where) from None


class GraphCache:
    """Built graphs by content hash (one per worker process). An ONNX graph built for the
    values of some fed inputs (``onnx_description``) is keyed by those feeds too: which
    inputs a description binds is remembered by its hash, so that a repeated request
    finds its graph without importing the model again."""

    def __init__(self, maxsize: int, max_nodes: int, max_elements: int):
        self._cache: LRUCache[Graph] = LRUCache(maxsize, NODE_BUDGET, len)
        self._binds: LRUCache[tuple[str, ...]] = LRUCache(maxsize)
        self.max_nodes = max_nodes
        self.max_elements = max_elements

    def get(self, description: Any, where: list[str | int],
            feeds: Mapping[str, Any] | None = None) -> tuple[Graph, bool]:
        """The Graph a description builds, and whether it came from the cache. ``where`` is
        the description's path in the request, for the faults of its leaf values;
        ``feeds`` the request's wire feeds (what an ONNX graph may bind). An engine
        refusal is raised as seen from a function taking the graph as ``graph``."""
        key = _digest(description, where)
        names = self._binds.get(key) if is_onnx(description) else None
        graph = self._cache.get(self._bound_key(key, names, feeds))
        if graph is not None:
            return graph, True
        self._cache.misses += 1
        try:
            graph, bound, full = self._build(description, where, key, feeds)
        except EngineError as exc:
            raise exc.within("graph") from None
        if bound != names and (bound or names):  # which inputs its feeds key it by
            self._binds.put(key, bound)
        self._cache.put(full, graph)
        return graph, False

    @staticmethod
    def _bound_key(key: bytes, names: tuple[str, ...] | None,
                   feeds: Mapping[str, Any] | None) -> bytes:
        if not names:
            return key
        return key + _digest([(feeds or {}).get(name) for name in names], ["body", "feeds"])

    def _build(self, description: Any, where: list[str | int], key: bytes,
               feeds: Mapping[str, Any] | None) -> tuple[Graph, tuple[str, ...], bytes]:
        """The graph, the ONNX inputs it bound, and its key: the description's hash and the
        bound feeds' (the engine's plan cache, keyed by it, need not hash the graph)."""
        def fed(name: str, dtype: str) -> Any:
            raw = (feeds or {}).get(name)
            return None if raw is None else decode_at(raw, dtype, self.max_elements,
                                                      ["body", "feeds", name])

        bound: tuple[str, ...] = ()
        if is_onnx(description):
            description, bound = onnx_description(description, where, fed)
        full = self._bound_key(key, bound, feeds)
        return described_graph(description, where, self.max_nodes, self.max_elements,
                               full.hex()), bound, full


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
