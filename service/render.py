"""POST /render: a graph (and optionally its gradient nodes) as Graphviz DOT or SVG.

The drawing follows two good examples. TensorBoard's graph view groups nodes by name
scope, so a scope (``dense/``) is one box; here every scope is a nested Graphviz cluster,
and the gradient nodes (the engine's ``gradients`` transform, prefixed ``gradients/``) are
one cluster of their own, coloured apart. torchviz colours tensors by their role: leaves
the gradients are taken for, tensors saved for the backward pass, outputs; here too.

Layout is Graphviz's ``dot`` program, through the ``graphviz`` package. Where ``dot`` is
not installed, DOT text is still served and an SVG request answers 503 problem+json naming
the missing program (the documented fallback; no layout is computed here).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import graphviz
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

import engine
from engine import EngineError, Graph
from engine.simplify import simplify

from .graph_cache import GraphCache
from .problems import ProblemError, engine_problem, from_validation

MAX_RENDER_NODES = 2000  # dot's layout time grows fast; a bigger picture is unreadable anyway
GRADIENT_PREFIX = "gradients"
WIRE_PATHS = {"graph": ["body", "graph"]}  # engine arguments -> their place in the request
MEDIA = {"svg": "image/svg+xml", "dot": "text/vnd.graphviz; charset=utf-8"}

# role -> node attributes (torchviz's palette: leaves light blue, outputs green, saved
# tensors orange; gradients in a violet of their own)
STYLE: dict[str, dict[str, str]] = {
    "placeholder": {"fillcolor": "#dbeeff", "shape": "box", "style": "rounded,filled"},
    "variable": {"fillcolor": "lightblue", "shape": "box", "style": "rounded,filled"},
    "constant": {"fillcolor": "#eeeeee", "shape": "box", "style": "rounded,filled",
                 "fontcolor": "#555555"},
    "op": {"fillcolor": "white", "shape": "box", "style": "filled"},
    "output": {"fillcolor": "darkolivegreen1", "shape": "box", "style": "filled"},
    "gradient": {"fillcolor": "#e6dcf7", "shape": "box", "style": "filled",
                 "color": "#7a5bb5"},
    "gradient_result": {"fillcolor": "#b99ae8", "shape": "box", "style": "filled,bold",
                        "color": "#4b2a8a"},
}
SAVED = {"color": "orange", "penwidth": "2.5"}  # a forward tensor the backward pass reads
GRADIENT_CLUSTER = {"label": "gradients", "style": "rounded,filled", "fillcolor": "#f7f3fd",
                    "color": "#7a5bb5", "fontcolor": "#4b2a8a"}
SCOPE_CLUSTER = {"style": "rounded", "color": "#8a9bb0", "fontcolor": "#4a5b70"}


class RenderRequest(BaseModel):
    """API.md section 10."""

    model_config = ConfigDict(extra="forbid")

    graph: dict[str, Any] | None = None
    model: str | None = None
    ys: str | list[str] | None = None
    xs: str | list[str] | None = None
    format: Literal["svg", "dot"] = "svg"


@dataclass(frozen=True)
class Picture:
    body: bytes
    media_type: str


def render(body: bytes | memoryview, graphs: GraphCache,
           model_graph: Callable[[str], Graph | None] = lambda _: None) -> Picture:
    """A /render request's body to its picture; every refusal is a ProblemError.
    ``model_graph`` gives a registered model's built graph (a worker's, built once)."""
    try:
        req = RenderRequest.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise ProblemError("invalid-request", f"the body is not valid JSON: {exc}",
                           [(["body"], "invalid JSON")]) from None
    except ValidationError as exc:
        raise from_validation(exc, ["body"]) from None
    try:
        graph = _graph_of(req, graphs, model_graph)
    except EngineError as exc:
        raise engine_problem(exc, WIRE_PATHS) from None
    ys, xs = _names(req.ys), _names(req.xs)
    if (ys is None) != (xs is None):
        missing = "xs" if xs is None else "ys"
        raise ProblemError("invalid-request", f"give both ys and xs to draw gradients "
                           f"({missing} is missing)", [(["body", missing], "required with "
                                                       f"{'ys' if missing == 'xs' else 'xs'}")])
    forward = len(graph.nodes)
    grads: Sequence[Any] = ()
    if ys is not None and xs is not None:
        try:
            result = engine.gradients(graph, ys, xs, name=GRADIENT_PREFIX)
        except EngineError as exc:
            raise engine_problem(exc, WIRE_PATHS) from None
        kept = [g for g in result.grads if g is not None]  # drawn as /gradients returns it
        graph, renamed = simplify(result.graph, kept, protected=graph.by_name)
        grads = [None if g is None else renamed[g] for g in result.grads]
    if len(graph.nodes) > MAX_RENDER_NODES:
        raise ProblemError("too-large", f"the picture would have {len(graph.nodes)} nodes; "
                           f"/render draws at most {MAX_RENDER_NODES}",
                           [(["body", "graph", "nodes"], "too many nodes to draw")])
    wrt = {}
    for x, g in zip(xs or (), grads, strict=True):
        if g is not None:
            wrt.setdefault(g[0], []).append(x)
    dot = to_dot(graph, forward, wrt,
                 outputs=[r[0] for r in graph.outputs] if not grads else
                 [graph.resolve(y)[0] for y in ys or ()])
    if req.format == "dot":
        return Picture(dot.source.encode(), MEDIA["dot"])
    return Picture(layout(dot), MEDIA["svg"])


def _graph_of(req: RenderRequest, graphs: GraphCache,
              model_graph: Callable[[str], Graph | None]) -> Graph:
    if (req.graph is None) == (req.model is None):
        raise ProblemError("invalid-request", "give exactly one of 'graph' and 'model'",
                           [(["body"], "one of graph, model")])
    if req.model is not None:
        found = model_graph(req.model)
        if found is None:
            raise ProblemError("not-found", f"no model named {req.model!r}",
                               [(["body", "model"], "unknown model")])
        return found
    graph, _ = graphs.get(req.graph, ["body", "graph"])
    return graph


def _names(v: str | list[str] | None) -> list[str] | None:
    return [v] if isinstance(v, str) else v


def to_dot(graph: Graph, forward: int, results: dict[str, list[str]],
           outputs: Sequence[str]) -> graphviz.Digraph:
    """The graph as DOT: the first ``forward`` nodes by name scope, the rest (gradient
    nodes) in one cluster; ``results`` maps each gradient asked for to its xs, which a
    dashed edge joins it to."""
    dot = graphviz.Digraph("gradserve", graph_attr={
        "rankdir": "TB", "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.25",
        "ranksep": "0.35"}, node_attr={"fontname": "Helvetica", "fontsize": "10",
                                       "height": "0.3", "margin": "0.08,0.04"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#666666",
                   "arrowsize": "0.6"})
    gradient_names = {n.name for n in graph.nodes[forward:]}
    saved = {src for n in graph.nodes[forward:] for src, _ in n.inputs
             if src not in gradient_names}
    out_set = set(outputs)
    tree = _ScopeTree()
    for node in graph.nodes[:forward]:
        attrs = dict(STYLE["output" if node.name in out_set else _role(node)])
        if node.name in saved and node.op != "constant":
            attrs.update(SAVED)
        tree.add(node.name.split("/")[:-1], node.name, _label(node, node.name), attrs)
    tree.emit(dot)
    if forward < len(graph.nodes):
        with dot.subgraph(name="cluster_gradients", graph_attr=GRADIENT_CLUSTER) as sub:
            for node in graph.nodes[forward:]:
                short = node.name.removeprefix(f"{GRADIENT_PREFIX}/")
                label = _label(node, short)
                if node.name in results:
                    label += "\n= d/d " + ", ".join(results[node.name])
                role = "gradient_result" if node.name in results else "gradient"
                sub.node(node.name, label, **STYLE[role])
    for node in graph.nodes:
        for src, k in node.inputs:
            spec = graph.node(src).outputs[k]
            label = _shape(spec.shape) + (f" :{k}" if len(graph.node(src).outputs) > 1
                                          else "")
            style = {"color": "#7a5bb5"} if node.name in gradient_names else {}
            dot.edge(src, node.name, label=label, **style)
    for result, xs in results.items():
        for x in xs:
            dot.edge(result, graph.resolve(x)[0], style="dashed", color="#7a5bb5",
                     constraint="false", arrowhead="onormal")
    return dot


def _role(node: Any) -> str:
    return node.op if node.op in ("placeholder", "variable", "constant") else "op"


def _label(node: Any, name: str) -> str:
    """Name (within its scope) over the op; leaves show shape and dtype instead."""
    short = name.rsplit("/", 1)[-1] if not name.startswith(GRADIENT_PREFIX) else name
    if node.is_leaf:
        return f"{short}\n{node.op} {node.spec.dtype}{_shape(node.spec.shape)}"
    return f"{short}\n{node.op}" if short != node.op else short


def _shape(shape: Sequence[int | None]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


class _ScopeTree:
    """Nodes by name scope: each scope becomes a nested cluster."""

    def __init__(self) -> None:
        self.nodes: list[tuple[str, str, dict[str, str]]] = []
        self.children: dict[str, _ScopeTree] = {}

    def add(self, scope: list[str], name: str, label: str, attrs: dict[str, str]) -> None:
        tree = self
        for part in scope:
            tree = tree.children.setdefault(part, _ScopeTree())
        tree.nodes.append((name, label, attrs))

    def emit(self, dot: graphviz.Digraph, path: str = "") -> None:
        for name, label, attrs in self.nodes:
            dot.node(name, label, **attrs)
        for part, child in self.children.items():
            sub_path = f"{path}/{part}" if path else part
            with dot.subgraph(name=f"cluster_{sub_path}",
                              graph_attr={"label": part, **SCOPE_CLUSTER}) as sub:
                child.emit(sub, sub_path)


def layout(dot: graphviz.Digraph) -> bytes:
    """SVG from Graphviz's ``dot``; 503 naming the program where it is not installed."""
    try:
        return dot.pipe(format="svg", quiet=True)
    except graphviz.ExecutableNotFound:
        raise ProblemError("missing-program", "SVG needs Graphviz's 'dot' program, which is not "
                           "installed on this server (apt-get install graphviz); "
                           "format 'dot' still works",
                           [(["body", "format"], "'dot' is not installed")]) from None
    except graphviz.CalledProcessError as exc:
        raise ProblemError("internal", f"Graphviz's dot failed: {exc.stderr!r:.300}") from None
