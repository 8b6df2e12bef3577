"""One request, from body bytes to answer bytes: what a worker process does.

Parsing, validation, decoding, the engine and encoding all happen here, in the worker, so
the event loop only relays bytes. ``Jobs`` holds a worker's warm state (built graphs; the
engine keeps its plans) and never raises: every outcome is a ``Reply``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

import engine
from engine import EngineError, FeedError, Graph

from . import codec
from .errors import PROBLEM_JSON, ProblemError, from_validation, problem_body
from .graphs import GraphCache, decode_at, engine_problem
from .schemas import GradientsRequest, GradOperationRequest, without
from .settings import Settings

log = logging.getLogger("gradserve.worker")
JSON = "application/json"
_GRADIENTS = without(GradientsRequest, "graph")
_GRAD_OPERATION = without(GradOperationRequest, "network")


@dataclass
class Reply:
    """What goes back over the pipe: the HTTP answer and what metrics want to know."""

    status: int
    body: bytes
    content_type: str = JSON
    plan_cache_hit: bool | None = None
    graph_cache_hit: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)


class _Clock:
    """Seconds spent in each phase, for the Server-Timing header."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.marks[phase] = self.marks.get(phase, 0.0) + now - self._last
        self._last = now


class Jobs:
    """A worker's request handlers and warm caches."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.graphs = GraphCache(settings.graph_cache_size, settings.max_nodes,
                                 settings.max_elements)
        engine.PROGRAMS.maxsize = settings.plan_cache_size
        self._handlers: dict[str, Callable[[dict[str, Any], _Clock], tuple[Any, bool, bool]]] = {
            "gradients": self._gradients, "grad_operation": self._grad_operation}

    def handle(self, kind: str, body: bytes) -> Reply:
        clock = _Clock()
        try:
            doc = _parse(body)
            clock.lap("parse")
            answer, graph_hit, plan_hit = self._handlers[kind](doc, clock)
            out = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
            clock.lap("encode")
            return Reply(200, out, JSON, plan_hit, graph_hit, clock.marks)
        except ProblemError as exc:
            return Reply(exc.status, exc.body(), PROBLEM_JSON, timings=clock.marks)
        except MemoryError:
            return Reply(503, problem_body("unavailable", "the computation ran out of memory"),
                         PROBLEM_JSON)
        except Exception:
            log.exception("unexpected failure handling a %s request", kind)
            return Reply(500, problem_body("internal", "an unexpected error occurred; it has "
                                           "been logged"), PROBLEM_JSON)

    # -- POST /gradients --------------------------------------------------------------------

    def _gradients(self, doc: dict[str, Any], clock: _Clock) -> tuple[Any, bool, bool]:
        req = _validate(_GRADIENTS, doc)
        clock.lap("validate")
        graph, graph_hit = self.graphs.get(req.graph, ["body", "graph"])
        clock.lap("graph")
        feeds = self._feeds(graph, req.feeds)
        grad_ys = None
        if req.grad_ys is not None:
            refs = [_resolve(graph, y, ("ys", i)) for i, y in enumerate(req.ys)]
            single = isinstance(doc.get("ys"), str)
            grad_ys = self._seeds(graph, req.grad_ys, refs, "grad_ys", single)
        clock.lap("decode")
        try:
            out = engine.compute_gradients(
                graph, feeds, req.ys, req.xs, grad_ys, req.stop_gradients,
                unconnected=req.unconnected_gradients,
                aggregation=req.aggregation_method or "add_n", dialect="tensorflow",
                name=req.name, return_values=req.return_values, return_graph=req.return_graph,
                max_elements=self.settings.max_elements)
        except EngineError as exc:
            raise _located(exc, "graph") from None
        clock.lap("compute")
        enc = req.encoding
        answer: dict[str, Any] = {"gradients": [_encode(g, enc) for g in out.gradients]}
        if out.values is not None:
            answer["values"] = {k: _encode(v, enc) for k, v in out.values.items()}
        if out.graph is not None:
            answer["graph"] = graph_json(out.graph, enc)
            answer["gradient_nodes"] = out.gradient_nodes
        return answer, graph_hit, out.cache_hit

    # -- POST /grad-operation ---------------------------------------------------------------

    def _grad_operation(self, doc: dict[str, Any], clock: _Clock) -> tuple[Any, bool, bool]:
        req = _validate(_GRAD_OPERATION, doc)
        clock.lap("validate")
        graph, graph_hit = self.graphs.get(req.network, ["body", "network"])
        clock.lap("graph")
        limit = self.settings.max_elements
        args = []
        for i, raw in enumerate(req.args):
            dtype = graph.node(graph.inputs[i]).spec.dtype if i < len(graph.inputs) else \
                "float32"
            args.append(decode_at(raw, dtype, limit, ["body", "args", i]))
        sens = None
        if req.sens is not None:
            sens = self._seeds(graph, req.sens, list(graph.outputs), "sens",
                               len(graph.outputs) == 1)
        feeds = self._feeds(graph, req.feeds)
        clock.lap("decode")
        try:
            grads, hit = engine.compute_grad_operation(
                graph, args, get_all=req.get_all, get_by_list=req.get_by_list,
                sens_param=req.sens_param, sens=sens, weights=req.weights, feeds=feeds,
                max_elements=self.settings.max_elements)
        except EngineError as exc:
            raise _located(exc, "network") from None
        clock.lap("compute")
        return {"gradients": _encode(grads, req.encoding)}, graph_hit, hit

    # -- shared -----------------------------------------------------------------------------

    def _feeds(self, graph: Graph, raw: dict[str, Any]) -> dict[str, np.ndarray]:
        """Each fed tensor decoded with the dtype of the node it feeds."""
        feeds = {}
        for name, value in raw.items():
            node = graph.by_name.get(name)
            if node is None:
                msg = f"{name!r} is not a node of the graph"
                raise ProblemError("invalid-request", msg, [(["body", "feeds", name], msg)])
            feeds[name] = decode_at(value, node.spec.dtype, self.settings.max_elements,
                                    ["body", "feeds", name])
        return feeds

    def _seeds(self, graph: Graph, raw: Any, refs: Sequence[tuple[str, int]], where: str,
               single: bool) -> list[np.ndarray | None]:
        """grad_ys or sens: one tensor (or null) per seeded tensor, with that tensor's dtype.

        With one seeded tensor a bare tensor is accepted as well as a list of one.
        """
        if single:
            spec = graph.spec(refs[0])
            listed = isinstance(raw, list) and len(raw) == 1 and (
                raw[0] is None or isinstance(raw[0], dict)
                or _depth(raw) == len(spec.shape) + 1)
            items, locs = (raw, [["body", where, 0]]) if listed else ([raw], [["body", where]])
        else:
            if not isinstance(raw, list) or len(raw) != len(refs):
                got = f"{len(raw)} entries" if isinstance(raw, list) else "not a list"
                msg = f"expected a list of {len(refs)} (one per {'y' if where == 'grad_ys' else 'output'}), got {got}"  # noqa: E501
                raise ProblemError("invalid-request", f"{where}: {msg}", [(["body", where], msg)])
            items, locs = raw, [["body", where, i] for i in range(len(raw))]
        out: list[np.ndarray | None] = []
        for ref, value, loc in zip(refs, items, locs, strict=True):
            if value is None and where == "grad_ys":
                out.append(None)
                continue
            out.append(decode_at(value, graph.spec(ref).dtype, self.settings.max_elements, loc))
        return out


_BODY_FIELDS = frozenset(GradientsRequest.model_fields) | frozenset(
    GradOperationRequest.model_fields)


def _located(exc: EngineError, graph_field: str = "graph") -> ProblemError:
    """Engine locs are relative to the body; a fed value's loc is its name in ``feeds``;
    a node's (found once shapes are known at run time) is inside the graph."""
    if exc.loc and exc.loc[0] == "nodes":
        return engine_problem(exc, ["body", graph_field])
    fed = isinstance(exc, FeedError) and not (exc.loc and exc.loc[0] in _BODY_FIELDS)
    return engine_problem(exc, ["body", "feeds"] if fed else ["body"])


