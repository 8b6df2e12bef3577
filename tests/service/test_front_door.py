"""The front door ``serving.serve`` runs: compute requests straight to the shell and the
compute front, all else to the app; an unexpected failure is still a problem+json 500."""
from __future__ import annotations

import asyncio
from typing import Any

import orjson

from service.app import create_app
from service.front import FrontDoor
from service.settings import Settings


class _FailingPool:
    async def submit(self, *args: Any) -> Any:
        raise RuntimeError("a bug")


def _call(door: FrontDoor, path: str) -> list[dict[str, Any]]:
    """One POST through ``door``; the messages it sends."""
    scope = {"type": "http", "method": "POST", "path": path, "headers": [
        (b"content-type", b"application/json")], "query_string": b"", "root_path": "",
        "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1)}
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(door(scope, receive, send))
    return sent


def test_a_compute_request_passes_the_shell_and_a_crash_is_a_problem() -> None:
    app = create_app(Settings(workers=1))
    app.state.pool = _FailingPool()
    start, body = _call(FrontDoor(app), "/gradients")
    assert start["status"] == 500
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert len(headers[b"x-request-id"]) == 32  # the shell's id
    assert orjson.loads(body["body"])["type"].endswith(":internal")


def test_other_paths_go_to_the_app() -> None:
    app = create_app(Settings(workers=1))
    start, _ = _call(FrontDoor(app), "/no-such-path")
    assert start["status"] == 404
    assert b"x-request-id" in dict(start["headers"])
