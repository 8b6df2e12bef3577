"""What a worker does for each compute endpoint, from a validated request to answer JSON.

A handler takes a ``Call`` (the validated request, its raw document, the worker's warm
state) and returns a ``Computed``. It raises ``ProblemError`` for a fault it finds itself
(a wire tensor that does not decode) and lets ``EngineError`` through: the worker maps
those with the endpoint's table (``endpoints.py``). Wire tensors are decoded here, each
with the dtype of the tensor it feeds; the engine resolves names and checks counts.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pybase64

import engine
from engine import EngineError, Graph

from . import codec
from .codec import decode_at
from .graph_cache import GraphCache, ModelGraphs
from .problems import ProblemError, onnx_problem
from .schemas import FunctionRequest, GradientsRequest, GradOperationRequest, GradRequest
from .settings import Settings

DEFAULT_DTYPE = "float32"  # for a tensor that seeds nothing: the engine refuses its count


class Clock:
    """Seconds spent in each phase, for the Server-Timing header."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.marks[phase] = self.marks.get(phase, 0.0) + now - self._last
        self._last = now


@dataclass
class Call:
    """One request in a worker: the validated model, the parsed body, the warm state."""

    request: Any
    doc: dict[str, Any]
    graphs: GraphCache
    models: ModelGraphs
    settings: Settings
    clock: Clock
    model: str | None = None  # the registered model the request names, once looked up

    def graph(self, field_name: str) -> tuple[Graph, bool]:
        """The request's graph: from its field ``field_name`` (built, or from the cache), or
        the registered model its ``model`` field names (built when it was registered)."""
        name, raw = self.doc.get("model"), self.doc.get(field_name)
        if name is not None and raw is not None:
            msg = f"give either {field_name!r} or 'model', not both"
            raise ProblemError("invalid-request", msg, [(["body", "model"], msg)])
        if name is None:
            if raw is None:
                msg = f"a graph is required: {field_name!r}, or 'model' (a registered name)"
                raise ProblemError("invalid-request", msg, [(["body", field_name], msg)])
            graph, hit = self.graphs.get(raw, ["body", field_name], self.doc.get("feeds"))
        else:
            found = self.models.get(name)
            if found is None:
                msg = f"no model named {name!r} is registered (GET /models lists them)"
                raise ProblemError("not-found", msg, [(["body", "model"], "unknown model")])
            graph, hit, self.model = found, True, name
        self.clock.lap("graph")
        return graph, hit

    def decode(self, value: Any, dtype: str, loc: list[str | int]) -> np.ndarray:
        return decode_at(value, dtype, self.settings.max_elements, loc)

    def feeds(self, graph: Graph, raw: dict[str, Any]) -> dict[str, np.ndarray]:
        """Each fed tensor decoded with the dtype of the node it feeds."""
        feeds = {}
        for name, value in raw.items():
            node = graph.by_name.get(name)
            if node is None:
                msg = f"{name!r} is not a node of the graph"
                raise ProblemError("invalid-request", msg, [(["body", "feeds", name], msg)])
            feeds[name] = self.decode(value, node.spec.dtype, ["body", "feeds", name])
        return feeds

    def keyed(self, graph: Graph, raw: dict[str, Any], field_name: str
              ) -> dict[str, np.ndarray]:
        """Tangents, cotangents or vectors: each decoded with the dtype of the tensor its
        key names (float32 when it names none: the engine refuses the key)."""
        out = {}
        for name, value in raw.items():
            try:
                dtype = graph.spec(graph.resolve(name)).dtype
            except EngineError:
                dtype = DEFAULT_DTYPE
            out[name] = self.decode(value, dtype, ["body", field_name, name])
        return out

    def args(self, graph: Graph, raw: Sequence[Any]) -> list[np.ndarray]:
        """A network's positional args, each with the dtype of the input it feeds."""
        inputs = [graph.node(name).spec for name in graph.inputs]
        return [self.decode(value, inputs[i].dtype if i < len(inputs) else DEFAULT_DTYPE,
                            ["body", "args", i]) for i, value in enumerate(raw)]

    def seeds(self, raw: Any, dtypes: Sequence[str], ranks: Sequence[int], where: str,
              single: bool, nullable: bool) -> list[np.ndarray | str | None]:
        """grad_ys or sens: one tensor (or null, if ``nullable``) per seeded tensor, each
        with that tensor's dtype, or ``{"node": NAME}`` (the engine takes the name); the
        engine checks their count. With one seeded tensor (``single``) a bare tensor is
        accepted as well as a list of one."""
        listed = isinstance(raw, list) and (not single or (len(raw) == 1 and (
            raw[0] is None or isinstance(raw[0], dict) or _depth(raw) == ranks[0] + 1)))
        items, locs = (raw, [["body", where, i] for i in range(len(raw))]) if listed else (
            [raw], [["body", where]])
        return [None if value is None and nullable else _node_seed(value, loc) if
                _is_node_seed(value) else
                self.decode(value, dtypes[i] if i < len(dtypes) else DEFAULT_DTYPE, loc)
                for i, (value, loc) in enumerate(zip(items, locs, strict=True))]


