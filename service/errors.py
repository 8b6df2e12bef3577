"""RFC 9457 problem+json answers: one shape for every error the service gives.

Each answer has ``type``, ``title``, ``status``, ``detail`` and ``errors`` (``loc`` a JSON
path from the top of the request, ``msg`` what is wrong there), plus ``node`` for a graph
error. No answer ever carries a traceback: an unexpected exception becomes a plain 500.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

PROBLEM_JSON = "application/problem+json"

Loc = Sequence[str | int]

# status -> (type slug, title); the slug names the kind of problem for clients to switch on
KINDS: dict[str, tuple[int, str]] = {
    "invalid-request": (422, "The request is not valid"),
    "invalid-graph": (422, "The graph is not valid"),
    "too-large": (413, "Over a size limit"),
    "queue-full": (429, "Too many requests are waiting"),
    "worker-died": (503, "The worker computing this request died"),
    "unavailable": (503, "The service is not available"),
    "timeout": (504, "The computation ran over its time limit"),
    "unauthorized": (401, "An API key is required"),
    "unsupported-media-type": (415, "The body must be JSON"),
    "not-found": (404, "Not found"),
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


class ProblemError(Exception):
    """Raised anywhere in request handling; turned into a problem+json answer."""

    def __init__(self, kind: str, detail: str, errors: Iterable[tuple[Loc, str]] = (),
                 *, node: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.headers = headers or {}
        self.kind = kind
        self.status = status or KINDS[kind][0]
        self.detail = detail
        self.errors = [(list(loc), msg) for loc, msg in errors]
        self.node = node

    def body(self) -> bytes:
        return problem_body(self.kind, self.detail, self.errors, node=self.node,
                            status=self.status)


def problem_body(kind: str, detail: str, errors: Iterable[tuple[Loc, str]] = (), *,
                 node: str | None = None, status: int | None = None) -> bytes:
    code, title = KINDS[kind]
    doc: dict[str, Any] = {
        "type": f"urn:gradserve:problem:{kind}", "title": title, "status": status or code,
        "detail": detail, "errors": [{"loc": list(loc), "msg": msg} for loc, msg in errors],
    }
    if node is not None:
        doc["node"] = node
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
