"""The outer shell through a real server: 415, CORS, deep nesting, API keys, request ids,
structured logs, start-up warnings and the command line."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .helpers import REPO, Server, seed_cases

KEYS = ("first-secret-key", "second-secret-key")
DIGESTS = ",".join(hashlib.sha256(k.encode()).hexdigest() for k in KEYS)


@pytest.fixture(scope="module")
def plain() -> Iterator[Server]:
    s = Server("--workers", "1", "--request-log",
               env={"GRADSERVE_MAX_BODYBYTES": "10", "GRADSERVE_NOT_A_THING": "1"})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def guarded() -> Iterator[Server]:
    s = Server("--workers", "1", "--request-log", "--access-log", "--api-key-hashes", DIGESTS,
               "--cors-origins", "https://app.example, https://other.example")
    yield s
    s.stop()


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return r.json()


def _tf() -> dict[str, Any]:
    return seed_cases()[1]["request"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_non_json_bodies_are_415(plain: Server, content_type: str) -> None:
    headers = {"content-type": content_type}
    body = json.dumps(_tf()).encode()
    for path in ("/gradients", "/grad-operation"):
        doc = _problem(httpx.post(plain.url + path, content=body, headers=headers), 415)
        assert doc["type"].endswith("unsupported-media-type")
        assert doc["errors"][0]["loc"] == ["header", "content-type"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/vnd.grad+json", None])
def test_json_bodies_are_computed(plain: Server, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}  # none: read as JSON
    r = httpx.post(f"{plain.url}/gradients", content=json.dumps(_tf()).encode(),
                   headers=headers)
    assert r.status_code == 200, r.text


def test_no_cors_unless_configured(plain: Server) -> None:
    r = httpx.post(f"{plain.url}/gradients", json=_tf(), headers={"origin": "https://evil.example"})
    assert r.status_code == 200
    assert not any(h.startswith("access-control-") for h in r.headers)
    r = httpx.options(f"{plain.url}/gradients", headers={
        "origin": "https://evil.example", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_allow_list(guarded: Server) -> None:
    pre = {"access-control-request-method": "POST",
           "access-control-request-headers": "content-type, authorization"}
    r = httpx.options(f"{guarded.url}/gradients", headers={"origin": "https://app.example", **pre})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = httpx.options(f"{guarded.url}/gradients", headers={"origin": "https://evil.example", **pre})
    assert r.headers.get("access-control-allow-origin") != "https://evil.example"
    r = httpx.post(f"{guarded.url}/gradients", json=_tf(), headers={
        "origin": "https://other.example", "authorization": f"Bearer {KEYS[0]}"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://other.example"
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()


def _deep(levels: int) -> str:
    return "[" * levels + "1.0" + "]" * levels


def _graph_body(constant: str, attrs: str = "{}") -> bytes:
    return (f'{{"graph": {{"nodes": [{{"name": "c", "op": "constant", "value": {constant}}},'
            f'{{"name": "x", "op": "placeholder", "shape": [], "dtype": "float32"}},'
            f'{{"name": "y", "op": "mul", "inputs": ["x", "c"], "attrs": {attrs}}}]}},'
            f'"feeds": {{"x": 1.0}}, "ys": "y", "xs": "x"}}').encode()


@pytest.mark.parametrize("levels", [40, 300, 1000])
def test_a_deep_constant_is_422(plain: Server, levels: int) -> None:
    r = httpx.post(f"{plain.url}/gradients", content=_graph_body(_deep(levels)),
                   headers={"content-type": "application/json"})
    doc = _problem(r, 422)
    assert doc["errors"][0]["loc"][:5] == ["body", "graph", "nodes", 0, "value"]
    assert "levels deep" in doc["detail"]


def test_deep_attrs_and_feeds_are_422(plain: Server) -> None:
    r = httpx.post(f"{plain.url}/gradients", content=_graph_body("2.0", f'{{"a": {_deep(900)}}}'),
                   headers={"content-type": "application/json"})
    assert _problem(r, 422)["errors"][0]["loc"][:6] == ["body", "graph", "nodes", 2, "attrs", "a"]
    body = _graph_body("2.0").replace(b'"x": 1.0', f'"x": {_deep(1000)}'.encode())
    r = httpx.post(f"{plain.url}/gradients", content=body,
                   headers={"content-type": "application/json"})
    assert _problem(r, 422)["errors"][0]["loc"][:3] == ["body", "feeds", "x"]
    assert httpx.post(f"{plain.url}/gradients", json=_tf()).status_code == 200


def test_api_keys(guarded: Server) -> None:
    url = f"{guarded.url}/gradients"
    doc = _problem(httpx.post(url, json=_tf()), 401)
    assert doc["type"].endswith("unauthorized")
    r = httpx.post(url, json=_tf(), headers={"authorization": "Bearer not-a-key"})
    _problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.post(url, json=_tf(), headers={"authorization": f"Bearer {KEYS[0]}"}
                      ).status_code == 200
    assert httpx.post(url, json=_tf(), headers={"x-api-key": KEYS[1]}).status_code == 200
    # the key check comes before the body rule: no key, no hint about what is accepted
    _problem(httpx.post(url, content=b"x", headers={"content-type": "text/plain"}), 401)
    _problem(httpx.get(f"{guarded.url}/metrics"), 401)
    assert httpx.get(f"{guarded.url}/healthz").status_code == 200
    assert httpx.get(f"{guarded.url}/readyz").status_code == 200
    assert KEYS[0] not in guarded.output() and KEYS[1] not in guarded.output()


def test_api_key_hashes_must_be_digests() -> None:
    r = subprocess.run([sys.executable, "-m", "service", "--api-key-hashes", "plain-key"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "64 hex digits" in r.stderr


def test_request_ids_are_echoed_and_logged(plain: Server) -> None:
    r = httpx.post(f"{plain.url}/gradients", json=_tf(), headers={"x-request-id": "trace-42.a"})
    assert r.headers["x-request-id"] == "trace-42.a"
    made = httpx.get(f"{plain.url}/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    bad = httpx.get(f"{plain.url}/healthz", headers={"x-request-id": "no spaces\tplease"})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])
    _problem(httpx.post(f"{plain.url}/gradients", content=b"x",
                        headers={"content-type": "text/plain"}), 415)
    lines = [json.loads(ln) for ln in plain.output().splitlines() if ln.startswith("{")]
    by_id = {ln["request_id"]: ln for ln in lines}
    assert by_id["trace-42.a"]["method"] == "POST"
    assert by_id["trace-42.a"]["path"] == "/gradients"
    assert by_id["trace-42.a"]["status"] == 200
    assert by_id["trace-42.a"]["duration_ms"] > 0
    assert by_id[made]["path"] == "/healthz"
    assert any(ln["status"] == 415 for ln in lines)


def test_unknown_variables_warn_at_start(plain: Server) -> None:
    out = plain.output()
    assert "GRADSERVE_MAX_BODYBYTES is not a Gradserve setting" in out
    assert "did you mean GRADSERVE_MAX_BODY_BYTES?" in out
    assert "GRADSERVE_NOT_A_THING is not a Gradserve setting" in out


def test_access_log_is_a_flag(guarded: Server) -> None:
    httpx.get(f"{guarded.url}/healthz")
    assert '"GET /healthz HTTP/1.1" 200' in guarded.output()


def test_help_has_one_default_per_flag() -> None:
    r = subprocess.run([sys.executable, "-m", "service", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0
    options = re.split(r"\n\s+(?=--)", r.stdout)
    for option in options[1:]:
        assert option.lower().count("default") <= 1, option
    assert "--access-log, --no-access-log" in r.stdout
