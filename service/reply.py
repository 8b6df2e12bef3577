"""The one type that crosses the worker pipe: a worker's answer to one request.

The worker sends ``header()`` and ``body`` as two frames; the pool reads them back with
``from_frames`` and adds its own timings (queue, ipc) before the front relays it. The
worker writes its phases' part of the Server-Timing header itself (formatting six floats
per answer was ~1.7 us of the event loop's time) and sends their sum beside it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

JSON = "application/json"


@dataclass
class Reply:
    """The HTTP answer (status, content type, body bytes) and what metrics want to know."""

    status: int
    body: bytes  # in the parent, a memoryview of the lane while on loan (Pool.submit)
    content_type: str = JSON
    plan_cache_hit: bool | None = None
    graph_cache_hit: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (the
    # worker's own there; in the parent, the parent's: queue, ipc)
    pieces: list[bytes] | None = None  # in the worker: the body not joined (splice.py)

    loan: Any = None  # in the parent: the lane's loan of ``body`` (lanes.Loan)
    worker_timing: str = ""  # in the parent: the worker's phases, as Server-Timing text
    worker_seconds: float = 0.0  # in the parent: the sum of the worker's phases

    def release(self) -> None:
        """End the loan of the body, if any (it must not be read after)."""
        if self.loan is not None:
            self.loan.release()

    def body_pieces(self) -> list[bytes]:
        return [self.body] if self.pieces is None else self.pieces

    def header(self) -> bytes:
        """Everything but the body, as the pipe's first frame."""
        return orjson.dumps({"status": self.status, "content_type": self.content_type,
                             "plan_cache_hit": self.plan_cache_hit,
                             "graph_cache_hit": self.graph_cache_hit,
                             "timing": _timing(self.timings),
                             "worker_seconds": sum(self.timings.values())})

    @classmethod
    def from_frames(cls, header: bytes, body: bytes) -> Reply:
        meta = orjson.loads(header)
        reply = cls(meta["status"], body, meta["content_type"], meta["plan_cache_hit"],
                    meta["graph_cache_hit"])
        reply.worker_timing, reply.worker_seconds = meta["timing"], meta["worker_seconds"]
        return reply

    def server_timing(self) -> str:
        """The Server-Timing header's value (milliseconds per phase): the worker's phases
        as it wrote them, then the parent's own (``timings``)."""
        own = _timing(self.timings)
        if not self.worker_timing:
            return own
        return f"{self.worker_timing}, {own}" if own else self.worker_timing


def _timing(timings: dict[str, float]) -> str:
    return ", ".join([f"{k};dur={v * 1000:.3f}" for k, v in timings.items()])
