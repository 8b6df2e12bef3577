"""problem+json answers (RFC 9457) as typed exceptions."""
from __future__ import annotations

from typing import Any


class GradserveError(Exception):
    """An error answer of the service: ``status``, ``type``, ``title``, ``detail``,
    ``node`` (the graph node at fault, if any), ``loc`` (the JSON path of the first fault)
    and every ``errors`` item."""

    def __init__(self, status: int, detail: str, *, type: str = "about:blank",
                 title: str = "", node: str | None = None,
                 errors: list[dict[str, Any]] | None = None,
                 retry_after: float | None = None):
        super().__init__(f"{status} {title}: {detail}" if title else f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.type = type
        self.title = title
        self.node = node
        self.errors = errors or []
        self.loc: list[str | int] | None = self.errors[0].get("loc") if self.errors else None
        self.retry_after = retry_after


class InvalidRequest(GradserveError):
    """422: the request (or its graph) is not valid."""


class TooLarge(GradserveError):
    """413: the body or a tensor is over a limit."""


class NotFound(GradserveError):
    """404: no such path, model or op."""


class Forbidden(GradserveError):
    """403: e.g. model upload is off."""


class QueueFull(GradserveError):
    """429: the queue stayed full after the retries."""


class Unavailable(GradserveError):
    """503: a worker died, the server is shutting down or a program it needs is missing."""


class ComputeTimeout(GradserveError):
    """504: the computation ran over the server's time limit."""


class ServerError(GradserveError):
    """500 and any other status."""


BY_STATUS: dict[int, type[GradserveError]] = {
    403: Forbidden, 404: NotFound, 413: TooLarge, 422: InvalidRequest, 400: InvalidRequest,
    429: QueueFull, 503: Unavailable, 504: ComputeTimeout}


def from_problem(status: int, body: Any, retry_after: float | None = None) -> GradserveError:
    """The exception for an error answer; a body that is not problem+json keeps its text."""
    cls = BY_STATUS.get(status, ServerError)
    if not isinstance(body, dict):
        return cls(status, str(body)[:500], retry_after=retry_after)
    return cls(status, str(body.get("detail", "")), type=str(body.get("type", "about:blank")),
               title=str(body.get("title", "")), node=body.get("node"),
               errors=body.get("errors") if isinstance(body.get("errors"), list) else None,
               retry_after=retry_after)
