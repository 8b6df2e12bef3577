"""The OpenAPI description the app serves, and ``python -m service.openapi [PATH]``, which
writes it to openapi/openapi.json (a test regenerates it and compares, so the file in the
repository never drifts).

The FastAPI app's own routes are described by FastAPI; each compute endpoint (answered
by the ASGI front, validated in the workers) is described from its entry in
``endpoints.ENDPOINTS``: the same models, with a real request as its example.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from .endpoints import ENDPOINTS, Endpoint
from .problems import PROBLEM_JSON, Problem

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


_PROBLEMS = {
    413: "The body or a tensor is over a limit.",
    422: "The request is not valid: the errors name each JSON path (and node).",
    429: "The queue is full; retry after Retry-After seconds.",
    503: "The worker died, or the server is shutting down.",
    504: "The computation ran over its time limit.",
}
_REF = "#/components/schemas/{model}"


def describe(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema of the app's routes plus every compute endpoint (made once)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    models = [(e.request, "validation") for e in ENDPOINTS] + [
        (e.response, "serialization") for e in ENDPOINTS] + [(Problem, "serialization")]
    _, extra = models_json_schema(models, ref_template=_REF)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in extra["$defs"].items():
        components.setdefault(name, definition)
    for endpoint in ENDPOINTS:
        schema["paths"][endpoint.path] = {"post": _operation(endpoint)}
    app.openapi_schema = schema
    return schema


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    """One compute endpoint as an OpenAPI operation (ids spelled as FastAPI spells them)."""
    problem = {"schema": {"$ref": _REF.format(model=Problem.__name__)}}
    answer: dict[str, Any] = {"schema": {"$ref": _REF.format(model=endpoint.response.__name__)}}
    if endpoint.answer is not None:
        answer["example"] = endpoint.answer
    responses: dict[str, Any] = {"200": {"description": "Gradients.",
                                         "content": {"application/json": answer}}}
    for status, text in _PROBLEMS.items():
        responses[str(status)] = {"description": text, "content": {PROBLEM_JSON: problem}}
    return {
        "tags": list(endpoint.tags), "summary": endpoint.summary,
        "description": endpoint.description,
        "operationId": re.sub(r"\W", "_", f"{endpoint.name}{endpoint.path}") + "_post",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": _REF.format(model=endpoint.request.__name__)},
            "example": endpoint.example}}},
        "responses": responses,
    }


def schema() -> dict[str, Any]:
    from .app import create_app
    from .settings import Settings

    return create_app(Settings(workers=1)).openapi()


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
