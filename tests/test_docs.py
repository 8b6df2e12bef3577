"""The docs in ``docs/`` and the README stay true: their generated tables match the code
(the op registry, the settings), every served operation is documented, every link
resolves inside the repo, and every ``curl`` example answers what the page prints."""
from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.ops import registry
from service.app import create_app
from service.settings import Settings

from .case_files import REPO

DOCS = REPO / "docs"
PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
# a curl example: the path, the body in single quotes, then (after a line such as
# "prints") the answer in a json block
EXAMPLE = re.compile(r"```sh\ncurl -s http://127\.0\.0\.1:8000(/\S*)((?: -H '[^']*')*)"
                     r"(?: -d '([^']*)')?\n```\n(?:[^`\n]*\n)?```json\n(.*?)\n```", re.S)


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_tables_match_the_code() -> None:
    assert _generator().stale() == [], "run `make docs`"


def test_every_registered_op_is_in_the_catalogue() -> None:
    text = (DOCS / "ops.md").read_text()
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, re.M))
    assert {op.name for op in registry.all_ops()} <= rows


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    for name in Settings.model_fields:
        assert f"`--{name.replace('_', '-')}` | `GRADSERVE_{name.upper()}`" in text


def test_every_served_operation_is_documented() -> None:
    text = (DOCS / "api.md").read_text()
    paths = create_app(Settings(workers=1)).openapi()["paths"]
    for path, item in paths.items():
        for method in item:
            assert f"{method.upper()} {path}" in text, f"{method.upper()} {path}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve_and_nothing_points_outside_the_repo(page: Path) -> None:
    text = page.read_text()
    assert "../shared" not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{page.name} links {target}"


def _examples() -> list[Any]:
    return [pytest.param(path, body, answer, id=f"{page.name}-{i}-{path}")
            for page in PAGES
            for i, (path, _, body, answer) in enumerate(EXAMPLE.findall(page.read_text()))]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The app as ``make serve`` runs it: with the example model repository."""
    settings = Settings(workers=1, model_repository=str(REPO / "examples" / "models"))
    with TestClient(create_app(settings)) as c:
        yield c


def test_every_curl_example_of_the_wire_format_is_checked() -> None:
    text = (DOCS / "api.md").read_text()
    assert len(EXAMPLE.findall(text)) == text.count("```sh\ncurl") > 0
    assert any(e.id.startswith("README.md") for e in _examples())


@pytest.mark.parametrize(("path", "body", "answer"), _examples())
def test_example_answers_as_printed(client: TestClient, path: str, body: str,
                                    answer: str) -> None:
    r = client.post(path, content=body) if body else client.get(path)
    expected = json.loads(answer)
    status = expected.get("status") if isinstance(expected, dict) else None
    status = status if isinstance(status, int) else 200  # a problem names its status
    assert r.status_code == status, r.text
    assert _same(r.json(), expected), (r.json(), expected)


def _same(got: Any, printed: Any) -> bool:
    """Equal, floats to float32's last bits: BLAS may sum in another order on another
    machine, and most answers are float32."""
    if isinstance(printed, float) and isinstance(got, (int, float)):
        return abs(got - printed) <= 1e-6 * max(1.0, abs(printed))
    if isinstance(printed, dict) and isinstance(got, dict):
        return got.keys() == printed.keys() and all(_same(got[k], printed[k]) for k in got)
    if isinstance(printed, list) and isinstance(got, list):
        return len(got) == len(printed) and all(map(_same, got, printed))
    return bool(got == printed)
