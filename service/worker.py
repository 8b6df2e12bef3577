"""The worker process: receives (endpoint name, body) over its pipe, answers a ``Reply``.

Parsing, validation, decoding, the engine and encoding all happen here, in the worker, so
the event loop only relays bytes. Started by the pool through a forkserver that has
already imported this module (and so the engine, numpy and pydantic), so a new or
replacement worker is up in milliseconds. Each worker warms itself with a tiny request
before it reports ready.
"""
from __future__ import annotations

import io
import logging
import os
import pickle
import resource
import select
import signal
import socket
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson
from pydantic import ValidationError

import engine
from engine import EngineError
from engine.collector import paused, settle, young

from . import splice
from .endpoints import BY_NAME
from .graph_cache import GraphCache, ModelGraphs
from .handlers import Call, Clock
from .lanes import SHARED, Lanes, shared_header
from .problems import PROBLEM_JSON, ProblemError, engine_problem, from_validation, problem_body
from .protocols import tesseract
from .render import render
from .reply import JSON, Reply
from .settings import Settings, memory_cap_bytes

log = logging.getLogger("gradserve.worker")
READY = b"ready"
MODELS_TAG = "models"  # not an endpoint: the parent's update of the registered models
RENDER_TAG = "render"  # POST /render: drawing a picture is computation too
PIPED = "|"  # a tag's prefix: the job's body and its answer travel in the pipe, not a lane
# The collector's walk over what a big job allocated (~0.2 s after the 100,000-node chain)
# is made once the worker is idle: while the next job comes within SETTLE_IDLE seconds,
# it is answered first, the collector still paused (up to SETTLE_MOST new objects).
SETTLE_LEAST = 100_000  # new objects worth a walk of their own
SETTLE_IDLE = 0.5
SETTLE_MOST = 2_000_000
_WARMUP = orjson.dumps({
    "graph": {"nodes": [{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float32"},
                        {"name": "y", "op": "tanh", "inputs": ["x"]}]},
    "feeds": {"x": [0.5, 1.0]}, "ys": "y", "xs": "x"})


class Worker:
    """A worker's warm state (built graphs; the engine keeps its plans). ``handle`` never
    raises: every outcome is a ``Reply``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.graphs = GraphCache(settings.graph_cache_size, settings.max_nodes,
                                 settings.max_elements)
        self.models = ModelGraphs(settings.max_nodes, settings.max_elements)
        engine.configure_caches(programs=settings.plan_cache_size)

    def update_models(self, body: bytes | memoryview) -> Reply:
        """The parent's (build, drop) of registered models, pickled (a trusted pipe)."""
        try:
            self.models.update(*pickle.loads(body))
        except Exception as exc:  # the parent judged them: this is a bug, reported to it
            log.exception("could not build the registered models")
            return Reply(500, str(exc).encode())
        return Reply(200, b"")

    def handle(self, tag: str, body: bytes | memoryview) -> Reply:
        """The answer to one job: ``tag`` is an endpoint's name, or its first word (before
        any ``:``) is one of ``JOBS``' kinds. ``body`` may be a view of the shared lane
        (``Lanes.body``): it is parsed, never kept."""
        clock = Clock()
        try:
            job = JOBS.get(tag.partition(":")[0])
            if job is not None:
                return job(self, tag, body)
            endpoint = BY_NAME[tag]
            doc = _parse(body)
            clock.lap("parse")
            request = _validate(endpoint.request, doc)
            clock.lap("validate")
            call = Call(request, doc, self.graphs, self.models, self.settings, clock)
            try:
                done = endpoint.handler(call)
            except EngineError as exc:
                wire_paths = endpoint.wire_paths if call.model is None else {
                    **endpoint.wire_paths, "graph": ("body", "model")}
                raise engine_problem(exc, wire_paths) from None
            pieces = splice.dumps(done.answer)
            clock.lap("encode")
            return Reply(200, b"", JSON, done.plan_cache_hit, done.graph_cache_hit,
                         clock.marks, pieces)
        except ProblemError as exc:
            return Reply(exc.status, exc.body(), PROBLEM_JSON, timings=clock.marks)
        except MemoryError:
            return Reply(503, problem_body("out-of-memory", "the computation ran out of memory"),
                         PROBLEM_JSON)
        except Exception:
            log.exception("unexpected failure handling a %s job", tag)
            return Reply(500, problem_body("internal", "an unexpected error occurred; it has "
                                           "been logged"), PROBLEM_JSON)

    def _picture(self, tag: str, body: bytes | memoryview) -> Reply:
        picture = render(body, self.graphs, self.models.get)
        return Reply(200, picture.body, picture.media_type)

    def _tesseract(self, tag: str, body: bytes | memoryview) -> Reply:
        return tesseract.handle(self.models.get, self.settings.max_elements, tag, body)


# a job's kind (its tag's first word) -> how a worker answers it, for the jobs that are not
# an endpoint's (those are tagged with the endpoint's name: endpoints.BY_NAME)
JOBS: dict[str, Callable[[Worker, str, bytes | memoryview], Reply]] = {
    MODELS_TAG: lambda worker, _tag, body: worker.update_models(body),
    RENDER_TAG: Worker._picture,
    tesseract.KIND: Worker._tesseract,  # tesseract:<endpoint>:<format>:<model>
}


def _parse(body: bytes | memoryview) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError("invalid-request", f"the body is not valid JSON: {exc}",
                           [(["body"], f"invalid JSON: {exc}")]) from None
    if not isinstance(doc, dict):
        raise ProblemError("invalid-request", "the body must be a JSON object",
                           [(["body"], "expected an object")])
    return doc


def _validate(model: Any, doc: dict[str, Any]) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise from_validation(exc, ["body"]) from None


def worker_main(conn: Connection, settings: dict[str, Any], lanes_fd: int) -> None:
    """Serve jobs until the pipe closes. Ctrl-C and SIGTERM are the parent's business."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the parent drains, then closes our pipe
    config = Settings(**settings)
    cap = memory_cap_bytes(config)  # past it numpy raises MemoryError: a 503, not the OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    worker = Worker(config)
    worker.handle("gradients", _WARMUP)
    conn.send_bytes(READY)
    pipe = _Pipe(conn, Lanes(lanes_fd))
    while True:
        job = pipe.recv_job()
        if job is None:
            return
        # no cyclic collection mid-request (parsing a 5 MB body took 2.5x as long with it);
        # its one walk over what the request allocated is made once the worker is idle
        # (the next job answered first if it comes within SETTLE_IDLE), not at whatever
        # allocation comes first once the collector resumes
        with paused():
            _answer(worker, pipe, job)
            while SETTLE_LEAST <= young() < SETTLE_MOST and pipe.waiting(SETTLE_IDLE):
                job = pipe.recv_job()
                if job is None:
                    return
                _answer(worker, pipe, job)
        settle(SETTLE_LEAST)


def _answer(worker: Worker, pipe: _Pipe, job: tuple[str, bytes | memoryview, bool]) -> None:
    tag, body, piped = job
    reply = worker.handle(tag, body)
    pipe.send_answer(reply.header(), reply.body_pieces(), piped)


class _Pipe:
    """The worker's end of its pipe, framed as ``Connection`` frames (what the pool reads),
    with fewer system calls: reads go through a buffer (a small job's two frames arrive
    in one ``recv``, not four), and an answer's two frames leave in one ``sendmsg``, so
    the parent's event loop is woken once per answer, not once per frame."""

    BUFFER = 256 * 1024

    def __init__(self, conn: Connection, lanes: Lanes):
        self.lanes = lanes
        self.jobs = 0  # answered so far: job k's body and answer use lane k % 2 (lanes.py)
        self.sock = socket.socket(fileno=os.dup(conn.fileno()))
        self.reader = io.BufferedReader(self.sock.makefile("rb", buffering=0), self.BUFFER)

    def recv_job(self) -> tuple[str, bytes | memoryview, bool] | None:
        """The next job's tag, body and whether it is piped; None once the parent has
        closed the pipe."""
        try:
            tag = bytes(self.recv_frame()).decode()
            piped = tag.startswith(PIPED)
            if piped:
                tag = tag[len(PIPED):]
            return tag, self.recv_frame(), piped
        except (EOFError, OSError):
            return None

    def waiting(self, timeout: float) -> bool:
        """Whether the parent sends something within ``timeout`` seconds (bytes already
        read into the buffer are not seen: then the worker settles first, as if idle)."""
        return bool(select.select([self.sock], [], [], timeout)[0])

    def _exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        if data is None or len(data) < size:
            raise EOFError("the parent closed the pipe")
        return data

    def recv_frame(self) -> bytes | memoryview:
        (size,) = struct.unpack("!i", self._exactly(4))
        if size == SHARED:
            (size,) = struct.unpack("!Q", self._exactly(8))
            return self.lanes.body(self.jobs, size)
        if size == -1:
            (size,) = struct.unpack("!Q", self._exactly(8))
        return self._exactly(size)

    def send_answer(self, header: bytes, body: list[bytes], piped: bool = False) -> None:
        """The header frame and the body (in pieces: ``splice.dumps``) as one frame; a
        ``piped`` job's never in its lane (the parent may still be reading the lane)."""
        parts: list[bytes | memoryview] = [frame_header(len(header)), header]
        size = sum(map(len, body))
        if not piped and self.lanes.put_answer(self.jobs, body, size):
            parts.append(shared_header(size))
        else:
            parts += [frame_header(size), *body]
        self.jobs += 1
        while parts:  # a stream socket may take less than all of it
            sent = self.sock.sendmsg(parts)
            while parts and sent >= len(parts[0]):
                sent -= len(parts.pop(0))
            if sent:
                parts[0] = memoryview(parts[0])[sent:]


def frame_header(size: int) -> bytes:
    """multiprocessing's framing: a signed 4-byte big-endian length (or -1 and 8 bytes)."""
    return struct.pack("!iQ", -1, size) if size > 0x7FFFFFFF else struct.pack("!i", size)