@dataclass
class Computed:
    """A handler's answer (JSON-ready) and whether the graph and the plan were cached."""

    answer: Any
    graph_cache_hit: bool | None = None
    plan_cache_hit: bool | None = None


def gradients(call: Call) -> Computed:
    """POST /gradients: tf.gradients."""
    req: GradientsRequest = call.request
    graph, graph_hit = call.graph("graph")
    feeds = call.feeds(graph, req.feeds)
    ys: Sequence[Any] = req.ys
    grad_ys = None
    if req.grad_ys is not None:
        ys = graph.resolve_all(req.ys, "ys")  # once: the engine takes these refs as they are
        specs = [graph.spec(ref) for ref in ys]
        grad_ys = call.seeds(req.grad_ys, [s.dtype for s in specs],
                             [len(s.shape) for s in specs], "grad_ys",
                             single=isinstance(call.doc.get("ys"), str), nullable=True)
    call.clock.lap("decode")
    out = engine.compute_gradients(
        graph, feeds, ys, req.xs, grad_ys, req.stop_gradients,
        unconnected=req.unconnected_gradients, aggregation=req.aggregation_method or "add_n",
        dialect="tensorflow", name=req.name, return_values=req.return_values,
        return_graph=req.return_graph, max_elements=call.settings.max_elements,
        in_axes=in_axes(req))
    call.clock.lap("compute")
    enc = req.encoding
    answer: dict[str, Any] = {"gradients": [encode(g, enc) for g in out.gradients]}
    if out.values is not None:
        answer["values"] = {y: encode(v, enc) for y, v in zip(req.ys, out.values, strict=True)}
    if out.graph is not None:
        answer["graph"] = (graph_onnx(out.graph, req.ys, out.gradient_nodes)
                           if req.graph_format == "onnx" else graph_json(out.graph, enc))
        answer["gradient_nodes"] = out.gradient_nodes
    elif req.graph_format == "onnx":
        msg = "graph_format 'onnx' is the format of the returned graph: give return_graph"
        raise ProblemError("invalid-request", msg, [(["body", "graph_format"], msg)])
    return Computed(answer, graph_hit, out.cache_hit)


def grad_operation(call: Call) -> Computed:
    """POST /grad-operation: MindSpore's GradOperation."""
    req: GradOperationRequest = call.request
    graph, graph_hit = call.graph("network")
    args = call.args(graph, req.args)
    sens = None
    if req.sens is not None:
        specs = [graph.spec(ref) for ref in graph.outputs]
        sens = call.seeds(req.sens, [s.dtype for s in specs], [len(s.shape) for s in specs],
                          "sens", single=len(specs) == 1, nullable=False)
    feeds = call.feeds(graph, req.feeds)
    call.clock.lap("decode")
    grads, hit = engine.compute_grad_operation(
        graph, args, get_all=req.get_all, get_by_list=req.get_by_list,
        sens_param=req.sens_param, sens=sens, weights=req.weights, feeds=feeds,
        max_elements=call.settings.max_elements, in_axes=in_axes(req))
    call.clock.lap("compute")
    return Computed({"gradients": encode(grads, req.encoding)}, graph_hit, hit)


Handler = Callable[[Call], Computed]


def _functional(compute: Callable[..., dict[str, Any]], seeds: str | None = None,
                options: tuple[str, ...] = ()) -> Handler:
    """An API.md section 6 endpoint: the engine function ``compute`` called with the
    graph, the feeds, the ``seeds`` field decoded (tangents, cotangents, vectors) and the
    request fields ``options``; its answer, already keyed as the wire's, encoded."""

    def handle(call: Call) -> Computed:
        req: FunctionRequest = call.request
        graph, graph_hit = call.graph("graph")
        args: list[Any] = [graph, call.feeds(graph, req.feeds)]
        if seeds is not None:
            args.append(call.keyed(graph, getattr(req, seeds), seeds))
        return _computed(call, graph_hit, compute, *args, outputs=req.outputs,
                         **{k: getattr(req, k) for k in options})

    handle.__doc__ = f"POST /{compute.__name__}: engine.{compute.__name__}."
    return handle


