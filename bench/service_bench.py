"""The service under load, beside its baselines, driven from a separate process.

Each server runs in its own process group on 127.0.0.1 (free port); each request is first
sent once and its answer checked, then driven at 1, 8, 32 and 64 connections by wrk (or
the Python fallback), bounded in time (``DURATION_S``) and in count (``MAX_REQUESTS``).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import service_requests as req
from .servers import ROOT, Server, cpu_seconds, free_port, start, uvicorn_argv

CONNECTIONS = (1, 8, 32, 64)
DURATION_S = 3.0
BIG_DURATION_SCALE = 2.0  # 1M-element requests take ~0.1 s each: 64 of them need seconds
MAX_REQUESTS = 200_000  # a safety cap per run; never reached at these rates
PAIRED_REQUEST, PAIRED_CONNECTIONS, PAIRED_ROUNDS = "seed (W1)", 32, 3  # the targets' case
MODEL_ROWS = ("W2 model by name", "W2 graph inline")  # the same weights, named or sent
BENCH = Path(__file__).resolve().parent
TESSERACT_ENV = BENCH / ".peers" / "tesseract"
LOGS = BENCH / ".peers" / "logs"
TESSERACT_RUNS = BENCH / ".peers" / "tesseract-runs"


@dataclass
class Load:
    """One (server, request) driven at one connection count."""

    server: str
    request: str
    connections: int
    tool: str
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    errors: int | None = None
    requests: int | None = None
    note: str = ""


@dataclass
class Target:
    request: str
    path: str
    body: bytes | None
    check: Callable[[Any], str | None]  # the decoded answer -> None if right, else why
    duration_scale: float = 1.0  # slow requests get longer runs, so that some complete


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def drive(tool: str, url: str, body_file: Path | None, connections: int,
          duration: float = DURATION_S, max_requests: int = MAX_REQUESTS) -> dict[str, Any]:
    """One bounded load run from a separate process; its JSON results."""
    if tool == "wrk":
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
                "--timeout", "30s",
                "-s", str(BENCH / "wrk_post.lua"), url]
        env = {"WRK_MAX": str(max_requests)}
        if body_file is not None:
            env["WRK_BODY"] = str(body_file)
    else:
        argv = [sys.executable, "-m", "bench.loadgen", url, "--connections", str(connections),
                "--duration", str(duration), "--max-requests", str(max_requests)]
        env = {}
        if body_file is not None:
            argv += ["--body", str(body_file)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=duration + 90)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-300:]}")
    return json.loads(lines[-1])


def fetch(url: str, body: bytes | None) -> Any:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.loads(r.read())


def _close(got: Any, want: Any, what: str) -> str | None:
    try:
        ok = np.allclose(np.asarray(got, dtype=np.float64), np.asarray(want), rtol=1e-5)
    except (TypeError, ValueError) as exc:
        return f"{what}: unreadable answer ({exc})"
    return None if ok else f"{what}: wrong values {str(got)[:120]}"


def check_seed(answer: Any) -> str | None:
    return _close(answer.get("gradients"), req.SEED_EXPECTED, "seed")


def check_tesseract(answer: Any) -> str | None:
    return _close(answer["x"]["data"]["buffer"], req.SEED_EXPECTED, "tesseract seed")


def check_count(n: int) -> Callable[[Any], str | None]:
    def check(answer: Any) -> str | None:
        grads = answer.get("gradients") if isinstance(answer, dict) else None
        if not isinstance(grads, list) or len(grads) != n or any(g is None for g in grads):
            return f"expected {n} gradients, got {str(answer)[:160]}"
        return None

    return check


def model_targets() -> list[Target]:
    """W2 with real weights: registered (named per request) vs its graph sent inline."""
    return [Target(MODEL_ROWS[0], "/gradients", req.dumps(req.mlp_call(True)), check_count(4)),
            Target(MODEL_ROWS[1], "/gradients", req.dumps(req.mlp_call(False)),
                   check_count(4))]


def write_repository(tmp: Path) -> Path:
    """The model repository the Gradserve server is started with (the W2 model)."""
    folder = tmp / "models" / req.MLP_MODEL
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "graph.json").write_bytes(req.dumps(req.mlp_graph()))
    return tmp / "models"


def gradserve_argv(repository: Path) -> Callable[[int], list[str]]:
    return lambda p: [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port",
                      str(p), "--model-repository", str(repository)]


def gradserve_targets() -> list[Target]:
    return [
        Target("GET /healthz", "/healthz", None, lambda a: None),
        Target("seed (W1)", "/grad-operation", req.dumps(req.seed()), check_seed),
        Target("W2 MLP", "/gradients", req.dumps(req.mlp()), check_count(4)),
        *model_targets(),
        Target("1M nested", "/gradients", req.dumps(req.big("nested")), check_count(1),
               BIG_DURATION_SCALE),
        Target("1M base64", "/gradients", req.dumps(req.big("base64")), check_count(1),
               BIG_DURATION_SCALE),
    ]


def baseline_targets() -> list[Target]:
    return [Target("GET /healthz", "/healthz", None, lambda a: None),
            Target("seed (W1)", "/grad-operation", req.dumps(req.seed()), check_seed)]


def tesseract_targets() -> list[Target]:
    return [Target("GET /health", "/health", None, lambda a: None),
            Target("seed (W1)", "/vector_jacobian_product", req.dumps(req.tesseract_seed()),
                   check_tesseract)]


def tesseract_runtime(log: Callable[[str], Any], install_timeout: float = 240) -> tuple[
        Path | None, str]:
    """The tesseract-runtime of bench/.peers/tesseract, made on first use (its own venv, so
    that its pins never touch the project's); (None, why) when it cannot be had."""
    exe = TESSERACT_ENV / "bin" / "tesseract-runtime"
    if exe.exists():
        return exe, ""
    log("[service] installing tesseract-core[runtime] into bench/.peers/tesseract ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(TESSERACT_ENV)],
                       check=True, capture_output=True, timeout=120)
        done = subprocess.run([str(TESSERACT_ENV / "bin" / "pip"), "install", "-q",
                               "tesseract-core[runtime]", "numpy"], capture_output=True,
                              text=True, timeout=install_timeout)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not install tesseract-core[runtime]: {exc}"
    if done.returncode != 0 or not exe.exists():
        return None, f"pip install tesseract-core[runtime] failed: {done.stderr[-300:]}"
    return exe, ""


def _server_specs(log: Callable[[str], Any], tmp: Path) -> list[
        tuple[str, Any, str, list[Target], dict]]:
    """(name, argv maker or why missing, health path, targets, env) for each server."""
    specs: list[tuple[str, Any, str, list[Target], dict]] = []
    if (ROOT / "service" / "__main__.py").exists():
        specs.append(("Gradserve", gradserve_argv(write_repository(tmp)),
                      "/healthz", gradserve_targets(), {}))
    else:
        specs.append(("Gradserve", "missing: service/__main__.py does not exist", "/healthz",
                      gradserve_targets(), {}))
    specs.append(("hand-written FastAPI", lambda p: uvicorn_argv(
        "bench.handwritten_app:app", p), "/healthz", baseline_targets(), {}))
    exe, why = tesseract_runtime(log)
    if exe is None:
        specs.append(("Tesseract", f"missing: {why}", "/health", tesseract_targets(), {}))
    else:
        specs.append(("Tesseract", lambda p: [str(exe), "serve", "--host", "127.0.0.1",
                                              "--port", str(p)],
                      "/health", tesseract_targets(),
                      {"TESSERACT_API_PATH": str(BENCH / "tesseract_api.py"),
                       # Tesseract writes a run directory (logs, metrics) per request, as
                       # it does by default; keep them out of the checkout
                       "TESSERACT_OUTPUT_PATH": str(TESSERACT_RUNS)}))
    return specs


def run(log: Callable[[str], Any] = print, connections: tuple[int, ...] = CONNECTIONS,
        duration: float = DURATION_S) -> tuple[list[Load], dict[str, Any]]:
    """Every server, request and connection count; the target comparison in interleaved
    rounds; and the load tool's own ceiling. All servers stay up for the whole run (an idle
    server costs nothing), so that the rounds can alternate between them."""
    tool = load_tool()
    loads: list[Load] = []
    info: dict[str, Any] = {"tool": tool, "fallback_check": [], "paired": {}}
    ready: dict[str, dict[str, Ready]] = {}
    running: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="gradserve-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        for name, argv, health, targets, env in _server_specs(log, Path(tmp)):
            if isinstance(argv, str):
                loads += [Load(name, t.request, c, tool, note=argv) for t in targets
                          for c in connections]
                continue
            server = _start(name, argv, health, env, stack)
            if isinstance(server, str):
                loads += [Load(name, t.request, c, tool, note=server) for t in targets
                          for c in connections]
                continue
            running[name] = server
            ready[name] = _prepare(server, targets, Path(tmp), log)
            loads += _sweep(name, ready[name], tool, connections, duration, log)
            if name == "Gradserve":
                info["fallback_check"] = _fallback_check(server, tool, duration, log)
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in ready}
        info["paired"] = paired_rounds(ready, running, PAIRED_REQUEST, PAIRED_CONNECTIONS,
                                       tool, duration, log, cpu)
        info["paired_cpu"] = cpu
    shutil.rmtree(TESSERACT_RUNS, ignore_errors=True)
    return loads, info


