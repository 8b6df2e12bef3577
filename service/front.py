"""The compute endpoints' front: a pure ASGI layer in front of the FastAPI app.

Every compute ``POST`` (the paths of ``endpoints.ENDPOINTS``) only reads a bounded body,
hands it to the worker pool and relays the worker's answer bytes; the event loop's time
per request is the server's throughput limit, so they skip the framework's routing,
dependency resolution and response classes. This is their only way in (their OpenAPI
description is made from the same table). Everything else goes to the FastAPI app.

Served by ``serving.serve`` (``app.state.lane_views``), an answer's body is sent from the
worker's lane, not copied out of it first: that server's transport keeps no reference to
a body once its write returns (``serving._OneWrite``), so the lane is given back as soon
as the answer is sent. Under any other server (a test client) the body is a copy.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.middleware.cors import CORSMiddleware

from .endpoints import BY_PATH
from .metrics import Metrics
from .problems import PROBLEM_JSON, ProblemError, crash_body
from .settings import knob
from .shell import Shell, cors_options

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def read_body(headers: Iterable[tuple[bytes, bytes]], receive: Receive,
                    limit: int) -> bytes:
    """The body, refused with 413 from Content-Length or as soon as streaming passes
    ``limit``."""
    for name, value in headers:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_large(int(value), limit)
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ProblemError("invalid-request", "the client went away mid-body")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise too_large(total, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def too_large(size: int, limit: int) -> ProblemError:
    return ProblemError("too-large", f"the body has at least {size} bytes; the limit is {limit} "
                        f"(raise it with {knob('max_body_bytes')})", [(["body"], "body too large")])


class ComputeFront:
    """Answers the compute endpoints itself; passes every other request on."""

    def __init__(self, app: Callable[..., Any], metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        endpoint = BY_PATH.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = scope["app"].state
        try:
            if scope["method"] != "POST":
                raise ProblemError("method-not-allowed", "Method Not Allowed",
                                   headers={"Allow": "POST"})
            body = await read_body(scope["headers"], receive, state.settings.max_body_bytes)
            reply = await state.pool.submit(endpoint.name, body,
                                            getattr(state, "lane_views", False))
        except ProblemError as exc:
            status = exc.status
            await _respond(send, status, PROBLEM_JSON, exc.body(),
                           [(k.lower().encode(), v.encode()) for k, v in
                            (exc.headers or {}).items()])
        except Exception as exc:  # what the app's own crash handler answers (FrontDoor)
            status = 500
            await _respond(send, status, PROBLEM_JSON, crash_body(exc), [])
        else:
            status = reply.status
            timing = reply.server_timing()
            try:
                await _respond(send, status, reply.content_type, reply.body,
                               [(b"server-timing", timing.encode())] if timing else [])
            finally:
                reply.release()
        self.metrics.observe(scope["path"], status, time.perf_counter() - start)


async def _respond(send: Send, status: int, content_type: str, body: bytes | memoryview,
                   extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FrontDoor:
    """The app ``serving.serve`` hands uvicorn: a compute request goes through the shell
    (request id, keys, JSON only) straight to ``ComputeFront``, not through FastAPI's and
    Starlette's layers first (their telemetry check, body-limit and error middleware,
    ~10 us of the event loop's time per request, for nothing the compute path uses);
    everything else (and lifespan) goes to the app, whose own stack has the same shell
    and front, and CORS outermost on both ways when origins are configured."""

    def __init__(self, app: Any):
        self.app = app
        state = app.state
        fast: Any = Shell(ComputeFront(app, state.metrics), state.settings, state.metrics)
        cors = cors_options(state.settings)
        self.fast = fast if cors is None else CORSMiddleware(fast, **cors)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in BY_PATH:
            scope["app"] = self.app
            await self.fast(scope, receive, send)
        else:
            await self.app(scope, receive, send)