evaluate = _functional(engine.evaluate)
jvp = _functional(engine.jvp, "tangents", ("inputs", "batched", "dialect"))
vjp = _functional(engine.vjp, "cotangents", ("inputs", "batched", "dialect"))
jacobian = _functional(engine.jacobian, None, ("inputs", "mode", "dialect"))
hessian = _functional(engine.hessian, None, ("inputs", "dialect"))
hvp = _functional(engine.hvp, "vectors", ("inputs", "batched", "dialect"))


def _mindspore2(compute: Callable[..., dict[str, Any]]) -> Handler:
    """An API.md section 7 endpoint: ``mindspore.grad`` or ``value_and_grad``."""

    def handle(call: Call) -> Computed:
        req: GradRequest = call.request
        graph, graph_hit = call.graph("network")
        args = call.args(graph, req.args)
        feeds = call.feeds(graph, req.feeds)
        position = req.grad_position if "grad_position" in req.model_fields_set else 0
        return _computed(call, graph_hit, compute, graph, args, grad_position=position,
                         weights=req.weights, has_aux=req.has_aux, return_ids=req.return_ids,
                         feeds=feeds)

    handle.__doc__ = f"POST /{compute.__name__.replace('_', '-')}: engine.{compute.__name__}."
    return handle


grad = _mindspore2(engine.grad)
value_and_grad = _mindspore2(engine.value_and_grad)


def _computed(call: Call, graph_hit: bool, compute: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Computed:
    """The engine's answer to a decoded request (with its vmap and the size limit),
    encoded as the request asks."""
    call.clock.lap("decode")
    out = compute(*args, **kwargs, in_axes=in_axes(call.request),
                  max_elements=call.settings.max_elements)
    call.clock.lap("compute")
    return Computed(encode(out, call.request.encoding), graph_hit)


def in_axes(req: Any) -> dict[str, int] | None:
    """The request's ``vmap.in_axes`` (None: not mapped)."""
    return None if req.vmap is None else req.vmap.in_axes


def _is_node_seed(value: Any) -> bool:
    return isinstance(value, dict) and "node" in value


def _node_seed(value: dict[str, Any], loc: list[str | int]) -> str:
    """``{"node": NAME}``: the name, for the engine to resolve."""
    if set(value) != {"node"} or not isinstance(value["node"], str):
        msg = 'a node seed is {"node": NAME} with NAME a string'
        raise ProblemError("invalid-request", msg, [(loc, msg)])
    return value["node"]


def _depth(v: Any) -> int:
    depth = 0
    while isinstance(v, list):
        depth += 1
        v = v[0] if v else None
    return depth


def encode(v: Any, encoding: str) -> Any:
    """Arrays, possibly nested in lists (as GradOperation nests them) and in objects by
    name (the functional answers), to wire tensors; ids (return_ids' positions and
    names) stay as they are."""
    if v is None or type(v) in (int, str):
        return v
    if isinstance(v, dict):
        return {k: encode(x, encoding) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [encode(x, encoding) for x in v]
    return codec.encode(np.asarray(v), encoding, raw=True)


def graph_onnx(graph: Graph, ys: Sequence[str], gradient_nodes: Sequence[str | None]
               ) -> dict[str, str]:
    """The differentiated graph as ``{"onnx": base64}``: a model whose outputs are the ys
    then the gradients (each once), onnxio's export (imported on first use)."""
    import onnxio

    outputs = list(dict.fromkeys([*ys, *(g for g in gradient_nodes if g is not None)]))
    try:
        data = onnxio.to_onnx(graph, outputs)
    except onnxio.OnnxError as exc:
        raise onnx_problem(exc, ["body", "graph_format"]) from None
    return {"onnx": pybase64.b64encode(data)}  # bytes: splice.dumps writes it


def graph_json(graph: Graph, encoding: str) -> dict[str, Any]:
    """A Graph as the wire description that builds it again (values encoded, also those
    of the subgraphs control-flow nodes hold as attrs)."""
    spec = graph.to_spec()
    pending = [spec]
    while pending:
        for node in pending.pop()["nodes"]:
            if node.get("value") is not None:
                node["value"] = codec.encode(np.asarray(node["value"]), encoding, raw=True)
            pending.extend(v for v in (node.get("attrs") or {}).values()
                           if isinstance(v, dict) and "nodes" in v)
    return spec
