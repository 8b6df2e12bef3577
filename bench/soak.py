"""``python -m bench.soak``: a 60 s soak of one server (``make bench`` runs it).

Mixed requests (every acceptance case of the endpoints served so far, in turn) at 64
keep-alive connections for ``--duration`` seconds. It passes when no answer differs from
what the same server answered before the soak (status and bytes) and the server's memory
(resident set of the server and its workers, from /proc) grows less than 5% from the end
of a warm-up (half the run by default: a worker grows once, by ~100 MB, when its first
fused kernel imports numba, which may land 10 s in) to the end; the resident set every
10 s is written beside the verdict, so a step and a slope can be told apart. Writes
bench/SOAK.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .answers import same_answer

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"  # the repo's copy of the acceptance cases
CASE_FILES = ("seed_examples", "semantics_tf", "semantics_ms", "ops_sample")  # v1's
JSON = {"content-type": "application/json"}


def requests() -> list[tuple[str, bytes]]:
    out = []
    for name in CASE_FILES:
        path = CASES / f"{name}.json"
        if path.exists():
            out += [(c["endpoint"], json.dumps(c["request"]).encode())
                    for c in json.loads(path.read_text())
                    if c["endpoint"] in ("/gradients", "/grad-operation")]
    return out


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def server_pids(url: str, main: int) -> list[int]:
    workers = httpx.get(f"{url}/readyz", timeout=5).json()["workers"]
    return [main, *(w["pid"] for w in workers if w["pid"])]


async def soak(url: str, work: list[tuple[str, bytes]], expected: list[tuple[int, bytes]],
               connections: int, seconds: float, warmup: float, pids: list[int]
               ) -> dict[str, object]:
    answered, faults = 0, []
    rss: dict[str, int] = {}
    start = time.monotonic()

    async def client(k: int, http: httpx.AsyncClient) -> None:
        nonlocal answered
        i = k
        while time.monotonic() - start < seconds:
            path, body = work[i % len(work)]
            want = expected[i % len(work)]
            i += connections
            try:
                r = await http.post(path, content=body, headers=JSON)
                got = (r.status_code, r.content)
            except httpx.HTTPError as exc:
                got = (0, repr(exc).encode())
            if not same_answer(got, want):  # to float rounding: plans fuse when warm
                faults.append(f"{path}: {got[0]} {got[1][:120]!r}")
            answered += 1

    trace: list[tuple[float, int]] = []  # (seconds in, bytes) every 10 s

    async def sample() -> None:
        marks = sorted({*range(10, int(seconds), 10), warmup})
        for mark in marks:
            await asyncio.sleep(max(0.0, start + mark - time.monotonic()))
            trace.append((mark, rss_bytes(pids)))
            if mark == warmup:
                rss["after warm-up"] = trace[-1][1]
        await asyncio.sleep(max(0.0, start + seconds - 0.5 - time.monotonic()))
        rss["at the end"] = rss_bytes(pids)

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        await asyncio.gather(sample(), *(client(k, http) for k in range(connections)))
    growth = rss["at the end"] / rss["after warm-up"] - 1
    return {"answered": answered, "per_second": answered / seconds, "errors": len(faults),
            "first_errors": faults[:5], "rss_after_warmup_mib": rss["after warm-up"] / 2**20,
            "rss_at_end_mib": rss["at the end"] / 2**20, "rss_growth": growth,
            "rss_every_10s_mib": [round(b / 2**20, 1) for _, b in trace],
            "passed": not faults and growth < 0.05}


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the reference sample (default: half the run)")
    p.add_argument("--output", type=Path, default=ROOT / "bench" / "SOAK.md")
    a = p.parse_args()
    a.warmup = a.duration / 2 if a.warmup is None else a.warmup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "service", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        work = requests()
        with httpx.Client(base_url=url, timeout=60) as http:
            expected = [(r.status_code, r.content) for r in
                        (http.post(path, content=body, headers=JSON) for path, body in work)]
        result = asyncio.run(soak(url, work, expected, a.connections, a.duration, a.warmup,
                                  server_pids(url, proc.pid)))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    text = (f"# Soak\n\n{a.duration:g} s, {a.connections} connections, {len(work)} mixed "
            f"requests in turn: {result['answered']} answers ({result['per_second']:.0f}/s), "
            f"{result['errors']} errors, server RSS {result['rss_after_warmup_mib']:.1f} MiB "
            f"after {a.warmup:g} s -> {result['rss_at_end_mib']:.1f} MiB at the end "
            f"({result['rss_growth']:+.1%}): {'passed' if result['passed'] else 'FAILED'}.\n"
            f"\nServer RSS every 10 s (MiB): "
            f"{', '.join(f'{m:g}' for m in result['rss_every_10s_mib'])}.\n")
    a.output.write_text(text)
    print(text + json.dumps(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
