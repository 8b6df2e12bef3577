"""nginx (deploy/nginx.conf) in front of three real replicas on loopback, under a bounded
mixed load, with one replica SIGKILLed and restarted mid-run: the client sees no failed
answer, and every answer is byte for byte what a single server answers.

Runs in ``make test`` (about 30 s); nginx is the Debian package, run in the foreground
from a temporary prefix, never as a system service.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bench.answers import same_answer

from ..case_files import V1_FILES, iter_cases
from ..service.helpers import REPO, Server, free_port, wait_for_200

NGINX_CONF = REPO / "deploy" / "nginx.conf"
LOAD_SECONDS = 20.0
CONNECTIONS = 32
KILL_AT, RESTART_AT = 6.0, 9.0
pytestmark = pytest.mark.replicas


def _requests() -> list[tuple[str, bytes]]:
    return [(case["endpoint"], json.dumps(case["request"]).encode())
            for case in iter_cases(*V1_FILES)
            if case["endpoint"] in ("/gradients", "/grad-operation")]


def nginx_config(replica_ports: list[int], listen: int, prefix: Path) -> str:
    """deploy/nginx.conf with loopback replicas, a loopback port and files under
    ``prefix``; every proxy directive is the deployed one."""
    conf = NGINX_CONF.read_text()
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n"
                      for p in replica_ports)
    conf, n = re.subn(r"(upstream gradserve \{\n)(?:.*\n)*?(\s*keepalive)",
                      lambda m: m.group(1) + servers + m.group(2), conf)
    assert n == 1, "deploy/nginx.conf has no upstream gradserve block"
    conf, n = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen};", conf)
    assert n == 1
    temp = "".join(f"    {kind}_temp_path {prefix / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = conf.replace("http {\n", "http {\n" + temp, 1)
    return "worker_processes 2;\n" + conf.replace("worker_processes auto;\n", "")


class Nginx:
    def __init__(self, replica_ports: list[int]):
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                           else None)
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("nginx is required in CI (.ci/run installs it)")
            pytest.skip("nginx is not installed (apt-get install -y nginx)")
        self.dir = Path(tempfile.mkdtemp(prefix="gradserve-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.dir / "nginx.conf").write_text(nginx_config(replica_ports, self.port, self.dir))
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e",
             str(self.dir / "error.log"), "-g",
             f"daemon off; pid {self.dir / 'nginx.pid'};"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_200(self.proc, f"{self.url}/healthz", 20, self.errors)

    def errors(self) -> str:
        path = self.dir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


async def _load(url: str, requests: list[tuple[str, bytes]], expected: list[tuple[int, bytes]],
                replicas: list[Server]) -> tuple[Counter[str], list[str]]:
    """CONNECTIONS clients posting the requests in turn for LOAD_SECONDS; replica 1 is
    SIGKILLed at KILL_AT and started again on its port at RESTART_AT."""
    seen: Counter[str] = Counter()
    faults: list[str] = []
    start = time.monotonic()
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)

    async def client(k: int, http: httpx.AsyncClient) -> None:
        i = k
        while time.monotonic() - start < LOAD_SECONDS:
            path, body = requests[i % len(requests)]
            want = expected[i % len(requests)]
            i += CONNECTIONS
            try:
                r = await http.post(path, content=body,
                                    headers={"content-type": "application/json"})
            except httpx.HTTPError as exc:
                faults.append(f"{path}: {type(exc).__name__} {exc}")
                continue
            if not same_answer((r.status_code, r.content), want):
                faults.append(f"{path}: {r.status_code} {r.content[:200]!r}")
            seen[str(r.status_code)] += 1

    async def chaos() -> None:
        await asyncio.sleep(KILL_AT)
        victim = replicas[1]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        seen["killed"] += 1
        await asyncio.sleep(RESTART_AT - KILL_AT)
        replicas[1] = await asyncio.to_thread(Server, "--workers", "1", port=victim.port)
        seen["restarted"] += 1

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        await asyncio.gather(chaos(), *(client(k, http) for k in range(CONNECTIONS)))
    return seen, faults


def test_replicas_behind_nginx_survive_a_kill() -> None:
    requests = _requests()
    assert len(requests) >= 20
    replicas: list[Server] = []
    nginx = None
    try:
        replicas = [Server("--workers", "1") for _ in range(3)]
        single = replicas[0].url
        expected = []
        with httpx.Client(base_url=single, timeout=60) as http:
            for path, body in requests:
                r = http.post(path, content=body, headers={"content-type": "application/json"})
                expected.append((r.status_code, r.content))
        assert sum(status == 200 for status, _ in expected) >= len(requests) // 2
        nginx = Nginx([s.port for s in replicas])
        seen, faults = asyncio.run(_load(nginx.url, requests, expected, replicas))
        assert seen["killed"] == seen["restarted"] == 1
        answered = seen["200"] + seen["422"]
        assert answered > 200, seen
        assert faults == [], (len(faults), faults[:5], nginx.errors()[-2000:])
        metrics = httpx.get(f"{replicas[1].url}/metrics", timeout=5).text
        assert re.search(r'gradserve_requests_total\{endpoint="/grad(ients|-operation)",'
                         r'status="200"\} [1-9]', metrics), "the restarted replica got no work"
    finally:
        if nginx is not None:
            nginx.stop()
        for s in replicas:
            s.stop()
