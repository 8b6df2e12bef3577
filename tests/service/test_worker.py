"""A worker's jobs in process (service/worker.py): each kind of tag reaches what answers it,
through the one table of the jobs that are not an endpoint's."""
from __future__ import annotations

import math
import pickle
from typing import Any

import orjson
import pytest

from service.endpoints import BY_NAME
from service.protocols import tesseract
from service.reply import Reply
from service.settings import Settings
from service.worker import JOBS, MODELS_TAG, RENDER_TAG, Worker

NODES = [{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
         {"name": "y", "op": "sin", "inputs": ["x"]}]


@pytest.fixture(scope="module")
def worker() -> Worker:
    return Worker(Settings(workers=1))


def test_no_job_kind_is_an_endpoints_name_or_holds_a_colon() -> None:
    assert not set(JOBS) & set(BY_NAME)
    assert all(":" not in kind for kind in JOBS) and all(":" not in n for n in BY_NAME)


def _json(reply: Reply) -> Any:
    """A worker's answer as its parent sends it on (a large one comes in pieces)."""
    return orjson.loads(b"".join(reply.body_pieces()))


def test_every_kind_of_tag_reaches_what_answers_it(worker: Worker) -> None:
    grads = worker.handle("gradients", orjson.dumps(
        {"graph": {"nodes": NODES}, "feeds": {"x": [0.0, 1.0]}, "ys": "y", "xs": "x"}))
    assert grads.status == 200 and _json(grads)["gradients"][0][0] == 1.0
    dot = worker.handle(RENDER_TAG, orjson.dumps({"graph": {"nodes": NODES}, "format": "dot"}))
    assert dot.status == 200 and b"digraph" in dot.body and "graphviz" in dot.content_type
    update = ({"m": ("v1", {"nodes": NODES})}, [])
    assert worker.handle(MODELS_TAG, pickle.dumps(update)).status == 200
    apply = worker.handle(tesseract.tag("apply", "json", "m"),
                          orjson.dumps({"inputs": {"x": [0.0, 0.5]}}))
    assert apply.status == 200, apply.body
    assert _json(apply)["y"]["data"]["buffer"] == [0.0, math.sin(0.5)]
    assert worker.handle(MODELS_TAG, pickle.dumps(({}, ["m"]))).status == 200
    gone = worker.handle(tesseract.tag("apply", "json", "m"), b"{}")
    assert gone.status == 404  # dropped by the update: the Tesseract job no longer finds it
    assert worker.handle(MODELS_TAG, b"not a pickle").status == 500  # told to the parent
    assert worker.handle("no-such-endpoint", b"{}").status == 500


def test_a_workers_pipe_says_whether_a_job_is_waiting_and_reads_it() -> None:
    """What the worker's loop asks before the collector's walk (``waiting``: is the next
    job here?) and how it reads a job, piped or not, and the parent's closing."""
    import socket
    from multiprocessing.connection import Connection

    from service.worker import PIPED, _Pipe, frame_header

    parent, child = socket.socketpair()
    pipe = _Pipe(Connection(child.detach()), None)  # type: ignore[arg-type]  # no lanes
    assert not pipe.waiting(0.01)
    for tag, body in (("gradients", b"{}"), (PIPED + "render", b"[1]")):
        parent.sendall(frame_header(len(tag)) + tag.encode() + frame_header(len(body)) + body)
    assert pipe.waiting(0.01)
    assert pipe.recv_job() == ("gradients", b"{}", False)
    assert pipe.recv_job() == ("render", b"[1]", True)
    assert not pipe.waiting(0.01)
    parent.close()
    assert pipe.waiting(0.01)  # the end of the pipe: the loop reads it and stops
    assert pipe.recv_job() is None


def test_young_counts_what_the_next_collection_walks() -> None:
    import gc

    from engine.collector import paused, young

    with paused():
        before = young()
        kept = [[] for _ in range(5000)]
        assert young() == gc.get_count()[0] > before + 4000  # (less what was freed)
    assert gc.isenabled() and len(kept) == 5000
