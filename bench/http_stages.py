"""Where the time of one W2 request over HTTP goes, stage by stage, at one connection.

One Gradserve server (from a checkout: this one, or a recorded older one for the "before"
column) answers the W2 MLP ``/gradients`` request (base64 in and out) back to back on one
keep-alive connection. Each answer's ``Server-Timing`` header gives the worker's stages
(parse, validate, graph, decode, compute, encode) and the pool's (queue: waiting for a
worker; ipc: the pipe both ways beyond the worker's own time); the rest of the client's
wall time is the front and HTTP (uvicorn, the middlewares, the sockets). The in-process
engine time (``engine.compute_gradients`` on the decoded request, in this process) is
the issue's yardstick: over HTTP <= 1.5x it + 0.3 ms. It runs with this process's BLAS
threads (one per CPU by default); a worker has its share of the CPUs (one of two with two
workers), so the engine is also timed with one BLAS thread, in a child process: that is
the worker's ``compute``.

``python -m bench.http_stages --root DIR --record-before`` measures checkout DIR and
stores its figures as the "before" column (``http_stages_before.json``).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import service_requests as req
from .servers import ROOT, free_port, start, uvicorn_argv

BEFORE = Path(__file__).resolve().parent / "http_stages_before.json"
OUTPUT = Path(__file__).resolve().parent / "HTTP_STAGES.md"  # this module run on its own
STAGES = ("parse", "validate", "graph", "decode", "compute", "encode", "queue", "ipc")
REST = "front + HTTP"
RAW = "wall, raw-socket client"  # the same request from a client that parses only the head
CLIENT = "of front + HTTP: http.client's own work"  # wall - RAW
BARE = "wall, raw-socket client, a bare uvicorn app (same bytes, no work)"  # bench.bare_app


class _RawClient:
    """One keep-alive connection that sends a request's bytes and reads the answer by its
    Content-Length into a reused buffer: what is left of the wall is the server's and the
    sockets', not a Python HTTP client's parsing and copying (``http.client``)."""

    def __init__(self, host: str, port: int, path: str, body: bytes):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                        f"application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                        ).encode() + body
        self.buffer = bytearray(4 << 20)

    def post(self) -> None:
        self.sock.sendall(self.request)
        view, got, end = memoryview(self.buffer), 0, -1
        while end < 0:
            got += self._recv(view[got:])
            end = self.buffer.find(b"\r\n\r\n", 0, got)
        head = bytes(self.buffer[:end]).decode("latin-1").lower()
        if not head.startswith("http/1.1 200"):
            raise RuntimeError(f"W2 over HTTP (raw socket) answered {head.splitlines()[0]}")
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        while got < end + 4 + length:
            got += self._recv(view[got:])

    def _recv(self, into: memoryview) -> int:
        n = self.sock.recv_into(into)
        if n == 0:
            raise RuntimeError("W2 over HTTP (raw socket): the server closed the connection")
        return n

    def close(self) -> None:
        self.sock.close()


def over_http(root: Path, requests: int = 400, log: Callable[[str], Any] = print
              ) -> dict[str, float]:
    """Median ms per stage, the rest, and the client's wall time, from checkout ``root``;
    and, interleaved, a bare uvicorn app's answering as many bytes (``bench.bare_app``)."""
    port = free_port()
    argv = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "2"]
    body = req.dumps(req.mlp())
    logs = ROOT / "bench" / ".peers" / "logs"
    with start("Gradserve stages", argv, port, "/healthz", logs, cwd=root) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        conn.request("POST", "/gradients", body, {"Content-Type": "application/json"})
        answer_bytes = len(conn.getresponse().read())
        bare_port = free_port()
        with start("bare uvicorn", uvicorn_argv("bench.bare_app:app", bare_port), bare_port,
                   "/healthz", logs, env={"BARE_ANSWER_BYTES": str(answer_bytes)}) as bare:
            out = _rounds(conn, _RawClient("127.0.0.1", server.port, "/gradients", body),
                          _RawClient("127.0.0.1", bare.port, "/gradients", body),
                          body, requests)
    log(f"[stages] {root}: wall {out['wall']:.2f} ms")
    return out


def server_timing(answer: http.client.HTTPResponse) -> dict[str, float]:
    """An answer's Server-Timing header as stage -> ms (stages without a duration left out)."""
    out = {}
    for part in (answer.getheader("server-timing") or "").split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


