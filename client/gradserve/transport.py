"""Sending one call: JSON out, retries on 429 and transient 503s honouring Retry-After,
errors as typed exceptions. The sync and async clients share everything here but the
waiting."""
from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import errors, tensors

RETRY_STATUSES = (429, 503)
# 503s that a retry cannot cure: the same request runs out of memory again, and a program
# the server lacks (Graphviz's dot) stays missing. Other 503s (a worker died, the server
# is draining) are gone by the next try, or on another replica.
LASTING_PROBLEMS = frozenset({"out-of-memory", "missing-program"})


@dataclass
class Call:
    """One HTTP request and how its JSON answer becomes the method's result."""

    method: str
    path: str
    body: Any = None
    result: Callable[[Any], Any] = field(default=lambda doc: doc)
    text: bool = False  # the answer is text (an SVG or DOT picture), not JSON


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``retries`` retries; each wait is Retry-After (seconds or an HTTP date) or
    an exponential backoff from ``backoff``, and never longer than ``max_wait``."""

    retries: int = 3
    backoff: float = 0.25
    max_wait: float = 30.0

    def delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None to give the answer back."""
        if (response.status_code not in RETRY_STATUSES or attempt >= self.retries
                or problem_type(response) in LASTING_PROBLEMS):
            return None
        after = retry_after(response)
        wait = after if after is not None else self.backoff * 2 ** attempt
        return min(max(wait, 0.0), self.max_wait)


def problem_type(response: httpx.Response) -> str | None:
    """The slug of a problem+json answer's ``type`` (``urn:gradserve:problem:SLUG``)."""
    try:
        kind = response.json().get("type")
    except (ValueError, AttributeError):
        return None
    return kind.rsplit(":", 1)[-1] if isinstance(kind, str) else None


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def encode_body(body: Any) -> bytes:
    """Strict JSON: a NaN that escaped the tensor encoder is a bug, not a wire number."""
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


def request_args(call: Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    return {"content": encode_body(call.body), "headers": {"content-type": "application/json"}}


def outcome(call: Call, response: httpx.Response) -> Any:
    """The call's result, or the answer's problem raised as a typed exception."""
    if response.status_code >= 400:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        raise errors.from_problem(response.status_code, body, retry_after(response))
    if call.text:
        return response.text
    return call.result(tensors.decode_tree(response.json()))
