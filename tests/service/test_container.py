"""Container-aware defaults from fake cgroup files, and what a real server does with them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import container
from service.settings import Settings, memory_cap_bytes

from .helpers import REPO, Server

GIB = 2**30


def _cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return tmp_path


@pytest.mark.parametrize(("files", "quota"), [
    ({"cpu.max": "150000 100000"}, 1.5),
    ({"cpu.max": "max 100000"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2.0),
    ({"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 0.5),
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
    ({}, None),
])
def test_cpu_quota(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    assert container.cpu_quota(_cgroup(tmp_path, files)) == quota


def test_cpu_count_is_capped_by_the_quota(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "affinity_cpus", lambda: 64)
    assert container.cpu_count(_cgroup(tmp_path / "a", {"cpu.max": "150000 100000"})) == 2
    assert container.cpu_count(_cgroup(tmp_path / "b", {"cpu.max": "20000 100000"})) == 1
    assert container.cpu_count(_cgroup(tmp_path / "c", {"cpu.max": "max 100000"})) == 64
    monkeypatch.setattr(container, "affinity_cpus", lambda: 2)
    assert container.cpu_count(_cgroup(tmp_path / "d", {"cpu.max": "800000 100000"})) == 2


def test_workers_and_blas_threads_follow_the_cgroup(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "affinity_cpus", lambda: 64)
    monkeypatch.setattr(container, "CGROUP", _cgroup(tmp_path, {"cpu.max": "400000 100000"}))
    assert Settings().workers == 4
    assert container.blas_threads(4) == 1
    assert container.blas_threads(2) == 2
    assert container.blas_threads(8) == 1


@pytest.mark.parametrize(("files", "limit"), [
    ({"memory.max": str(2 * GIB)}, 2 * GIB),
    ({"memory.max": "max"}, None),
    ({"memory/memory.limit_in_bytes": str(GIB)}, GIB),
    ({"memory/memory.limit_in_bytes": "9223372036854771712"}, None),  # v1's "unlimited"
    ({}, None),
])
def test_memory_limit(tmp_path: Path, files: dict[str, str], limit: int | None) -> None:
    assert container.memory_limit(_cgroup(tmp_path, files)) == limit


def test_memory_cap_is_a_share_of_the_cgroup_limit(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "host_memory_bytes", lambda: 64 * GIB)
    monkeypatch.setattr(container, "CGROUP", _cgroup(tmp_path, {"memory.max": str(4 * GIB)}))
    assert memory_cap_bytes(Settings(workers=2)) == int(4 * GIB * 0.8 / 2)
    assert memory_cap_bytes(Settings(workers=2, worker_memory_mb=100)) == 100 * 2**20
    (tmp_path / "memory.max").write_text("max\n")
    assert memory_cap_bytes(Settings(workers=4)) == int(64 * GIB * 0.8 / 4)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
@pytest.mark.parametrize(("flags", "threads"), [
    (("--workers", "2"), str(container.blas_threads(2))),
    (("--workers", "1", "--blas-threads", "3"), "3"),
])
def test_workers_get_their_share_of_blas_threads(flags: tuple[str, ...], threads: str) -> None:
    blas = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    s = Server(*flags, env=dict.fromkeys(blas))
    try:
        for worker in s.workers():
            seen = _environ(worker["pid"])
            assert [seen.get(name) for name in blas] == [threads] * 3
    finally:
        s.stop()


def test_healthcheck_probes_the_configured_port() -> None:
    s = Server("--workers", "1")
    try:
        probe = [sys.executable, "-m", "service.healthcheck"]
        ok = subprocess.run(probe, cwd=REPO, env={**os.environ, "GRADSERVE_PORT": str(s.port)},
                            capture_output=True, timeout=30)
        assert ok.returncode == 0
        wrong = subprocess.run(probe, cwd=REPO, capture_output=True, timeout=30,
                               env={**os.environ, "GRADSERVE_PORT": str(s.port + 1)})
        assert wrong.returncode == 1
    finally:
        s.stop()