def _rounds(conn: http.client.HTTPConnection, raw: _RawClient, bare: _RawClient,
            body: bytes, requests: int) -> dict[str, float]:
    """The three clients take turns (so a busy spell hits each alike), after 30 rounds of
    warm-up (both workers' caches); medians of the rest."""
    walls: dict[str, list[float]] = {"wall": [], RAW: [], BARE: []}
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    for i in range(requests + 30):
        t = time.perf_counter()
        conn.request("POST", "/gradients", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        wall = time.perf_counter() - t
        if answer.status != 200:
            raise RuntimeError(f"W2 over HTTP answered {answer.status}")
        t = time.perf_counter()
        raw.post()
        raw_wall = time.perf_counter() - t
        t = time.perf_counter()
        bare.post()
        bare_wall = time.perf_counter() - t
        if i < 30:
            continue
        for key, ms in (("wall", wall), (RAW, raw_wall), (BARE, bare_wall)):
            walls[key].append(ms * 1e3)
        for name, dur in server_timing(answer).items():
            if name in stages:
                stages[name].append(dur)
    for client in (conn, raw, bare):
        client.close()
    out = {s: statistics.median(v) for s, v in stages.items() if v}
    out.update({key: statistics.median(v) for key, v in walls.items()})
    out[REST] = max(0.0, out["wall"] - sum(out[s] for s in STAGES if s in out))
    out[CLIENT] = out["wall"] - out[RAW]
    return out


CHAIN_NODES = 100_000


def chain_request(length: int = CHAIN_NODES) -> bytes:
    """/gradients of the engine test's ``length``-node chain (n <- n + eps * sin(n)), the
    very graph tests/engine/test_chain.py checks, so the bench times a checked graph."""
    from tests.engine.test_chain import _chain

    nodes = _chain(length)
    return req.dumps({"graph": {"nodes": nodes}, "feeds": {"x": [1.0, -2.0, 0.0, 3.0]},
                      "ys": [nodes[-1]["name"]], "xs": ["x"]})


def chain_cold(root: Path, log: Callable[[str], Any] = print) -> dict[str, dict[str, float]]:
    """The chain sent twice to a fresh one-worker server: cold (nothing cached) and warm;
    client wall ms and the Server-Timing stages of each."""
    port = free_port()
    argv = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]
    body = chain_request()
    out: dict[str, dict[str, float]] = {}
    with start("Gradserve chain", argv, port, "/healthz", ROOT / "bench" / ".peers" / "logs",
               cwd=root) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        for run in ("cold", "warm"):
            t = time.perf_counter()
            conn.request("POST", "/gradients", body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
            figures = {"wall": (time.perf_counter() - t) * 1e3, **server_timing(answer)}
            out[run] = figures
            log(f"[stages] chain {run}: {answer.status}, {figures['wall']:.0f} ms")
        conn.close()
    return out


def chain_section(chain: dict[str, dict[str, float]]) -> str:
    keys = ["wall", *STAGES]
    rows = [f"| {k} | {chain['cold'].get(k, 0):,.1f} | {chain['warm'].get(k, 0):,.1f} |"
            for k in keys]
    return ("\n### The 100,000-node chain over HTTP, cold and warm\n\n"
            f"`/gradients` of a {CHAIN_NODES:,}-node chain ({len(chain_request()) / 1e6:.1f} MB "
            "of JSON) to a fresh one-worker server, twice: cold (the worker has built nothing) "
            "and warm (graph and plan cached). ms; `graph` is the cache key (hashing the "
            "description) plus, cold, the engine's `Graph.from_description`; `compute` cold "
            "is the engine differentiating and planning. Target: cold wall <= 1.5 s.\n\n"
            "| stage | cold ms | warm ms |\n|---|---|---|\n" + "\n".join(rows) + "\n")


def in_process(reps: int = 300) -> float:
    """Median ms of engine.compute_gradients on W2's decoded request, in this process."""
    import orjson

    import engine
    from service.codec import decode
    from service.graph_cache import GraphCache

    doc = orjson.loads(req.dumps(req.mlp()))
    graph, _ = GraphCache(4, 10**6, 10**8).get(doc["graph"], ["graph"])
    feeds = {k: decode(v, "float32", 10**8) for k, v in doc["feeds"].items()}
    times = []
    for i in range(reps + 20):
        t = time.perf_counter()
        engine.compute_gradients(graph, feeds, doc["ys"], doc["xs"], dialect="tensorflow")
        if i >= 20:
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                     "MKL_NUM_THREADS")}


