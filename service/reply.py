"""The one type that crosses the worker pipe: a worker's answer to one request.

The worker sends ``header()`` and ``body`` as two frames; the pool reads them back with
``from_frames`` and adds its own timings (queue, ipc) before the front relays it.
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
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    pieces: list[bytes] | None = None  # in the worker: the body not joined (splice.py)

    loan: Any = None  # in the parent: the lane's loan of ``body`` (lanes.Loan)

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
                             "graph_cache_hit": self.graph_cache_hit, "timings": self.timings})

    @classmethod
    def from_frames(cls, header: bytes, body: bytes) -> Reply:
        meta = orjson.loads(header)
        return cls(meta["status"], body, meta["content_type"], meta["plan_cache_hit"],
                   meta["graph_cache_hit"], meta["timings"])

    def server_timing(self) -> str:
        """The Server-Timing header's value (milliseconds per phase)."""
        return ", ".join([f"{k};dur={v * 1000:.3f}" for k, v in self.timings.items()])
