"""A real ``python -m service`` process for the client's tests, and a client on it."""
from __future__ import annotations

from collections.abc import Iterator

import gradserve as gs
import httpx
import pytest

from ..service.helpers import Server


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = Server("--workers", "2")
    yield s
    s.stop()


@pytest.fixture
def client(server: Server) -> Iterator[gs.Client]:
    with gs.Client(server.url, timeout=60) as c:
        yield c


def require_endpoint(server: Server, path: str) -> None:
    """Skip only while the server answers 404 for ``path`` (sections 6-9 are being built)."""
    if httpx.post(f"{server.url}{path}", json={}, timeout=30).status_code == 404:
        pytest.skip(f"endpoint not served yet: POST {path} answers 404")


def require_field(server: Server, path: str, name: str) -> None:
    """Skip only while ``path`` refuses the field ``name`` as unknown (422 at that loc)."""
    r = httpx.post(f"{server.url}{path}", json={name: None}, timeout=30)
    unknown = r.status_code == 422 and any(
        e.get("loc") == ["body", name] and "xtra" in e.get("msg", "")
        for e in r.json().get("errors", []))
    if unknown:
        pytest.skip(f"field not served yet: {path} refuses {name!r} as unknown")
