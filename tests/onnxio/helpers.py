"""Shared checks of an ONNX model through onnxio and the engine.

``check_model`` is the whole story for one model and one set of feeds: the engine's
forward equals onnxruntime's; the VJP (from onnxio's float32 graph) equals float64 central
differences of a float64 copy of the same graph along a random direction; and the
gradient graph, exported back to ONNX, passes the checker and runs in onnxruntime to the
engine's gradients.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

import onnxio
from engine import Graph, compute_gradients, run


def build(model: bytes, **kwargs: Any) -> tuple[Graph, dict[str, Any]]:
    description = onnxio.to_description(model, **kwargs)
    return Graph.from_description(description), description


def ort_run(model: bytes, feeds: Mapping[str, np.ndarray],
            outputs: Sequence[str] | None = None) -> list[np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    return session.run(list(outputs) if outputs else None,
                       {k: v for k, v in feeds.items() if k in wanted})


def as_float64(description: Mapping[str, Any]) -> Graph:
    """The same graph computing in float64: float32 leaves, and ops making float32 (cast,
    one_hot), make float64; subgraphs (cond's branches, a loop's body) alike."""
    nodes = _nodes_as_float64(description["nodes"])
    return Graph.build(nodes, description["inputs"], description["outputs"])


def _nodes_as_float64(description_nodes: Sequence[Mapping[str, Any]]) -> list[dict]:
    nodes = []
    for node in description_nodes:
        node = dict(node)
        if node.get("dtype") == "float32":
            node["dtype"] = "float64"
            if isinstance(node.get("value"), np.ndarray):
                node["value"] = node["value"].astype(np.float64)
        if node.get("attrs", {}).get("dtype") == "float32":  # cast, one_hot, ...
            node["attrs"] = {**node["attrs"], "dtype": "float64"}
        if any(isinstance(a, Mapping) and "nodes" in a for a in node.get("attrs", {}).values()):
            node["attrs"] = {k: {**a, "nodes": _nodes_as_float64(a["nodes"])}
                             if isinstance(a, Mapping) and "nodes" in a else a
                             for k, a in node["attrs"].items()}
        nodes.append(node)
    return nodes


def floating_leaves(graph: Graph) -> list[str]:
    """Floating placeholders and weights. Scalar initializers are left out: the dynamo
    exporter stores constants such as a Pow's exponent 2 or a mask's -inf that way (they
    are variables as API.md says, but moving an exponent off 2 makes pow of a negative
    base NaN, which is no test of a gradient)."""
    return [n.name for n in graph.nodes if n.op in ("placeholder", "variable")
            and n.spec.dtype.startswith("float") and (n.op == "placeholder" or n.spec.shape)]


def check_model(model: bytes, feeds: Mapping[str, np.ndarray], *, rtol: float = 1e-4,
                atol: float = 1e-5, seed: int = 0, export: bool = True,
                **kwargs: Any) -> dict[str, Any]:
    graph, description = build(model, **kwargs)
    outputs = description["outputs"]
    values = run(graph, outputs, feeds)
    for name, got, want in zip(outputs, values, ort_run(model, feeds, outputs)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"forward {name}")
    floating = [i for i, v in enumerate(values) if v.dtype.kind == "f"]
    rng = np.random.default_rng(seed)
    ys = [outputs[i] for i in floating]
    cotangents = [rng.normal(size=values[i].shape).astype(values[i].dtype) for i in floating]
    xs = floating_leaves(graph)
    if not ys or not xs:  # integer answers (ArgMax, Mod of ints): nothing to differentiate
        return {"graph": graph, "values": dict(zip(outputs, values)), "xs": xs,
                "gradients": {}}
    result = compute_gradients(graph, feeds, ys, xs, grad_ys=cotangents, return_graph=True)
    _check_central_differences(description, feeds, ys, xs, cotangents, result.gradients, rng)
    if export:
        _check_export(result, feeds, rtol, atol)
    return {"graph": graph, "values": dict(zip(outputs, values)), "xs": xs,
            "gradients": dict(zip(xs, result.gradients))}


def _check_central_differences(description, feeds, ys, xs, cotangents, gradients, rng,
                               h: float = 1e-6) -> None:
    """<cotangent, J v> by central differences in float64 equals <VJP, v>, along two
    random directions v over every floating leaf."""
    graph = as_float64(description)
    base = {n.name: feeds.get(n.name, n.value) for n in graph.nodes
            if n.name in xs}
    base = {k: np.asarray(v, dtype=np.float64) for k, v in base.items()}
    rest = {k: v for k, v in feeds.items() if k not in base}
    cots = [c.astype(np.float64) for c in cotangents]

    def f(point: Mapping[str, np.ndarray]) -> float:
        outs = run(graph, ys, {**rest, **point})
        return sum(float(np.sum(c * o)) for c, o in zip(cots, outs))

    for _ in range(2):
        v = {k: rng.normal(size=a.shape) for k, a in base.items()}
        numeric = (f({k: base[k] + h * v[k] for k in base})
                   - f({k: base[k] - h * v[k] for k in base})) / (2 * h)
        analytic = sum(float(np.sum(np.zeros(v[x].shape) if g is None else g * v[x]))
                       for x, g in zip(xs, gradients))
        np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=2e-4,
                                   err_msg="VJP vs central differences")


def _check_export(result, feeds, rtol: float, atol: float) -> None:
    """The gradient graph as ONNX: checker-valid, and onnxruntime gives the gradients."""
    names = [g for g in result.gradient_nodes if g is not None]
    if not names:  # no leaf reaches an output (OneHot's values): no gradient graph
        return
    exported = onnxio.to_onnx(result.graph, names)
    onnx.checker.check_model(onnx.load_from_string(exported), full_check=True)
    got = ort_run(exported, feeds)
    want = [g for g in result.gradients if g is not None]
    for name, a, b in zip(names, got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"exported {name}")
