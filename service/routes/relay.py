"""What both compute endpoints do on the event loop: read a bounded body, hand it to the
pool, relay the worker's answer bytes (with phase timings in Server-Timing)."""
from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from ..errors import PROBLEM_JSON, Problem
from ..front import compute, server_timing


async def relay(request: Request, kind: str) -> Response:
    """The documented route's way through (the ASGI front usually answers first)."""
    state = request.app.state
    answer = await compute(state.pool, kind, request.headers.raw, request.receive,
                           state.settings.max_body_bytes)
    timing = server_timing(answer)
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type,
                    headers={"Server-Timing": timing} if timing else None)


def body_of(model: type) -> dict[str, Any]:
    """OpenAPI for a body validated in the worker: the model's schema by reference."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


_PROBLEMS = {
    413: "The body or a tensor is over a limit.",
    422: "The request is not valid: the errors name each JSON path (and node).",
    429: "The queue is full; retry after Retry-After seconds.",
    503: "The worker died, or the server is shutting down.",
    504: "The computation ran over its time limit.",
}


def answers(model: type) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {200: {"model": model, "description": "Gradients."}}
    for status, text in _PROBLEMS.items():
        out[status] = {"description": text, "content": {PROBLEM_JSON: {
            "schema": {"$ref": f"#/components/schemas/{Problem.__name__}"}}}}
    return out