def run_models(log: Callable[[str], Any] = print, connections: tuple[int, ...] = CONNECTIONS,
               duration: float = DURATION_S) -> list[Load]:
    """Only the model rows: one Gradserve server, the two requests alternating at each
    connection count (``python -m bench.service_bench``)."""
    tool = load_tool()
    with tempfile.TemporaryDirectory(prefix="gradserve-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        server = _start("Gradserve", gradserve_argv(write_repository(Path(tmp))), "/healthz",
                        {}, stack)
        if isinstance(server, str):
            return [Load("Gradserve", r, c, tool, note=server) for r in MODEL_ROWS
                    for c in connections]
        ready = _prepare(server, model_targets(), Path(tmp), log)
        loads = []
        for c in connections:
            loads += _sweep("Gradserve", ready, tool, (c,), duration, log)
        return loads


@dataclass
class Ready:
    """A checked request on a running server: where to send it, or why it cannot be."""

    target: Target
    url: str
    body_file: Path | None
    why: str | None


def _start(name: str, argv: Callable[[int], list[str]], health: str, env: dict[str, str],
           stack: contextlib.ExitStack) -> Server | str:
    port = free_port()
    cwd = ROOT
    if "TESSERACT_OUTPUT_PATH" in env:
        shutil.rmtree(TESSERACT_RUNS, ignore_errors=True)
        TESSERACT_RUNS.mkdir(parents=True)
        cwd = TESSERACT_RUNS
    try:
        return stack.enter_context(start(name, argv(port), port, health, LOGS, env=env,
                                         cwd=cwd))
    except RuntimeError as exc:
        return f"missing: {exc}"[:300]


