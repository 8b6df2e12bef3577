"""The request bodies the service is driven with, written once as JSON bytes.

seed: the /grad-operation seed of the acceptance cases (W1, from tests/cases). mlp: W2 as a
/gradients request whose weights are variables with seeded initializers (cached with the
graph), feeding x and labels in base64 and asking base64 back, as a client of the fast
path would. mlp_call: the same W2 with its weights' values, either registered as a model
(``mlp_graph``, in the server's repository) and named, or sent inline with every request.
big: a 1,000,000-element float32 x through sum(square(x)), fed and answered
in the nested form or in base64.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .workloads import mlp_arrays, mlp_nodes

SEED_CASES = Path(__file__).resolve().parents[1] / "tests" / "cases" / "seed_examples.json"
SEED_EXPECTED = [[1.4100001, 1.5999999, 6.6], [1.4100001, 1.5999999, 6.6]]
BIG_ELEMENTS = 1_000_000


def seed() -> dict[str, Any]:
    for case in json.loads(SEED_CASES.read_text()):
        if case.get("endpoint") == "/grad-operation":
            return case["request"]
    raise LookupError(f"no /grad-operation case in {SEED_CASES}")


def b64(arr: np.ndarray) -> dict[str, Any]:
    little = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return {"dtype": arr.dtype.name, "shape": list(arr.shape),
            "b64": base64.b64encode(little.tobytes()).decode("ascii")}


def mlp(size: str = "full") -> dict[str, Any]:
    arrays = mlp_arrays(size, 0)
    weights = {"W1": "glorot_uniform", "b1": "zeros", "W2": "glorot_uniform", "b2": "zeros"}
    nodes = []
    for i, node in enumerate(mlp_nodes(arrays)):
        kind = weights.get(node["name"])
        if kind is not None:
            node = {"name": node["name"], "op": "variable", "shape": node["shape"],
                    "dtype": "float32", "initializer": {"kind": kind, "seed": i}}
        nodes.append(node)
    return {"graph": {"nodes": nodes}, "feeds": {k: b64(arrays[k]) for k in ("x", "labels")},
            "ys": ["loss"], "xs": list(weights), "encoding": "base64"}


MLP_MODEL = "w2-mlp"
MLP_WEIGHTS = ("W1", "b1", "W2", "b2")


def mlp_graph(size: str = "full") -> dict[str, Any]:
    """W2 as a model: its weights are variables with their values (base64), as a trained
    model's are, so that sending the graph means sending the weights."""
    arrays = mlp_arrays(size, 0)
    nodes = [{"name": n["name"], "op": "variable", "value": b64(arrays[n["name"]])}
             if n["name"] in MLP_WEIGHTS else n for n in mlp_nodes(arrays)]
    return {"nodes": nodes, "inputs": ["x", "labels"], "outputs": ["loss"]}


def mlp_call(by_name: bool, size: str = "full") -> dict[str, Any]:
    """The W2 gradient request against the registered model, or with its graph inline."""
    arrays = mlp_arrays(size, 0)
    graph = {"model": MLP_MODEL} if by_name else {"graph": mlp_graph(size)}
    return {**graph, "feeds": {k: b64(arrays[k]) for k in ("x", "labels")},
            "ys": ["loss"], "xs": list(MLP_WEIGHTS), "encoding": "base64"}


def big(form: str, elements: int = BIG_ELEMENTS) -> dict[str, Any]:
    x = np.random.default_rng(0).standard_normal(elements).astype(np.float32)
    fed: Any = b64(x) if form == "base64" else orjson.Fragment(orjson.dumps(
        x, option=orjson.OPT_SERIALIZE_NUMPY))
    return {"graph": {"nodes": [
        {"name": "x", "op": "placeholder", "shape": [elements], "dtype": "float32"},
        {"name": "sq", "op": "square", "inputs": ["x"]},
        {"name": "y", "op": "sum", "inputs": ["sq"]}]},
        "feeds": {"x": fed}, "ys": ["y"], "xs": ["x"], "encoding": form}


def tesseract_seed() -> dict[str, Any]:
    """The seed's gradient wrt x as a Tesseract VJP request (cotangent: ones, i.e. sum)."""
    req = seed()
    z = next(n["value"] for n in req["network"]["nodes"] if n["name"] == "z")
    x, y = req["args"]
    return {"inputs": {"x": x, "y": y, "z": z}, "vjp_inputs": ["x"], "vjp_outputs": ["out"],
            "cotangent_vector": {"out": [[1.0] * len(y[0]) for _ in x]}}


def dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)
