"""The README's Python example, run verbatim against a real server: it prints what the
README says it prints and draws its picture."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..service.helpers import REPO, Server

README = (REPO / "README.md").read_text()


def _example() -> tuple[str, str]:
    section = README[README.index("## Python"):README.index("## curl")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = re.search(r"prints\n```text\n(.*?)```", section, re.S).group(1)
    return code, printed


@pytest.mark.skipif(shutil.which("dot") is None and os.environ.get("CI") != "true",
                    reason="the example draws an SVG: Graphviz's dot is not installed")
def test_readme_example_prints_its_output(server: Server, tmp_path: Path) -> None:
    code, printed = _example()
    assert "http://127.0.0.1:8000" in code
    (tmp_path / "docs").mkdir()
    r = subprocess.run([sys.executable, "-c", code.replace("http://127.0.0.1:8000",
                                                           server.url)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == printed
    svg = (tmp_path / "docs" / "mlp-gradients.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "cluster_gradients" in svg
    committed = (REPO / "docs" / "mlp-gradients.svg").read_text()
    assert "cluster_gradients" in committed and "= d/d w" in committed
