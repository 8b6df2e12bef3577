"""What the figures were measured on: machine, load, versions, BLAS and thread settings."""
from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .peers import version

PEER_MODULES = ("torch", "jax", "jaxlib", "autograd", "fastapi", "uvicorn", "orjson")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def blas() -> str:
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name')} {info.get('version')}"
    except Exception:
        return "unknown"


def blas_kernel() -> str:
    """The core kernel numpy's OpenBLAS runs (what OPENBLAS_CORETYPE would force)."""
    try:
        from threadpoolctl import threadpool_info

        found = [i.get("architecture") for i in threadpool_info()
                 if i.get("internal_api") == "openblas"]
        return ", ".join(str(a) for a in found) or "not OpenBLAS"
    except Exception:
        return "unknown (threadpoolctl missing)"


def tool_version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else "?"


def torch_threads() -> str:
    try:
        import torch

        return str(torch.get_num_threads())
    except Exception:
        return "n/a"


def snapshot() -> dict[str, Any]:
    mem = memory_gib()
    versions = {m: version(m)[0] or "missing" for m in PEER_MODULES}
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "memory": f"{mem:.1f} GiB" if mem else "unknown",
        "os": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "blas": blas(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "OpenBLAS overrides the machine set": os.environ.get(
            "GRADSERVE_BENCH_MACHINE_OPENBLAS", "(not asked)"),
        "OpenBLAS kernel": blas_kernel(),
        "torch threads": torch_threads(),
        "wrk": tool_version(["wrk", "--version"]) or "missing",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        **versions,
    }
