"""The outer shell: what every request passes before any endpoint sees it (pure ASGI).

- A request id: ``X-Request-ID`` when the client sends a sane one, else 32 random hex
  digits (``os.urandom``: a uuid4 object per request showed in the profile); echoed
  in the answer and in the one JSON log line per request (``--request-log``).
- API keys (``--api-key-hashes``): SHA-256 digests only are configured, so the settings
  never hold a usable key; the presented key is hashed and compared in constant time with
  every digest. ``/healthz`` and ``/readyz`` stay open for probes. Keys are never logged.
- Bodies are JSON: a POST, PUT or PATCH whose Content-Type is not ``application/json``
  (or ``*/*+json``) is refused with 415 before it is read; a body with no Content-Type
  at all is read as JSON (what the documented examples send). A browser can send
  ``text/plain`` or form posts cross-site without a CORS preflight; those never compute.

CORS is not here: it is Starlette's ``CORSMiddleware``, added only for configured origins.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .metrics import Metrics
from .problems import PROBLEM_JSON, problem_body
from .settings import Settings

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Non-JSON bodies taken on purpose: ONNX model uploads (PUT /models/NAME). Neither is a
# type a cross-site form can send without a preflight.
OTHER_BODY_TYPES = frozenset({"application/onnx", "application/octet-stream"})
_SANE_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
request_log = logging.getLogger("gradserve.request")


def cors_options(settings: Settings) -> dict[str, Any] | None:
    """Starlette ``CORSMiddleware``'s options for the configured origins; None without
    any (then no CORS header is ever sent). Both ways in use them (the app's stack and
    ``front.FrontDoor``), each outermost: a preflight is answered before keys are asked for."""
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if not origins:
        return None
    return {"allow_origins": origins, "max_age": 600,
            "allow_methods": ["GET", "POST", "PUT", "DELETE"],
            "allow_headers": ["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"],
            "expose_headers": ["X-Request-ID", "Server-Timing", "Retry-After"]}


def key_digests(text: str) -> list[bytes]:
    """The configured digests (comma-separated SHA-256 hex) as bytes."""
    return [bytes.fromhex(d.strip()) for d in text.split(",") if d.strip()]


def is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    kind, _, sub = media.partition("/")
    return (kind == "application" and (sub == "json" or sub.endswith("+json"))) or \
        media in OTHER_BODY_TYPES


def presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    auth = headers.get(b"authorization")
    if auth is not None:
        scheme, _, token = auth.partition(b" ")
        if scheme.lower() == b"bearer" and token.strip():
            return token.strip()
    return headers.get(b"x-api-key")


def key_matches(key: bytes, digests: list[bytes]) -> bool:
    """Whether ``key`` hashes to one of ``digests``; every digest is compared, each in
    constant time, so the timing says nothing about which (or how much) matched."""
    digest = hashlib.sha256(key).digest()
    found = False
    for known in digests:
        found |= hmac.compare_digest(digest, known)
    return found


def configure_request_log() -> None:
    """One bare JSON object per line on stderr, whatever the root logger's format."""
    if request_log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False


class Shell:
    """Request id, API keys and the JSON-only rule, in front of the whole app."""

    def __init__(self, app: Callable[..., Any], settings: Settings, metrics: Metrics):
        self.app = app
        self.metrics = metrics
        self.digests = key_digests(settings.api_key_hashes)
        self.log = settings.request_log
        if self.log:
            configure_request_log()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"")
        rid = given if _SANE_ID.fullmatch(given) else os.urandom(16).hex().encode()
        scope.setdefault("state", {})["request_id"] = rid.decode()
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid)]
            await send(message)

        try:
            refusal = self._refusal(scope, headers)
            if refusal is None:
                await self.app(scope, receive, sending)
            else:
                code, body, extra = refusal
                await sending({"type": "http.response.start", "status": code, "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()), *extra]})
                await sending({"type": "http.response.body", "body": body})
                self.metrics.observe(scope["path"], code, time.perf_counter() - start)
        finally:
            if self.log:
                request_log.info(orjson.dumps({
                    "ts": time.time(), "request_id": rid.decode(), "method": scope["method"],
                    "path": scope["path"], "status": status[0],
                    "duration_ms": round((time.perf_counter() - start) * 1000, 3)}).decode())

    def _refusal(self, scope: dict[str, Any], headers: dict[bytes, bytes]
                 ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        if self.digests and scope["path"] not in OPEN_PATHS and scope["method"] != "OPTIONS":
            key = presented_key(headers)
            if key is None or not key_matches(key, self.digests):
                detail = ("an API key is required: send 'Authorization: Bearer KEY' or "
                          "'X-API-Key: KEY'") if key is None else "the API key is not valid"
                return 401, problem_body("unauthorized", detail, [(["header", "authorization"],
                                                                   detail)]), [
                    (b"www-authenticate", b'Bearer realm="gradserve"')]
        if scope["method"] in BODY_METHODS:
            content_type = headers.get(b"content-type")
            if content_type is not None and not is_json(content_type):
                shown = content_type.decode("latin-1")[:80] or "an empty type"
                detail = (f"the body must be JSON (Content-Type: application/json); got "
                          f"{shown}")
                return 415, problem_body("unsupported-media-type", detail, [
                    (["header", "content-type"], detail)]), [(b"accept-post", b"application/json")]
        return None
