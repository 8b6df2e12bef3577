"""The worker process: receives (kind, body) over its pipe, answers (header, body).

Started by the pool through a forkserver that has already imported this module (and so
the engine, numpy and pydantic), so a new or replacement worker is up in milliseconds.
Each worker warms itself with a tiny request before it reports ready.
"""
from __future__ import annotations

import resource
import signal
from multiprocessing.connection import Connection
from typing import Any

import orjson

from .jobs import Jobs
from .settings import Settings, memory_cap_bytes

READY = b"ready"
_WARMUP = orjson.dumps({
    "graph": {"nodes": [{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float32"},
                        {"name": "y", "op": "tanh", "inputs": ["x"]}]},
    "feeds": {"x": [0.5, 1.0]}, "ys": "y", "xs": "x"})


def encode_header(reply: Any) -> bytes:
    return orjson.dumps({"status": reply.status, "content_type": reply.content_type,
                         "plan_cache_hit": reply.plan_cache_hit,
                         "graph_cache_hit": reply.graph_cache_hit, "timings": reply.timings})


def worker_main(conn: Connection, settings: dict[str, Any]) -> None:
    """Serve jobs until the pipe closes. Ctrl-C and SIGTERM are the parent's business."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the parent drains, then closes our pipe
    config = Settings(**settings)
    cap = memory_cap_bytes(config)  # past it numpy raises MemoryError: a 503, not the OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    jobs = Jobs(config)
    jobs.handle("gradients", _WARMUP)
    conn.send_bytes(READY)
    while True:
        try:
            kind = conn.recv_bytes().decode()
            body = conn.recv_bytes()
        except (EOFError, OSError):
            return
        reply = jobs.handle(kind, body)
        conn.send_bytes(encode_header(reply))
        conn.send_bytes(reply.body)
