"""A Python load generator, the fallback when wrk is not installed.

Run as its own process (``python -m bench.loadgen ...``): N keep-alive HTTP/1.1
connections on one event loop (uvloop when present), each sending the same request back
to back, until a time or a request count is reached; prints one JSON line of results.
It speaks just enough HTTP for a Content-Length answer, so that it costs little per
request; its own ceiling is measured against /healthz in the same run, and it is reported
next to wrk's when both exist.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    sent: int = 0


def request_bytes(method: str, host: str, port: int, path: str, body: bytes) -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Connection: keep-alive\r\n")
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode("ascii") + b"\r\n" + body


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def _connection(host: str, port: int, raw: bytes, tally: Tally, deadline: float,
                      budget: list[int]) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 26)
    except OSError:
        tally.errors += 1
        return
    clock = time.perf_counter
    try:
        while budget[0] > 0 and clock() < deadline:
            budget[0] -= 1
            t0 = clock()
            writer.write(raw)
            tally.sent += 1
            status = await _read_answer(reader)
            tally.latencies.append(clock() - t0)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        tally.errors += 1
    finally:
        writer.close()


async def drive(url: str, body: bytes, connections: int, duration: float,
                max_requests: int, method: str = "POST") -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = request_bytes(method, host, port, parts.path or "/", body)
    tally = Tally()
    budget = [max_requests]
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(*(_connection(host, port, raw, tally, deadline, budget)
                           for _ in range(connections)))
    elapsed = time.perf_counter() - start
    lat = sorted(tally.latencies)

    def pct(q: float) -> float | None:
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

    non_2xx = sum(n for s, n in tally.statuses.items() if not 200 <= s < 300)
    ok = len(lat) - non_2xx  # a fast refusal (429) is not throughput
    return {"requests": len(lat), "seconds": elapsed, "rps": ok / elapsed,
            "p50": pct(0.50), "p99": pct(0.99), "errors": tally.errors + non_2xx,
            "statuses": {str(k): v for k, v in tally.statuses.items()}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url")
    p.add_argument("--body", help="file whose bytes are POSTed; GET when absent")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--max-requests", type=int, default=200_000)
    a = p.parse_args(argv)
    body = Path(a.body).read_bytes() if a.body else b""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(drive(a.url, body, a.connections, a.duration, a.max_requests,
                               "POST" if a.body else "GET"))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
