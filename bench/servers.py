"""Start, wait for and stop the HTTP servers under test, each in its own process group.

Only loopback: every server binds 127.0.0.1 on a free port found by binding port 0.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_seconds(pgid: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of every live process in process group ``pgid``:
    a server and the workers it started (they inherit its group)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            out[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except OSError:
        return False


def start(name: str, argv: Sequence[str], port: int, health_path: str, log_dir: Path,
          env: dict[str, str] | None = None, wait_s: float = 60.0,
          cwd: Path = ROOT) -> Server:
    """Start ``argv`` (which must listen on ``port``) and wait until ``health_path``
    answers 2xx; raises RuntimeError with the log's tail when it does not."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name.replace(' ', '_')}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(argv), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                start_new_session=True)
    server = Server(name, proc, port, log)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if answers(f"{server.base}{health_path}"):
            return server
        time.sleep(0.2)
    server.stop()
    tail = log.read_text(errors="replace")[-600:]
    raise RuntimeError(f"{name} did not answer {health_path} within {wait_s:.0f} s: {tail}")


def uvicorn_argv(app: str, port: int) -> list[str]:
    """Plain uvicorn, one process, run as ``python -m service`` runs it: auto loop and
    HTTP parser (uvloop, httptools) and no access log (the service's default)."""
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log"]
