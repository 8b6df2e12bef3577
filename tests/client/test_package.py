"""The client is a light distribution of its own: httpx and numpy, never the server."""
from __future__ import annotations

import subprocess
import sys
import tomllib

from ..service.helpers import REPO


def test_depends_on_httpx_and_numpy_only() -> None:
    meta = tomllib.loads((REPO / "client" / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0] for d in meta["dependencies"]) == ["httpx", "numpy"]


def test_importing_it_loads_no_server_code() -> None:
    code = ("import sys, gradserve; bad = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'engine', 'service', 'fastapi', 'pydantic', 'starlette', 'orjson'}); "
            "print(gradserve.__file__); assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd="/", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(str(REPO / "client" / "gradserve"))
