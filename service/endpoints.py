"""The compute endpoints, one entry each: the table the front, the pool, the workers and
the OpenAPI description all read, so a new endpoint is one entry here and one handler.

An entry says where it is served (``path``), what it takes and answers (pydantic models:
the request's validation and both models' OpenAPI schemas), what a worker runs
(``handler``, in ``handlers.py``), a real request for the docs' "Try it out" with its
documented answer (both in the OpenAPI description; the tests post the request, through
the app and through a generated client, and expect that answer), and where the engine's
arguments sit in the request (``wire_paths``: the engine names its faults by
argument; an argument not listed is the body field of the same name).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from . import handlers
from .schemas import (
    GradientsRequest,
    GradientsResponse,
    GradOperationRequest,
    GradOperationResponse,
)

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Endpoint:
    """One compute operation: ``POST path``."""

    path: str
    name: str  # the job's tag over the worker pipe, and the operation's id
    request: type[BaseModel]
    response: type[BaseModel]
    handler: Callable[[handlers.Call], handlers.Computed]
    summary: str
    description: str
    example: dict[str, Any]
    wire_paths: Mapping[str, Loc] = field(default_factory=dict)
    tags: tuple[str, ...] = ("gradients",)
    # What the example answers, as documented; the tests expect it, so give every entry one.
    answer: dict[str, Any] | None = field(default=None, kw_only=True)


_README_TF = {
    "graph": {"nodes": [
        *({"name": f"w{i}", "op": "variable", "shape": [3],
           "initializer": {"kind": "glorot_uniform", "seed": i}} for i in range(1, 5)),
        {"name": "z1", "op": "add_n", "inputs": ["w1", "w2", "w3"]},
        {"name": "z2", "op": "add", "inputs": ["w3", "w4"]}]},
    "ys": ["z1", "z2"], "xs": ["w1", "w2", "w3", "w4"],
    "grad_ys": [[2.0, 2.0, 3.0], [3.0, 2.0, 4.0]]}
_README_MS = {
    "network": {"nodes": [
        {"name": "x", "op": "placeholder", "shape": [2, 3], "dtype": "float32"},
        {"name": "y", "op": "placeholder", "shape": [3, 3], "dtype": "float32"},
        {"name": "z", "op": "parameter", "value": [1.0]},
        {"name": "xz", "op": "Mul", "inputs": ["x", "z"]},
        {"name": "out", "op": "MatMul", "inputs": ["xz", "y"]}],
        "inputs": ["x", "y"], "outputs": ["out"]},
    "args": [[[0.5, 0.6, 0.4], [1.2, 1.3, 1.1]],
             [[0.01, 0.3, 1.1], [0.1, 0.2, 1.3], [2.1, 1.2, 3.3]]]}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/gradients", "gradients", GradientsRequest, GradientsResponse,
             handlers.gradients, "tf.gradients of a graph",
             "The total derivative of the sum of `ys` with respect to each of `xs` "
             "(API.md §3).", _README_TF,
             {"graph": ("body", "graph"), "unconnected": ("body", "unconnected_gradients"),
              "aggregation": ("body", "aggregation_method")},
             answer={"gradients": [[2.0, 2.0, 3.0], [2.0, 2.0, 3.0], [5.0, 4.0, 7.0],
                                   [3.0, 2.0, 4.0]]}),
    Endpoint("/grad-operation", "grad_operation", GradOperationRequest, GradOperationResponse,
             handlers.grad_operation, "MindSpore GradOperation of a network",
             "Gradients with MindSpore's get_all / get_by_list / sens_param structure "
             "(API.md §4).", _README_MS, {"graph": ("body", "network")},
             answer={"gradients": [[1.4100001, 1.5999999, 6.6], [1.4100001, 1.5999999, 6.6]]}),
)
BY_PATH: dict[str, Endpoint] = {e.path: e for e in ENDPOINTS}
BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}