def in_process_one_thread() -> float:
    """``in_process`` in a child process whose BLAS has one thread, as a worker's has."""
    code = "from bench.http_stages import in_process; print(in_process())"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, env={**os.environ, **ONE_THREAD})
    return float(done.stdout.split()[-1])


def run(log: Callable[[str], Any] = print, root: Path = ROOT) -> dict[str, Any]:
    engine_ms = in_process()
    http_ms = over_http(root, log=log)
    return {"http": http_ms, "engine": engine_ms, "engine_after": in_process(),
            "engine_one_thread": in_process_one_thread(), "chain": chain_cold(root, log)}


def section(after: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    """The "where the time goes" section: before (recorded) and after (this run)."""
    def cell(figures: dict[str, Any] | None, key: str) -> str:
        if figures is None or key not in figures["http"]:
            return ""
        return f"{figures['http'][key]:.3f}"

    rows = [(s, cell(before, s), cell(after, s))
            for s in (*STAGES, REST, CLIENT, "wall", RAW, BARE)]
    for name, fig in (("in-process engine", "engine"),):
        rows.append((name, "" if before is None else f"{before[fig]:.3f}",
                     f"{(after[fig] + after['engine_after']) / 2:.3f}"))

    def one_thread(figures: dict[str, Any] | None) -> str:
        return "" if figures is None or "engine_one_thread" not in figures else \
            f"{figures['engine_one_thread']:.3f}"

    rows.append(("in-process engine, 1 BLAS thread (a worker's)", one_thread(before),
                 one_thread(after)))

    def target(figures: dict[str, Any] | None) -> str:
        if figures is None:
            return ""
        engine_ms = (figures["engine"] + figures.get("engine_after", figures["engine"])) / 2
        limit = 1.5 * engine_ms + 0.3
        wall = figures["http"]["wall"]
        return f"{wall:.2f} vs {limit:.2f}: {'met' if wall <= limit else 'NOT met'}"

    rows.append(("target: wall <= 1.5x engine + 0.3 ms", target(before), target(after)))
    head = ["stage", "before ms", "after ms"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    note = "" if before is None else f" The before column is {before.get('what', 'recorded')}."
    return ("\n## Where the time goes: W2 over HTTP\n\n"
            "The W2 MLP `/gradients` request (272 kB in, 1.09 MB out, base64 both ways) back "
            "to back on one keep-alive connection, 2 workers: median ms per stage from each "
            "answer's Server-Timing (the worker's stages; the pool's queue and ipc), the "
            "rest of the client's wall time (`http.client`'s) as front + HTTP; of that, what "
            "the client itself takes: the same request from a raw socket that reads the "
            "answer by its Content-Length, interleaved on a second connection (its wall "
            "shown below); the same bytes answered by a bare uvicorn app that computes "
            "nothing (`bench/bare_app.py`, on a third connection, in the same rounds): "
            "the floor that uvicorn and the loopback sockets set; and the in-process engine "
            "(`compute_gradients` on the decoded request, median of two runs around the "
            "HTTP run) as the yardstick; a worker computes with one BLAS thread (its share of "
            "the 2 CPUs), timed in-process too." + note + "\n\n" + "\n".join(lines) + "\n")


def before() -> dict[str, Any] | None:
    """The recorded before column (``--record-before``), if any."""
    return json.loads(BEFORE.read_text()) if BEFORE.exists() else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.http_stages", description=__doc__)
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve from")
    p.add_argument("--record-before", metavar="WHAT", help="store as the before column, "
                   "described as WHAT (e.g. 'main at af51465, 2026-12-02')")
    a = p.parse_args(argv)
    figures = run(root=a.root)
    if a.record_before:
        BEFORE.write_text(json.dumps({**figures, "what": a.record_before}, indent=1) + "\n")
    text = (section(figures, None if a.record_before else before())
            + chain_section(figures["chain"]))
    if not a.record_before:
        OUTPUT.write_text("# W2 and the 100,000-node chain over HTTP\n\nWritten by `python -m "
                          "bench.http_stages` (`make bench` puts the same sections in "
                          "RESULTS.md).\n" + text)
    print(text)


if __name__ == "__main__":
    main()
