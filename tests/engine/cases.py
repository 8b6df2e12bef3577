"""Run the recorded acceptance cases (``tests/cases``) in-process, on the engine.

A case's request is turned into engine calls the way the service does it: graph nodes'
values, feeds, grad_ys, args and sens become numpy arrays of the dtype of the tensor they
stand for (float32 when nothing says otherwise); the typed form and the non-finite strings
are decoded. Answers are compared with the recorded gradients and the case's tolerances.
"""
from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine import (
    EngineError,
    FeedError,
    Graph,
    compute_grad_operation,
    compute_gradients,
    evaluate,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)
from engine.dtypes import DEFAULT_DTYPE, canonical_dtype
from engine.graph import LEAF_OPS
from engine.ops import registry

from ..case_files import iter_cases as iter_cases  # the op tests read the cases via here
from ..case_files import load as load

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
UNCONNECTED = {"none": "none", "zero": "zero"}
AGGREGATION = {None: "add_n", 0: "add_n", 1: "experimental_tree",
               2: "experimental_accumulate_n", "default": "add_n"}


def _plain(v: Any) -> Any:
    """Nested lists with the non-finite strings turned into floats."""
    if isinstance(v, str):
        return NONFINITE[v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def tensor(raw: Any, dtype: str | None = None) -> np.ndarray:
    """Any wire form of a tensor as an array: nested (of ``dtype``), typed, or base64."""
    if isinstance(raw, Mapping):
        dt = np.dtype(canonical_dtype(raw["dtype"]))
        shape = tuple(raw["shape"])
        if "b64" in raw:
            flat = np.frombuffer(base64.b64decode(raw["b64"]), dtype=dt.newbyteorder("<"))
            return flat.astype(dt).reshape(shape)
        return np.array(_plain(raw["data"]), dtype=dt).reshape(shape)
    try:
        return np.array(_plain(raw), dtype=np.dtype(canonical_dtype(dtype or DEFAULT_DTYPE)))
    except ValueError as exc:  # ragged nested lists: the service's 422
        raise FeedError(f"not a rectangular array: {exc}") from None


def graph_of(desc: Mapping[str, Any]) -> Graph:
    """``Graph.build`` on a wire graph, leaf values decoded to arrays."""
    nodes = []
    for node in desc["nodes"]:
        node = dict(node)
        if node.get("op", "").lower() in LEAF_OPS | {"parameter"} and "value" in node:
            node["value"] = tensor(node["value"], node.get("dtype"))
        nodes.append(node)
    return Graph.build(nodes, desc.get("inputs"), desc.get("outputs"))


def dtype_of(graph: Graph, name: str) -> str:
    return graph.spec(graph.resolve(name)).dtype


def ops_used(case: Mapping[str, Any]) -> set[str]:
    req = case["request"]
    desc = req.get("graph") or req.get("network")
    return {n["op"] for n in desc["nodes"]}


def missing_ops(case: Mapping[str, Any]) -> list[str]:
    """Ops a case needs that no colleague has registered yet."""
    return sorted(op for op in ops_used(case) if registry.lookup(op) is None)


def _names(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _option(table: Mapping[Any, str], v: Any) -> Any:
    """The service's spelling normalization: names in any case, TensorFlow's integers."""
    key = v.lower() if isinstance(v, str) else v
    return table.get(key, key)


def run_gradients(req: Mapping[str, Any], then: Mapping[str, Any] | None = None
                  ) -> list[np.ndarray | None]:
    """tf.gradients of a request; with ``then`` (a second request whose ``ys`` entries
    ``{"gradient": k}`` name the k-th returned gradient node), the gradients of those
    gradients, taken on the returned graph as a client posting it back would."""
    graph = graph_of(req["graph"])
    feeds = {k: tensor(v, dtype_of(graph, k)) for k, v in (req.get("feeds") or {}).items()}
    ys, xs = _names(req["ys"]), _names(req["xs"])
    grad_ys = req.get("grad_ys")
    if grad_ys is not None:
        grad_ys = [None if g is None else
                   tensor(g, dtype_of(graph, ys[i]) if i < len(ys) else None)
                   for i, g in enumerate(grad_ys)]
    aggregation = req.get("aggregation_method")
    aggregation = _option(AGGREGATION, aggregation) if aggregation is not None else "add_n"
    out = compute_gradients(
        graph, feeds, ys, xs, grad_ys,
        stop_gradients=req.get("stop_gradients") or [],
        unconnected=_option(UNCONNECTED, req.get("unconnected_gradients", "none")),
        aggregation=aggregation, dialect="tensorflow", return_graph=then is not None,
        in_axes=in_axes(req))
    if then is None:
        return out.gradients
    assert out.graph is not None and out.gradient_nodes is not None
    ys2 = [out.gradient_nodes[y["gradient"]] for y in then["ys"]]
    if any(y is None for y in ys2):
        raise EngineError("a gradient to differentiate again is unconnected (null)",
                          loc=("then", "ys"))
    seeds = [None if g is None else tensor(g, dtype_of(out.graph, str(y)))
             for g, y in zip(then.get("grad_ys") or [None] * len(ys2), ys2, strict=True)]
    return compute_gradients(
        out.graph, feeds, [str(y) for y in ys2], _names(then["xs"]), seeds,
        unconnected=_option(UNCONNECTED, then.get("unconnected_gradients", "none")),
        dialect="tensorflow").gradients


def run_grad_operation(req: Mapping[str, Any]) -> Any:
    graph = graph_of(req["network"])
    args = [tensor(a, dtype_of(graph, graph.inputs[i]) if i < len(graph.inputs) else None)
            for i, a in enumerate(req.get("args") or [])]
    sens = req.get("sens")
    if sens is not None:
        outs = graph.outputs
        if len(outs) == 1:
            sens = [tensor(sens, graph.spec(outs[0]).dtype)]
        else:
            sens = [tensor(s, graph.spec(outs[i]).dtype if i < len(outs) else None)
                    for i, s in enumerate(sens)]
    result, _ = compute_grad_operation(
        graph, args, get_all=bool(req.get("get_all")), get_by_list=bool(req.get("get_by_list")),
        sens_param=bool(req.get("sens_param")), sens=sens, weights=req.get("weights"),
        in_axes=in_axes(req))
    return result


FUNCTIONAL = {"/evaluate": (evaluate, None), "/jvp": (jvp, "tangents"),
              "/vjp": (vjp, "cotangents"), "/jacobian": (jacobian, None),
              "/hessian": (hessian, None), "/hvp": (hvp, "vectors")}
MS2 = {"/grad": grad, "/value-and-grad": value_and_grad}


def run_functional(endpoint: str, req: Mapping[str, Any]) -> dict[str, Any]:
    """An API.md section 6 request on the engine: its answer object, arrays as leaves."""
    graph = graph_of(req["graph"])
    feeds = {k: tensor(v, dtype_of(graph, k)) for k, v in (req.get("feeds") or {}).items()}
    fn, seeds_field = FUNCTIONAL[endpoint]
    kw: dict[str, Any] = {k: req[k] for k in ("inputs", "outputs", "batched", "mode",
                                               "dialect") if k in req}
    kw["in_axes"] = in_axes(req)
    if seeds_field is None:
        return fn(graph, feeds, **kw)
    seeds = {k: tensor(v, dtype_of(graph, k)) for k, v in req[seeds_field].items()}
    return fn(graph, feeds, seeds, **kw)


def in_axes(req: Mapping[str, Any]) -> dict[str, int] | None:
    """The request's ``vmap.in_axes``, if it maps."""
    return (req.get("vmap") or {}).get("in_axes")


def run_ms2(endpoint: str, req: Mapping[str, Any]) -> dict[str, Any]:
    graph = graph_of(req["network"])
    args = [tensor(a, dtype_of(graph, graph.inputs[i]) if i < len(graph.inputs) else None)
            for i, a in enumerate(req.get("args") or [])]
    kw = {k: req[k] for k in ("grad_position", "weights", "has_aux", "return_ids") if k in req}
    return MS2[endpoint](graph, args, in_axes=in_axes(req), **kw)


def run_case(case: Mapping[str, Any]) -> Any:
    """The engine's answer to a case: gradients as nested arrays (None where null), or the
    answer object of a section 6 or 7 endpoint."""
    req, endpoint = case["request"], case["endpoint"]
    if endpoint == "/gradients":
        return run_gradients(req, case.get("then"))
    if endpoint == "/grad-operation":
        return run_grad_operation(req)
    if endpoint in FUNCTIONAL:
        return run_functional(endpoint, req)
    if endpoint in MS2:
        return run_ms2(endpoint, req)
    raise ValueError(f"unknown endpoint {endpoint!r}")


def compare(got: Any, want: Any, rtol: float, atol: float, path: str = "gradients") -> None:
    """Assert ``got`` (arrays, lists, None) matches the recorded structure and values."""
    if want is None:
        assert got is None, f"{path}: expected null, got {got!r}"
        return
    assert got is not None, f"{path}: expected a value, got null"
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), \
            f"{path}: keys {list(got) if isinstance(got, dict) else got!r}, expected {list(want)}"
        for k, w in want.items():
            compare(got[k], w, rtol, atol, f"{path}.{k}")
        return
    if isinstance(want, (str, int)) and not isinstance(want, bool) and not isinstance(
            got, np.ndarray):  # an id of return_ids: a position or a weight's name
        assert got == want, f"{path}: id {got!r}, expected {want!r}"
        return
    if isinstance(got, (list, tuple)):
        assert isinstance(want, list) and len(got) == len(want), \
            f"{path}: expected {want!r}, got a list of {len(got)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            compare(g, w, rtol, atol, f"{path}[{i}]")
        return
    arr = np.asarray(got)
    expected = np.array(_plain(want), dtype=np.float64)
    assert arr.shape == expected.shape, f"{path}: shape {arr.shape}, expected {expected.shape}"
    np.testing.assert_allclose(arr.astype(np.float64), expected, rtol=rtol, atol=atol,
                               equal_nan=True, err_msg=path)


def check_case(case: Mapping[str, Any]) -> None:
    """A recorded case through the engine: refused as recorded, or its answer within the
    case's tolerances."""
    expect = case["expect"]
    if expect.get("status", 200) != 200:
        try:
            run_case(case)
        except EngineError:
            return
        raise AssertionError(f"{case['id']}: the engine answered a case recorded as refused")
    compare(run_case(case), expect["gradients"], expect.get("rtol", 1e-5),
            expect.get("atol", 1e-6))