def _prepare(server: Server, targets: list[Target], tmp: Path,
             log: Callable[[str], Any]) -> dict[str, Ready]:
    """Write each body to a file, send it a few times (warming every worker's caches) and
    check the answer."""
    out = {}
    for t in targets:
        url = server.base + t.path
        body_file = None
        if t.body is not None:
            body_file = tmp / f"{server.name}-{t.request}.json".replace(" ", "_").replace("/", "")
            body_file.write_bytes(t.body)
        try:
            for _ in range(3):
                why = t.check(fetch(url, t.body))
                if why:
                    break
        except Exception as exc:
            why = f"{type(exc).__name__}: {str(exc)[:200]}"
        if why:
            log(f"[service] {server.name} {t.request}: {why}")
        out[t.request] = Ready(t, url, body_file, why)
    return out


def _sweep(name: str, ready: dict[str, Ready], tool: str, connections: tuple[int, ...],
           duration: float, log: Callable[[str], Any]) -> list[Load]:
    out: list[Load] = []
    for request, r in ready.items():
        if r.why:
            out += [Load(name, request, c, tool, note=f"error: {r.why}") for c in connections]
            continue
        for c in connections:
            out.append(_one_load(name, request, tool, r.url, r.body_file, c,
                                 duration * r.target.duration_scale))
            log(_describe(out[-1]))
    return out


