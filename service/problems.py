"""RFC 9457 problem+json answers: one shape for every error the service gives, and the
one table that turns an engine refusal (in the engine's words) into one.

Each answer has ``type``, ``title``, ``status``, ``detail`` and ``errors`` (``loc`` a JSON
path from the top of the request, ``msg`` what is wrong there), plus ``node`` for a graph
error. No answer ever carries a traceback: an unexpected exception becomes a plain 500.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

from engine import EngineError, LimitError

from .settings import knob

PROBLEM_JSON = "application/problem+json"

Loc = Sequence[str | int]

# problem type (the slug clients switch on) -> (status, title)
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "invalid-request": (422, "The request is not valid"),
    "invalid-graph": (422, "The graph is not valid"),
    "invalid-onnx": (422, "The ONNX model cannot be taken"),
    "too-large": (413, "Over a size limit"),
    "queue-full": (429, "Too many requests are waiting"),
    "worker-died": (503, "The worker computing this request died"),
    "unavailable": (503, "The service is not available"),
    "out-of-memory": (503, "The computation ran out of memory"),
    "missing-program": (503, "A program this answer needs is not installed"),
    "timeout": (504, "The computation ran over its time limit"),
    "unauthorized": (401, "An API key is required"),
    "not-found": (404, "Not found"),
    "forbidden": (403, "Forbidden"),
    "not-acceptable": (406, "Not acceptable"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "method-not-allowed": (405, "Method not allowed"),
    "internal": (500, "Internal error"),
}


class ProblemItem(BaseModel):
    loc: list[str | int] = Field(description="JSON path of the fault, from the request top.")
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(description="A URN naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] = []
    node: str | None = Field(None, description="The graph node at fault, for graph errors.")
    op_type: str | None = Field(None, description="ONNX errors: the op_type of the ONNX node "
                                "at fault (node is its name).")


class ProblemError(Exception):
    """Raised anywhere in request handling; turned into a problem+json answer."""

    def __init__(self, problem_type: str, detail: str, errors: Iterable[tuple[Loc, str]] = (),
                 *, node: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, op_type: str | None = None):
        super().__init__(detail)
        self.headers = headers or {}
        self.problem_type = problem_type
        self.status = status or PROBLEM_TYPES[problem_type][0]
        self.detail = detail
        self.errors = [(list(loc), msg) for loc, msg in errors]
        self.node = node
        self.op_type = op_type

    def body(self) -> bytes:
        return problem_body(self.problem_type, self.detail, self.errors, node=self.node,
                            status=self.status, op_type=self.op_type)


def crash_body(exc: BaseException) -> bytes:
    """An unexpected failure logged (traceback and all, server-side only) and answered as
    a 500 problem that says no more: the app's crash handler and the compute path's."""
    logging.getLogger("gradserve").error("unexpected error", exc_info=exc)
    return problem_body("internal", "an unexpected error occurred; it has been logged")


def problem_body(problem_type: str, detail: str, errors: Iterable[tuple[Loc, str]] = (), *,
                 node: str | None = None, status: int | None = None,
                 op_type: str | None = None) -> bytes:
    code, title = PROBLEM_TYPES[problem_type]
    doc: dict[str, Any] = {
        "type": f"urn:gradserve:problem:{problem_type}", "title": title,
        "status": status or code,
        "detail": detail, "errors": [{"loc": list(loc), "msg": msg} for loc, msg in errors],
    }
    if node is not None:
        doc["node"] = node
    if op_type is not None:
        doc["op_type"] = op_type
    return orjson.dumps(doc)


def from_validation(exc: ValidationError, prefix: Loc) -> ProblemError:
    """pydantic's errors as problem items; union tags are dropped from the paths."""
    items = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("~"))]
        items.append(([*prefix, *loc], err["msg"]))
    first_loc, first_msg = items[0]
    where = ".".join(str(p) for p in first_loc)
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return ProblemError("invalid-request", f"{where}: {first_msg}{more}", items)


# -- engine refusals ------------------------------------------------------------------------

def engine_problem(exc: EngineError, wire_paths: Mapping[str, Loc]) -> ProblemError:
    """An engine refusal as a problem. ``exc.loc`` starts with an argument of the engine
    function called; ``wire_paths`` says where each argument sits in the request (an
    argument not listed is the body field of the same name). A limit is 413 (too-large);
    a fault at a node or inside the graph's nodes is an invalid graph; else the request."""
    arg, rest = (exc.loc[0], exc.loc[1:]) if exc.loc else (None, ())
    prefix = ["body"] if arg is None else list(wire_paths.get(str(arg), ["body", arg]))
    loc = [*prefix, *rest]
    problem_type = "too-large" if isinstance(exc, LimitError) else (
        "invalid-graph" if exc.node is not None or "nodes" in exc.loc else "invalid-request")
    detail = str(exc)
    if isinstance(exc, LimitError):  # the engine names the limit; say which setting it is
        detail += f" (raise it with {knob(_limit_setting(exc))})"
    return ProblemError(problem_type, detail, [(loc, exc.message)], node=exc.node)


def _limit_setting(exc: LimitError) -> str:
    """The engine has two limits: nodes per graph, and elements per tensor."""
    return "max_nodes" if exc.message.startswith("the graph has") else "max_elements"


def onnx_problem(exc: Any, loc: Loc) -> ProblemError:
    """An ``onnxio.OnnxError`` (read by its fields, so this module never imports onnx) as
    a 422 naming the ONNX node and its op_type; ``loc`` is the model's path in the request
    (an export's fault names the engine node and op instead)."""
    return ProblemError("invalid-onnx", str(exc), [(loc, exc.message)], node=exc.node,
                        op_type=exc.op_type)
