"""Shared request builders and a subprocess server for the service tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ..case_files import load

REPO = Path(__file__).resolve().parents[2]


def seed_cases() -> list[dict[str, Any]]:
    return load("seed_examples")


def slow_request(size: int = 600, depth: int = 40) -> dict[str, Any]:
    """A float64 matmul chain (with tanh to stay finite) whose gradient takes a while; the
    weights come from an initializer, so the body stays tiny."""
    nodes: list[dict[str, Any]] = [{"name": "w", "op": "variable", "shape": [size, size],
                                    "dtype": "float64",
                                    "initializer": {"kind": "uniform", "seed": 1,
                                                    "minval": -0.05, "maxval": 0.05}}]
    prev = "w"
    for i in range(depth):
        nodes.append({"name": f"m{i}", "op": "matmul", "inputs": [prev, "w"]})
        nodes.append({"name": f"t{i}", "op": "tanh", "inputs": [f"m{i}"]})
        prev = f"t{i}"
    nodes.append({"name": "loss", "op": "sum", "inputs": [prev]})
    return {"graph": {"nodes": nodes}, "ys": "loss", "xs": "w"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_200(proc: subprocess.Popen[bytes], url: str, timeout: float,
                 output: Callable[[], str]) -> None:
    """Poll ``url`` until it answers 200; fail with ``output()`` if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: {output()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


class Server:
    """``python -m service`` as a real subprocess on a free port."""

    def __init__(self, *flags: str, env: dict[str, str | None] | None = None,
                 port: int | None = None):
        """``env`` is added to this process's environment (None removes a variable)."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        changed = {"PYTHONUNBUFFERED": "1", **(env or {})}
        environ = {k: v for k, v in {**os.environ, **changed}.items() if v is not None}
        # a file, not a pipe: a chatty server never blocks on a full pipe
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(self.port), *flags],
            cwd=REPO, env=environ, stdout=self._log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_for_200(self.proc, f"{self.url}/readyz", timeout, self.output)

    def workers(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/readyz", timeout=5).json()["workers"]

    def output(self) -> str:
        """Everything the server has printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode
