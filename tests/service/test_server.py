"""``python -m service`` as a real subprocess, spoken to over HTTP with httpx."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..case_files import V1_FILES, V2_FILES, iter_cases, unserved
from .acceptance import post_case
from .helpers import REPO, Server, seed_cases, slow_request

# uvicorn re-raises the signal it stopped on once it has shut down cleanly
STOPPED = (0, -signal.SIGTERM)
JSON = {"content-type": "application/json"}
SEED_MS = (b'{"gradients":[[1.4100001,1.5999999,6.6],[1.4100001,1.5999999,6.6]]}')


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "2", "--max-body-bytes", "1000000")
    yield s
    assert s.stop() in STOPPED


@pytest.fixture(scope="module")
def solo() -> Iterator[Server]:
    """One worker, no queue, a long deadline: for queue-full and killed-worker tests."""
    s = Server("--workers", "1", "--queue-size", "0", "--timeout", "120", "--retry-after", "2")
    yield s
    s.stop()


def _public_cases() -> list[Any]:
    """Every v1 case, and every v2 case marked as such (it runs once it is served)."""
    v1 = [pytest.param(c, False, id=c["id"]) for c in iter_cases(*V1_FILES)]
    return v1 + [pytest.param(c, True, id=c["id"]) for c in iter_cases(*V2_FILES)]


@pytest.fixture(scope="module")
def served(server: Server) -> dict[str, Any]:
    """The OpenAPI schema the running server describes itself with."""
    return httpx.get(f"{server.url}/openapi.json").json()


@pytest.mark.parametrize(("case", "v2"), _public_cases())
def test_public_case(server: Server, served: dict[str, Any], case: dict[str, Any],
                     v2: bool) -> None:
    if v2 and (reason := unserved(case, served)):
        pytest.skip(reason)
    assert post_case(server.url, case) is None


def test_seed_examples_print_their_answers(server: Server) -> None:
    ms, tf = seed_cases()
    r = httpx.post(f"{server.url}/grad-operation", json=ms["request"])
    assert r.status_code == 200 and r.content == SEED_MS
    r = httpx.post(f"{server.url}/gradients", json=tf["request"])
    assert r.json() == {"gradients": [[2, 2, 3], [2, 2, 3], [5, 4, 7], [3, 2, 4]]}


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text
    return r.json()


def test_malformed_json_is_422(server: Server) -> None:
    r = httpx.post(f"{server.url}/gradients", content=b"{not json",
                   headers={"content-type": "application/json"})
    _problem(r, 422)


def test_body_over_the_limit_is_413(server: Server) -> None:
    big = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
    doc = _problem(httpx.post(f"{server.url}/gradients", content=big, headers=JSON), 413)
    assert "GRADSERVE_MAX_BODY_BYTES or --max-body-bytes" in doc["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(20):
            yield b" " * 100_000

    _problem(httpx.post(f"{server.url}/gradients", content=chunks(), headers=JSON), 413)
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_deep_nesting_is_422(server: Server) -> None:
    value = "1.0"
    for _ in range(100):
        value = f"[{value}]"
    body = ('{"graph": {"nodes": [{"name": "x", "op": "placeholder", "shape": [1]},'
            '{"name": "y", "op": "exp", "inputs": ["x"]}]}, "ys": "y", "xs": "x",'
            f'"feeds": {{"x": {value}}}}}')
    doc = _problem(httpx.post(f"{server.url}/gradients", content=body.encode(), headers=JSON),
                   422)
    assert doc["errors"][0]["loc"][:3] == ["body", "feeds", "x"]


def test_deadline_is_504_and_the_server_keeps_serving() -> None:
    tight = Server("--workers", "1", "--timeout", "0.2")
    try:
        before = tight.workers()[0]["pid"]
        started = time.monotonic()
        r = httpx.post(f"{tight.url}/gradients", json=slow_request(), timeout=30)
        assert time.monotonic() - started < 5
        assert "GRADSERVE_TIMEOUT or --timeout" in _problem(r, 504)["detail"]
        r = httpx.post(f"{tight.url}/grad-operation", json=seed_cases()[0]["request"])
        assert r.status_code == 200 and r.content == SEED_MS
        assert tight.workers()[0]["pid"] != before
        metrics = httpx.get(f"{tight.url}/metrics").text
        assert 'gradserve_worker_restarts_total{reason="timeout"} 1.0' in metrics
    finally:
        tight.stop()


def _queued(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("gradserve_queue_depth "):
            return float(line.split()[1])
    raise AssertionError("no queue depth in /metrics")


def test_a_job_sent_ahead_to_a_worker_that_runs_over_is_run_on_its_replacement() -> None:
    """The slot hands its worker the next queued job while the current one computes. Two
    slow jobs and a seed wait behind a third slow one: the second slow one goes to the
    worker with the seed sent ahead behind it; it runs over, the worker is killed, and the
    seed (never started) must be answered by the replacement, not failed with it."""
    tight = Server("--workers", "1", "--timeout", "1")
    try:
        out: dict[str, list[httpx.Response]] = {"x": [], "y": [], "z": []}
        threads = [_post_in_thread(f"{tight.url}/gradients", slow_request(800, 200), out["x"])]
        _busy_pid(tight)
        threads.append(_post_in_thread(f"{tight.url}/gradients", slow_request(800, 200),
                                       out["y"]))
        while _queued(tight) < 1:
            time.sleep(0.01)
        threads.append(_post_in_thread(f"{tight.url}/grad-operation",
                                       seed_cases()[0]["request"], out["z"]))
        for t in threads:
            t.join(60)
        _problem(out["x"][0], 504)
        _problem(out["y"][0], 504)
        assert out["z"][0].status_code == 200 and out["z"][0].content == SEED_MS
        metrics = httpx.get(f"{tight.url}/metrics").text
        assert 'gradserve_worker_restarts_total{reason="timeout"} 2.0' in metrics
    finally:
        tight.stop()


def _post_in_thread(url: str, body: dict[str, Any], out: list[httpx.Response]) -> threading.Thread:
    def run() -> None:
        out.append(httpx.post(url, json=body, timeout=120))

    t = threading.Thread(target=run)
    t.start()
    return t


def _busy_pid(server: Server, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [w["pid"] for w in server.workers() if w["busy"]]
        if busy:
            return busy[0]
        time.sleep(0.02)
    raise TimeoutError("no worker became busy")


def test_queue_full_is_429_then_killed_worker_is_503_and_replaced(solo: Server) -> None:
    out: list[httpx.Response] = []
    t = _post_in_thread(f"{solo.url}/gradients", slow_request(800, 200), out)
    pid = _busy_pid(solo)
    r = httpx.post(f"{solo.url}/grad-operation", json=seed_cases()[0]["request"])
    _problem(r, 429)
    assert r.headers["retry-after"] == "2"
    os.kill(pid, signal.SIGKILL)
    t.join(60)
    _problem(out[0], 503)
    started = time.monotonic()
    while not (solo.workers()[0]["alive"] and solo.workers()[0]["pid"] != pid):
        assert time.monotonic() - started < 1.0, "no replacement within a second"
        time.sleep(0.02)
    r = httpx.post(f"{solo.url}/grad-operation", json=seed_cases()[0]["request"])
    assert r.status_code == 200 and r.content == SEED_MS


def test_idle_worker_death_is_replaced(solo: Server) -> None:
    pid = solo.workers()[0]["pid"]
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    while solo.workers()[0]["pid"] in (pid, None) or not solo.workers()[0]["alive"]:
        assert time.monotonic() - started < 1.0, "no replacement within a second"
        time.sleep(0.02)
    r = httpx.post(f"{solo.url}/grad-operation", json=seed_cases()[0]["request"])
    assert r.status_code == 200


def test_graceful_shutdown_finishes_in_flight_work() -> None:
    s = Server("--workers", "1")
    out: list[httpx.Response] = []
    t = _post_in_thread(f"{s.url}/gradients", slow_request(600, 40), out)
    _busy_pid(s)
    s.proc.send_signal(signal.SIGTERM)
    t.join(60)
    assert out and out[0].status_code == 200, out
    assert s.proc.wait(30) in STOPPED


def test_help_lists_every_setting() -> None:
    from service.settings import Settings

    r = subprocess.run([sys.executable, "-m", "service", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for name in Settings.model_fields:
        assert f"--{name.replace('_', '-')}" in r.stdout


def test_environment_variables_configure_the_server() -> None:
    from .helpers import free_port

    port = free_port()
    env = {**os.environ, "GRADSERVE_WORKERS": "1", "GRADSERVE_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if r.status_code == 200:
                    assert len(r.json()["workers"]) == 1
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail("server configured by environment did not start")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_bodies_and_answers_of_every_size_cross_the_lanes_and_the_pipe(solo: Server) -> None:
    """A job's body and answer go through a shared-memory lane when they fit (1 MiB, 2 MiB)
    and through the pipe when not; jobs alternate between two lanes. Sizes mixed so that
    both ways are taken in both lanes (the even places and the odd ones each hold a small,
    a lane-sized and an over-sized one, whichever lane the shared server's count starts
    on): each request must get its own answer."""
    import numpy as np

    for n in (3, 400_000, 50_000, 3, 400_000, 50_000, 3):
        x = np.random.default_rng(n).uniform(0.1, 0.9, n)
        body = {"graph": {"nodes": [
            {"name": "x", "op": "placeholder", "shape": [n], "dtype": "float64"},
            {"name": "y", "op": "mul", "inputs": ["x", "x"]}]},
            "feeds": {"x": x.tolist()}, "ys": "y", "xs": "x"}
        r = httpx.post(f"{solo.url}/gradients", json=body, timeout=120)
        assert r.status_code == 200, r.text[:300]
        np.testing.assert_allclose(r.json()["gradients"][0], 2 * x, rtol=1e-15)


def test_many_jobs_in_flight_on_one_worker_each_get_their_own_answer() -> None:
    """With every worker busy, a slot sends its worker up to ``pool.DEPTH`` jobs: the first
    two through the lanes, the rest (small bodies only) through the pipe, their answers
    too. Concurrent requests of mixed sizes (tiny, piped-sized, lane-only) on one worker,
    so that jobs of each kind sit behind each other: each must get its own answer."""
    import numpy as np

    one = Server("--workers", "1", "--queue-size", "64")
    try:
        sizes = [3, 2_000, 20_000, 3, 3, 2_000, 3, 20_000, 2_000, 3] * 3
        out: list[list[httpx.Response]] = [[] for _ in sizes]
        xs = [np.random.default_rng(i).uniform(0.1, 0.9, n) for i, n in enumerate(sizes)]
        threads = [_post_in_thread(f"{one.url}/gradients", {"graph": {"nodes": [
            {"name": "x", "op": "placeholder", "shape": [len(x)], "dtype": "float64"},
            {"name": "y", "op": "mul", "inputs": ["x", "x"]}]},
            "feeds": {"x": x.tolist()}, "ys": "y", "xs": "x"}, got)
            for x, got in zip(xs, out, strict=True)]
        for t in threads:
            t.join(120)
        for x, got in zip(xs, out, strict=True):
            assert got[0].status_code == 200, got[0].text[:300]
            np.testing.assert_allclose(got[0].json()["gradients"][0], 2 * x, rtol=1e-15)
    finally:
        one.stop()


def _raw(server: Server, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head)
    return sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    got = b""
    while marker not in got:
        chunk = sock.recv(65536)
        assert chunk, f"closed before {marker!r}: {got!r}"
        got += chunk
    return got


def test_interim_100_continue_is_sent_at_once_and_the_answer_head_comes_with_its_body(
        server: Server) -> None:
    """A response's head is held back to leave with its body (one write): an interim
    ``100 Continue`` must not be (the client waits for it before sending the body), and
    a HEAD answer, which has no body, must still get its head."""
    body = json.dumps(seed_cases()[0]["request"]).encode()
    with _raw(server, b"POST /grad-operation HTTP/1.1\r\nHost: x\r\nContent-Type: "
              b"application/json\r\nExpect: 100-continue\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n") as sock:
        assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        answer = _read_until(sock, SEED_MS)
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(SEED_MS)
    with _raw(server, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n") as sock:
        sock.settimeout(2)  # before the idle connection's close (5 s) would flush it
        assert _read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 ")
