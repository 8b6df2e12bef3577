"""What the container (cgroup) grants this process: CPUs and memory.

A container sees the host's CPU count and RAM through ``os.cpu_count()`` and ``sysconf``,
but the kernel enforces its cgroup's CPU quota and memory limit: sizing workers, BLAS
threads and memory caps from the host oversubscribes a pod and invites the OOM killer.
cgroup v2 (``cpu.max``, ``memory.max``) is read first, then v1 (``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``, ``memory.limit_in_bytes``). ``root`` is a parameter so tests can
point it at fake cgroup files.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
# cgroup v1 reports "no limit" as a huge page-aligned number, not as a word
_V1_UNLIMITED = 1 << 60


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_quota(root: Path | None = None) -> float | None:
    """CPUs the cgroup may use (quota / period), or None when it is not limited."""
    root = root or CGROUP
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota == "max" or not period:
            return None
        return int(quota) / int(period)
    for v1 in (root / "cpu", root / "cpu,cpuacct", root):
        quota_text, period_text = _read(v1 / "cpu.cfs_quota_us"), _read(v1 / "cpu.cfs_period_us")
        if quota_text is not None and period_text is not None:
            quota = int(quota_text)
            return None if quota <= 0 else quota / int(period_text)
    return None


def affinity_cpus() -> int:
    """CPUs this process may be scheduled on (taskset, cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def cpu_count(root: Path | None = None) -> int:
    """Whole CPUs available: the affinity set, capped by the cgroup quota (rounded up, so
    a 1.5-CPU pod runs two workers rather than starving one)."""
    cpus = affinity_cpus()
    quota = cpu_quota(root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus


def host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_limit(root: Path | None = None) -> int | None:
    """The cgroup's memory limit in bytes, or None when it is not limited."""
    root = root or CGROUP
    for name in ("memory.max", "memory/memory.limit_in_bytes", "memory.limit_in_bytes"):
        text = _read(root / name)
        if text is None:
            continue
        if text == "max" or int(text) >= _V1_UNLIMITED:
            return None
        return int(text)
    return None


def memory_bytes(root: Path | None = None) -> int:
    """Memory this process may use: the host's RAM, capped by the cgroup limit."""
    limit = memory_limit(root)
    host = host_memory_bytes()
    return host if limit is None else min(host, limit)


def blas_threads(workers: int, root: Path | None = None) -> int:
    """BLAS threads per worker: its share of the CPUs, at least one."""
    return max(1, cpu_count(root) // max(1, workers))
