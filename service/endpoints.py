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
    EvaluateRequest,
    EvaluateResponse,
    GradientsRequest,
    GradientsResponse,
    GradOperationRequest,
    GradOperationResponse,
    GradRequest,
    GradResponse,
    HessianRequest,
    HessianResponse,
    HvpRequest,
    HvpResponse,
    JacobianRequest,
    JacobianResponse,
    JvpRequest,
    JvpResponse,
    ValueAndGradResponse,
    VjpRequest,
    VjpResponse,
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

# y_i = w_i x_i², loss = Σ y: small exact answers for every functional transform.
_FN_GRAPH = {"nodes": [
    {"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
    {"name": "w", "op": "variable", "value": [3.0, -1.0], "dtype": "float64"},
    {"name": "xw", "op": "mul", "inputs": ["x", "w"]},
    {"name": "y", "op": "mul", "inputs": ["xw", "x"]},
    {"name": "loss", "op": "sum", "inputs": ["y"]}], "outputs": ["y"]}
_FN = {"graph": _FN_GRAPH, "feeds": {"x": [1.0, 2.0]}}
_MS2 = {**_README_MS, "grad_position": 0, "weights": ["z"]}
_MS2_X = [[1.4100001, 1.5999999, 6.6], [1.4100001, 1.5999999, 6.6]]  # its gradient of x
# Where the engine's arguments sit in a request: the vmap's axes, and (section 7) the
# network; every other argument is the body field of its name.
_VMAP = {"in_axes": ("body", "vmap", "in_axes"), "mapped": ("body", "vmap", "in_axes")}
_NETWORK = {**_VMAP, "graph": ("body", "network")}
_FUNCTIONAL = ("functional",)
_MINDSPORE = ("mindspore",)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/gradients", "gradients", GradientsRequest, GradientsResponse,
             handlers.gradients, "tf.gradients of a graph",
             "The total derivative of the sum of `ys` with respect to each of `xs` "
             "(API.md §3).", _README_TF,
             {"graph": ("body", "graph"), "unconnected": ("body", "unconnected_gradients"),
              "aggregation": ("body", "aggregation_method"), **_VMAP},
             answer={"gradients": [[2.0, 2.0, 3.0], [2.0, 2.0, 3.0], [5.0, 4.0, 7.0],
                                   [3.0, 2.0, 4.0]]}),
    Endpoint("/grad-operation", "grad_operation", GradOperationRequest, GradOperationResponse,
             handlers.grad_operation, "MindSpore GradOperation of a network",
             "Gradients with MindSpore's get_all / get_by_list / sens_param structure "
             "(API.md §4).", _README_MS, _NETWORK,
             answer={"gradients": _MS2_X}),
    Endpoint("/evaluate", "evaluate", EvaluateRequest, EvaluateResponse, handlers.evaluate,
             "The outputs of a function", "The listed outputs' values (API.md §6).",
             {**_FN, "outputs": ["y", "loss"]}, _VMAP, _FUNCTIONAL,
             answer={"values": {"y": [3.0, -4.0], "loss": -1.0}}),
    Endpoint("/jvp", "jvp", JvpRequest, JvpResponse, handlers.jvp,
             "Forward mode: Jacobian-vector products",
             "J·v for tangents on the inputs; K tangents in one pass with `batched` "
             "(API.md §6, jax.jvp).", {**_FN, "tangents": {"x": [1.0, 0.0]}}, _VMAP,
             _FUNCTIONAL, answer={"values": {"y": [3.0, -4.0]}, "tangents": {"y": [6.0, 0.0]}}),
    Endpoint("/vjp", "vjp", VjpRequest, VjpResponse, handlers.vjp,
             "Reverse mode: vector-Jacobian products",
             "vᵀ·J for cotangents on the outputs; K cotangents in one pass with `batched` "
             "(API.md §6, jax.vjp).",
             {**_FN, "inputs": ["x", "w"], "cotangents": {"loss": 1.0}}, _VMAP, _FUNCTIONAL,
             answer={"values": {"loss": -1.0},
                     "cotangents": {"x": [6.0, -4.0], "w": [1.0, 4.0]}}),
    Endpoint("/jacobian", "jacobian", JacobianRequest, JacobianResponse, handlers.jacobian,
             "Jacobians, forward or reverse mode",
             "Every output's Jacobian with respect to every input, of shape output.shape + "
             "input.shape (API.md §6, jax.jacfwd / jacrev).", {**_FN, "inputs": ["x"]},
             _VMAP, _FUNCTIONAL, answer={"values": {"y": [3.0, -4.0]},
                                         "jacobian": {"y": {"x": [[6.0, 0.0], [0.0, -4.0]]}}}),
    Endpoint("/hessian", "hessian", HessianRequest, HessianResponse, handlers.hessian,
             "Hessians (forward over reverse)",
             "Every output's second derivatives with respect to every pair of inputs "
             "(API.md §6, jax.hessian).",
             {**_FN, "inputs": ["x", "w"], "outputs": ["loss"]}, _VMAP, _FUNCTIONAL,
             answer={"values": {"loss": -1.0}, "hessian": {"loss": {
                 "x": {"x": [[6.0, 0.0], [0.0, -2.0]], "w": [[2.0, 0.0], [0.0, 4.0]]},
                 "w": {"x": [[2.0, 0.0], [0.0, 4.0]], "w": [[0.0, 0.0], [0.0, 0.0]]}}}}),
    Endpoint("/hvp", "hvp", HvpRequest, HvpResponse, handlers.hvp,
             "Hessian-vector products",
             "Σ_j H_ij·v_j of one scalar output in one forward-over-reverse pass, no Hessian "
             "made; K vectors in one pass with `batched` (API.md §6).",
             {**_FN, "outputs": ["loss"], "vectors": {"x": [1.0, 1.0]}}, _VMAP, _FUNCTIONAL,
             answer={"values": {"loss": -1.0}, "gradient": {"x": [6.0, -4.0]},
                     "hvp": {"x": [6.0, -2.0]}}),
    Endpoint("/grad", "grad", GradRequest, GradResponse, handlers.grad,
             "mindspore.grad of a network",
             "Gradients with MindSpore 2.x's grad_position / weights / has_aux / return_ids "
             "structure (API.md §7).", _MS2, _NETWORK, _MINDSPORE,
             answer={"gradients": [_MS2_X, [[15.337001]]]}),
    Endpoint("/value-and-grad", "value_and_grad", GradRequest, ValueAndGradResponse,
             handlers.value_and_grad, "mindspore.value_and_grad of a network",
             "The network's output and its gradients, MindSpore 2.x's structure "
             "(API.md §7).", _MS2, _NETWORK, _MINDSPORE,
             answer={"value": [[0.905, 0.75000006, 2.65], [2.452, 1.94, 6.64]],
                     "gradients": [_MS2_X, [[15.337001]]]}),
)
BY_PATH: dict[str, Endpoint] = {e.path: e for e in ENDPOINTS}
BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}