def _resolve(graph: Graph, name: str, loc: tuple[str | int, ...]) -> tuple[str, int]:
    try:
        return graph.resolve(name, loc=loc)
    except EngineError as exc:
        raise _located(exc) from None


def _parse(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError("invalid-request", f"the body is not valid JSON: {exc}",
                           [(["body"], f"invalid JSON: {exc}")]) from None
    if not isinstance(doc, dict):
        raise ProblemError("invalid-request", "the body must be a JSON object",
                           [(["body"], "expected an object")])
    return doc


def _validate(model: Any, doc: dict[str, Any]) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise from_validation(exc, ["body"]) from None


def _depth(v: Any) -> int:
    depth = 0
    while isinstance(v, list):
        depth += 1
        v = v[0] if v else None
    return depth


def _encode(v: Any, encoding: str) -> Any:
    """Arrays (possibly nested in lists, as GradOperation nests them) to wire tensors."""
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return [_encode(x, encoding) for x in v]
    return codec.encode(np.asarray(v), encoding)


def graph_json(graph: Graph, encoding: str) -> dict[str, Any]:
    """A Graph as the wire description that builds it again (values encoded)."""
    spec = graph.to_spec()
    for node in spec["nodes"]:
        if node.get("value") is not None:
            node["value"] = codec.encode(np.asarray(node["value"]), encoding)
    return spec
