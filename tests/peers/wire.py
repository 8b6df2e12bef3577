"""Small builders for requests in our wire format (API.md), so that scenarios read short.

numpy only: the scenarios and the tests import this without TensorFlow or MindSpore.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

F64 = "float64"


def enc(value: Any) -> Any:
    """A numpy value as nested JSON lists, non-finite numbers as the contract's strings."""
    if isinstance(value, np.ndarray):
        return enc(value.tolist())
    if isinstance(value, (list, tuple)):
        return [enc(v) for v in value]
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return value


NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def plain(value: Any) -> Any:
    """``enc``'s inverse: the contract's strings back to non-finite floats (the oracles)."""
    if isinstance(value, str):
        return NONFINITE[value]
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def ph(name: str, shape: list[int | None], dtype: str = F64) -> dict[str, Any]:
    return {"name": name, "op": "placeholder", "shape": list(shape), "dtype": dtype}


def const(name: str, value: Any, dtype: str = F64) -> dict[str, Any]:
    return {"name": name, "op": "constant", "value": enc(np.asarray(value)), "dtype": dtype}


def var(name: str, value: Any, dtype: str = F64, trainable: bool = True) -> dict[str, Any]:
    node = {"name": name, "op": "variable", "value": enc(np.asarray(value)), "dtype": dtype}
    if not trainable:
        node["trainable"] = False
    return node


def op(name: str, kind: str, *inputs: str, **attrs: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"name": name, "op": kind, "inputs": list(inputs)}
    if attrs:
        node["attrs"] = attrs
    return node


def graph(nodes: list[dict[str, Any]], inputs: list[str] | None = None,
          outputs: list[str] | None = None) -> dict[str, Any]:
    g: dict[str, Any] = {"nodes": nodes}
    if inputs is not None:
        g["inputs"] = inputs
    if outputs is not None:
        g["outputs"] = outputs
    return g


def shape_of(value: Any) -> list[int]:
    return list(np.shape(value))


def gradients_case(cid: str, source: str, nodes: list[dict[str, Any]], feeds: dict[str, Any],
                   ys: list[str], xs: list[str], then: dict[str, Any] | None = None,
                   **fields: Any) -> dict[str, Any]:
    """A /gradients scenario. ``then``: a second request on the returned graph, whose
    ``ys`` entries ``{"gradient": k}`` name the k-th gradient node of the first answer."""
    request: dict[str, Any] = {"graph": graph(nodes),
                               "feeds": {k: enc(np.asarray(v)) for k, v in feeds.items()},
                               "ys": ys, "xs": xs, **fields}
    case: dict[str, Any] = {"id": cid, "source": source, "endpoint": "/gradients",
                            "request": request}
    if then is not None:
        request["return_graph"] = True
        case["then"] = then
    return case


def grad_operation_case(cid: str, source: str, nodes: list[dict[str, Any]], args: list[Any],
                        inputs: list[str], outputs: list[str], **fields: Any
                        ) -> dict[str, Any]:
    """A /grad-operation scenario: GradOperation flags and sens/weights in ``fields``."""
    request = {"network": graph(nodes, inputs, outputs),
               "args": [enc(np.asarray(a)) for a in args], **fields}
    for key in ("get_all", "get_by_list", "sens_param"):
        request.setdefault(key, False)
    if "sens" in request and request["sens"] is not None:
        s = request["sens"]
        request["sens"] = [enc(np.asarray(v)) for v in s] if isinstance(s, list) \
            else enc(np.asarray(s))
    return {"id": cid, "source": source, "endpoint": "/grad-operation", "request": request}
