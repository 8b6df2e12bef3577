"""The shared-memory lanes between the parent and a worker (service/lanes.py). In process:
a body that fits its lane with an answer that does not, and an ended worker's mapping let
go. The lanes' loans: an answer lent out of its lane is never overwritten (the worker's
next answer in that lane takes the pipe until the loan ends), and a lent body written to a
connection is never kept by its transport (serving._OneWrite sends it or copies it)."""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.lanes import ANSWER_BYTES, BODY_BYTES, Lanes
from service.pool import _Process
from service.serving import _OneWrite
from service.settings import Settings

MAPS = Path("/proc/self/maps")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(workers=1))) as c:
        yield c


def _jacobian_of_square(n: int) -> tuple[bytes, np.ndarray]:
    """The body asking for d(x * x)/dx at n points, and its answer, diag(2 x): n floats
    in, n * n numbers out."""
    x = np.random.default_rng(n).uniform(0.1, 0.9, n)
    body = {"graph": {"nodes": [
        {"name": "x", "op": "placeholder", "shape": [n], "dtype": "float64"},
        {"name": "y", "op": "mul", "inputs": ["x", "x"]}]},
        "feeds": {"x": x.tolist()}, "inputs": ["x"], "outputs": ["y"]}
    return orjson.dumps(body), np.diag(2 * x)


def test_a_body_that_fits_its_lane_with_an_answer_that_does_not(client: TestClient) -> None:
    """The answer goes back through the pipe while the body came through the lane: each
    request gets its own answer, big ones at both parities (so in both lanes) and small
    ones after them (whose answers are in the lanes again)."""
    for n in (3, 1000, 1001, 4, 1000, 5):
        body, expected = _jacobian_of_square(n)
        r = client.post("/jacobian", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text[:300]
        assert len(body) <= BODY_BYTES
        if n >= 1000:
            assert len(r.content) > ANSWER_BYTES  # past the lane: the fallback was taken
        np.testing.assert_allclose(r.json()["jacobian"]["y"]["x"], expected, rtol=1e-15)


def _lane_mappings() -> int:
    return sum("gradserve-lanes" in line for line in MAPS.read_text().splitlines())


@pytest.mark.skipif(not MAPS.exists() or not hasattr(os, "memfd_create"),
                    reason="needs Linux's memfd and /proc/self/maps")
def test_an_ended_worker_leaves_no_lane_mapping_behind() -> None:
    """``end`` (a restart, a drain's stop) unmaps the worker's lanes (3 MiB a worker) then
    and there, not whenever the last reference to its ``_Process`` goes: a failed start's
    traceback holds one until a cyclic collection."""
    before = _lane_mappings()
    process = _Process(Settings(workers=1).model_dump(), 0)
    try:
        process.wait_ready(60)
        assert _lane_mappings() == before + 1
    finally:
        process.end(grace=5.0)
    assert not process.proc.is_alive()
    assert _lane_mappings() == before


@pytest.mark.skipif(not MAPS.exists() or not hasattr(os, "memfd_create"),
                    reason="needs Linux's memfd and /proc/self/maps")
def test_a_worker_that_cannot_start_leaves_no_lane_mapping_behind(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A start that fails (fork refused: out of memory, a process limit) has no _Process
    to end: its lanes are unmapped where it fails, not when its traceback goes (the
    pool's executor future holds one until a cyclic collection)."""
    import multiprocessing.context

    def refused(self: object) -> None:
        raise OSError("fork refused")

    monkeypatch.setattr(multiprocessing.context.ForkServerProcess, "start", refused)
    before = _lane_mappings()
    with pytest.raises(OSError, match="fork refused") as failed:
        _Process(Settings(workers=1).model_dump(), 0)
    assert _lane_mappings() == before  # while the traceback (the half-made one) lives on
    assert failed.traceback


def _pair() -> tuple[Lanes, Lanes]:
    parent, shared = Lanes.create()
    worker = Lanes(os.dup(shared._fd))  # what the worker process maps (SharedFd's fd)
    shared.close()
    return parent, worker


def test_a_lent_answer_is_not_overwritten_until_its_loan_ends() -> None:
    parent, worker = _pair()
    parent.open_answer(0)
    assert worker.put_answer(0, [b"ab", b"cd"], 4)
    loan = parent.lend_answer(0, 4)
    assert bytes(loan.view) == b"abcd"
    parent.open_answer(2)  # job 2 uses job 0's lane, which is lent: its answer takes the pipe
    assert not worker.put_answer(2, [b"xy"], 2)
    parent.open_answer(1)  # the other lane is free
    assert worker.put_answer(1, [b"z"], 1)
    assert bytes(loan.view) == b"abcd"
    loan.release()  # the lane opens again, also for job 2 already sent
    assert worker.put_answer(2, [b"xy"], 2)
    assert parent.lend_answer(2, 2).copy() == b"xy"
    parent.open_answer(4)
    assert worker.put_answer(4, [b"after a copy"], 12)


def test_an_answer_too_large_for_its_lane_is_refused() -> None:
    parent, worker = _pair()
    parent.open_answer(0)
    assert not worker.put_answer(0, [b""], 3 << 20)


class _Transport:
    """A plain TCP transport's surface, over one end of a socket pair; ``queued`` stands
    for bytes it has buffered and not yet sent."""

    def __init__(self, sock: socket.socket, queued: int = 0):
        self.sock, self.queued, self.written = sock, queued, []

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    def get_write_buffer_size(self) -> int:
        return self.queued

    def is_closing(self) -> bool:
        return False

    def write(self, data: Any) -> None:
        self.written.append(data)

    def writelines(self, parts: Any) -> None:
        self.written.extend(parts)


def test_a_lent_body_goes_straight_to_the_socket_with_its_head() -> None:
    ours, theirs = socket.socketpair()
    transport = _Transport(ours)
    out = _OneWrite(transport)
    out.write(b"HTTP/1.1 200 OK\r\n\r\n")
    out.write(memoryview(b"body bytes"))
    assert transport.written == []
    assert theirs.recv(100) == b"HTTP/1.1 200 OK\r\n\r\nbody bytes"


def test_a_lent_body_behind_queued_bytes_is_copied_not_kept() -> None:
    ours, theirs = socket.socketpair()
    transport = _Transport(ours, queued=10)  # the socket must not be written before these
    out = _OneWrite(transport)
    out.write(b"HTTP/1.1 200 OK\r\n\r\n")
    lent = bytearray(b"body bytes")
    out.write(memoryview(lent))
    assert all(type(part) is bytes for part in transport.written)
    lent[:] = b"overwrote!"  # the lane reused: what was queued is unchanged
    assert b"".join(transport.written) == b"HTTP/1.1 200 OK\r\n\r\nbody bytes"
    theirs.setblocking(False)
    assert _nothing(theirs)


def _nothing(sock: socket.socket) -> bool:
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    return False


def test_what_the_socket_does_not_take_is_copied_and_queued() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)  # as a transport's socket is
    transport = _Transport(ours)
    lent = bytearray(os.urandom(8 << 20))  # more than a socket pair's buffers hold
    _OneWrite(transport).write(memoryview(lent))
    assert transport.written and all(type(part) is bytes for part in transport.written)
    queued = b"".join(transport.written)
    sent = len(lent) - len(queued)
    assert sent > 0 and queued == lent[sent:]
    received = bytearray()
    while len(received) < sent:
        received += theirs.recv(1 << 20)
    assert received == lent[:sent]
