"""What both compute endpoints do on the event loop: read a bounded body, hand it to the
pool, relay the worker's answer bytes (with phase timings in Server-Timing)."""
from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from ..errors import PROBLEM_JSON, Problem, ProblemError


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 from Content-Length or as soon as streaming passes
    ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(total, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ProblemError:
    return ProblemError("too-large", f"the body has at least {size} bytes; the limit is {limit}",
                        [(["body"], "body too large")])


async def relay(request: Request, kind: str) -> Response:
    state = request.app.state
    body = await read_body(request, state.settings.max_body_bytes)
    answer = await state.pool.submit(kind, body)
    timing = ", ".join(f"{k};dur={v * 1000:.3f}" for k, v in answer.timings.items())
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
