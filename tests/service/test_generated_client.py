"""A client generated from openapi/openapi.json by openapi-python-client works: every
compute operation of the endpoint table is generated with no warning, and calling a real
server through it gives each example's documented answer; a returned graph read into
the generated models and written back is the graph the server sent (op nodes keep their
op and inputs) and computes the same gradients when posted again."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from service.endpoints import ENDPOINTS, Endpoint
from service.openapi import DEFAULT_PATH

from .helpers import Server

PACKAGE = "gradserve_generated"
OPENAPI = json.loads(DEFAULT_PATH.read_text())


def _generator_or_skip() -> None:
    if importlib.util.find_spec("openapi_python_client") is None:
        why = "openapi-python-client is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; CI must run the generator test")
        pytest.skip(why)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package openapi-python-client makes of the committed schema, imported."""
    _generator_or_skip()
    out = tmp_path_factory.mktemp("generated")
    config = out / "config.json"
    config.write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(DEFAULT_PATH),
         "--meta", "none", "--config", str(config), "--output-path", str(out / PACKAGE)],
        capture_output=True, text=True, timeout=300)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said
    assert not re.search(r"warning|error|skipp|will not be generated", said, re.I), said
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "1")
    yield s
    s.stop()


def _snake(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_").lower()


def _operation(package: ModuleType, endpoint: Endpoint) -> tuple[ModuleType, type, type]:
    """The generated module of ``POST endpoint.path`` and its request and answer models."""
    op = OPENAPI["paths"][endpoint.path]["post"]
    module = importlib.import_module(
        f"{PACKAGE}.api.{_snake(op['tags'][0])}.{_snake(op['operationId'])}")
    models = importlib.import_module(f"{PACKAGE}.models")
    request = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return (module, getattr(models, request.rsplit("/", 1)[-1]),
            getattr(models, answer.rsplit("/", 1)[-1]))


def _call(package: ModuleType, server: Server, endpoint: Endpoint, body: dict[str, Any]) -> Any:
    """POST ``body`` through the generated client (read into its request model first)."""
    module, request, answer = _operation(package, endpoint)
    with package.Client(base_url=server.url, raise_on_unexpected_status=True,
                        timeout=httpx.Timeout(60.0)) as client:
        r = module.sync_detailed(client=client, body=request.from_dict(body))
    assert r.status_code == 200, r.content
    assert isinstance(r.parsed, answer), r.parsed
    return r.parsed


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.path)
def test_every_operation_answers_its_example_through_the_generated_client(
        endpoint: Endpoint, generated: ModuleType, server: Server) -> None:
    assert endpoint.answer is not None, f"give {endpoint.path}'s Endpoint its example's answer="
    assert _call(generated, server, endpoint, endpoint.example).to_dict() == endpoint.answer


def _graph_field(endpoint: Endpoint) -> str:
    """The request field that holds the graph (graph, network, ...)."""
    schema = OPENAPI["components"]["schemas"][endpoint.request.__name__]
    return next(k for k, p in schema["properties"].items()
                if "#/components/schemas/GraphSpec" in json.dumps(p))


GRAPH_RETURNING = [e for e in ENDPOINTS if "return_graph" in e.request.model_fields]


@pytest.mark.parametrize("endpoint", GRAPH_RETURNING, ids=lambda e: e.path)
def test_a_returned_graph_round_trips_through_the_generated_models(
        endpoint: Endpoint, generated: ModuleType, server: Server) -> None:
    body = {**endpoint.example, "return_graph": True}
    sent = httpx.post(f"{server.url}{endpoint.path}", json=body, timeout=60).json()
    parsed = _call(generated, server, endpoint, body)
    assert parsed.to_dict() == sent
    nodes = sent["graph"]["nodes"]
    assert any("inputs" in n for n in nodes) and any("value" in n for n in nodes)
    for model, wire in zip(parsed.graph.nodes, nodes, strict=True):
        assert model.op == wire["op"]
        assert (model.to_dict().get("inputs"), model.to_dict().get("value")) == (
            wire.get("inputs"), wire.get("value")), wire["name"]
    # The graph as the generated models write it computes what the original does.
    again = {**body, _graph_field(endpoint): parsed.graph.to_dict(), "return_graph": False}
    assert _call(generated, server, endpoint, again).to_dict() == endpoint.answer
