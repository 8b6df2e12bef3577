"""SIGTERM drains a real server: not ready, no new connections, and every request it had
accepted answered 200, whether it was computing, queued, read or not yet read."""
from __future__ import annotations

import json
import signal
import socket
import threading
import time

import httpx

from .helpers import Server, slow_request

STOPPED = (0, -signal.SIGTERM)


def _raw_request(body: bytes) -> bytes:
    return (b"POST /gradients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _status_of(sock: socket.socket) -> int:
    """Read one whole answer from ``sock``; its status code (0 if the server hung up)."""
    sock.settimeout(60)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                  if ln.lower().startswith(b"content-length"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return 0
        rest += chunk
    return int(head.split(b" ")[1])


def test_sigterm_answers_every_accepted_request() -> None:
    s = Server("--workers", "2", "--shutdown-timeout", "60")
    body = json.dumps(slow_request(300, 20)).encode()
    statuses: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        try:
            status = httpx.post(f"{s.url}/gradients", content=body, timeout=60,
                                headers={"content-type": "application/json"}).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            statuses.append(status)

    try:
        keep = httpx.Client(base_url=s.url, timeout=10)  # one keep-alive connection
        assert keep.get("/readyz").status_code == 200
        threads = [threading.Thread(target=post) for _ in range(6)]  # computing and queued
        for t in threads:
            t.start()
        _wait_until_in(keep, statuses, 6)  # the six are in (or answered already)
        sent_before = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(4)]
        # accepted just before the signal; quiet for less than serving.QUIET when they send
        silent = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(4)]
        for sock in sent_before:
            sock.sendall(_raw_request(body))
        keep.get("/healthz")
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.15)
        for sock in silent:  # accepted before the signal, request bytes only after it
            sock.sendall(_raw_request(body))
        # the keep-alive connection, active a moment ago, still answers: not ready
        assert keep.get("/readyz").status_code == 503
        assert _refused_within(s.url, 10.0)  # stops listening (soon, even on a busy machine)
        raw = [_status_of(sock) for sock in sent_before + silent]
        for t in threads:
            t.join(60)
        assert raw == [200] * 8
        assert statuses == [200] * 6
        assert s.proc.wait(60) in STOPPED
    finally:
        keep.close()
        s.stop()


def _wait_until_in(client: httpx.Client, answered: list[int], n: int) -> None:
    """Until the server holds (computing or queued) or has answered ``n`` requests: a
    fixed sleep lets a busy machine send the signal before the requests are in."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = client.get("/metrics").text
        held = sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith(("gradserve_queue_depth", "gradserve_busy_workers")))
        if held + len(answered) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{n} requests never reached the server")


def _refused_within(url: str, seconds: float) -> bool:
    """Whether new connections are refused within ``seconds`` (polled, not one timed try)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=2)
        except httpx.ConnectError:
            return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False