def paired_rounds(ready: dict[str, dict[str, Ready]], servers: dict[str, Server],
                  request: str, connections: int, tool: str, duration: float,
                  log: Callable[[str], Any], cpu: dict[str, list[tuple[float, float]]],
                  rounds: int = PAIRED_ROUNDS) -> dict[str, list[float]]:
    """req/s of ``request`` on every server, in ``rounds`` alternating runs (the order
    rotating each round), so that a busy spell on the shared machine hits all alike; and
    into ``cpu``, each run's CPU seconds per answer (main process, other processes)."""
    names = [n for n, r in ready.items() if request in r and not r[request].why]
    out: dict[str, list[float]] = {n: [] for n in names}
    for k in range(rounds):
        for name in names[k % len(names):] + names[:k % len(names)] if names else []:
            r = ready[name][request]
            pgid = servers[name].proc.pid
            before = cpu_seconds(pgid)
            load = _one_load(name, request, tool, r.url, r.body_file, connections, duration)
            after = cpu_seconds(pgid)
            if load.rps is not None:
                out[name].append(load.rps)
                if load.requests:
                    cpu[name].append(_cpu_per_request(before, after, pgid, load))
            log(f"[paired] round {k + 1}: " + _describe(load))
    return out


def _cpu_per_request(before: dict[int, float], after: dict[int, float], main: int,
                     load: Load) -> tuple[float, float]:
    """(the server's main process, all its other processes): CPU seconds per answer."""
    spent = {pid: t - before.get(pid, 0.0) for pid, t in after.items()}
    n = max(1, load.requests or 0)
    own = spent.pop(main, 0.0)
    return own / n, sum(spent.values()) / n


def drain(url: str, body_file: Path | None, wait_s: float = 120.0) -> None:
    """Wait until the server has finished what an earlier run left queued: a load tool
    stops at its deadline, but the server still works through the requests it accepted.
    One probe, queued behind them, is answered only when they are done (retried on 429)."""
    body = body_file.read_bytes() if body_file is not None else None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            fetch(url, body)
            return
        except urllib.error.HTTPError as exc:
            if exc.code != 429:
                return
        except OSError:
            return
        time.sleep(0.25)


def _one_load(server: str, request: str, tool: str, url: str, body_file: Path | None,
              connections: int, duration: float) -> Load:
    drain(url, body_file)
    try:
        r = drive(tool, url, body_file, connections, duration)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        return Load(server, request, connections, tool, note=f"error: {exc}"[:300])
    if not r["requests"]:
        return Load(server, request, connections, tool, 0.0, None, None, r["errors"], 0,
                    f"no request completed within {duration:.0f} s")
    return Load(server, request, connections, tool, r["rps"], r["p50"], r["p99"],
                r["errors"], r["requests"])


def _fallback_check(server: Server, tool: str, duration: float,
                    log: Callable[[str], Any]) -> list[Load]:
    """The Python load generator against /healthz next to wrk: how far its own ceiling is."""
    out = []
    tools = ["python"] + (["wrk"] if tool == "wrk" else [])
    for t in tools:
        for c in (32,):
            load = _one_load(server.name, "GET /healthz (tool check)", t,
                             server.base + "/healthz", None, c, duration)
            log(_describe(load))
            out.append(load)
    return out


def _describe(x: Load) -> str:
    if x.rps is None or x.p50 is None or x.p99 is None:
        return f"[service] {x.server} {x.request} c={x.connections}: {x.note}"
    return (f"[service] {x.server:22s} {x.request:26s} c={x.connections:<3d} {x.tool:6s} "
            f"{x.rps:9.1f} req/s  p50 {x.p50 * 1e3:8.2f} ms  p99 {x.p99 * 1e3:8.2f} ms  "
            f"errors {x.errors}")


if __name__ == "__main__":
    run_models()
