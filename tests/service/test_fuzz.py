"""Mutated acceptance requests: whatever a client sends, the answer is a 2xx or a
problem+json 4xx naming a path, never a 500, and the server keeps serving."""
from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

from ..case_files import V1_FILES, V2_FILES, iter_cases

ODD_VALUES: list[Any] = [None, True, -1, 0, 2**40, 1.5, "NaN", "x", "", [], {}, [[1], [2, 3]],
                         {"dtype": "float32", "shape": [2], "data": [1]},
                         {"dtype": "int32", "shape": [1], "b64": "!!"}, [None], ["a", 1]]


def _requests(paths: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every recorded request whose endpoint the app serves (a v2 request to a v1
    endpoint stays in: its unknown fields must be a 422)."""
    return [(case["endpoint"], case["request"]) for case in iter_cases(*V1_FILES, *V2_FILES)
            if case["endpoint"] in paths]


def _places(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path inside a JSON document (not too deep into tensors)."""
    yield prefix
    if len(prefix) > 6:
        return
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _places(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):
            yield from _places(v, (*prefix, i))


def _mutate(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    path = rng.choice([p for p in _places(doc) if p])
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if rng.random() < 0.25 and isinstance(parent, dict):
        del parent[last]
    else:
        parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
    return doc


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(workers=1, max_elements=10_000))) as c:
        yield c


def test_mutated_requests_never_crash_the_server(client: TestClient) -> None:
    rng = random.Random(20261126)
    requests = _requests(client.app.openapi()["paths"])
    statuses: dict[int, int] = {}
    for _ in range(400):
        endpoint, body = rng.choice(requests)
        mutated = _mutate(body, rng)
        r = client.post(endpoint, json=mutated)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code in (200, 413, 422), (r.status_code, r.text[:300], mutated)
        assert "Traceback" not in r.text
        if r.status_code != 200:
            assert r.headers["content-type"] == "application/problem+json"
            problem = r.json()
            assert problem["errors"] and problem["errors"][0]["loc"][0] == "body", problem
    assert statuses.get(422, 0) > 100 and statuses.get(200, 0) > 10, statuses
    seed = requests[0]
    assert client.post(seed[0], json=seed[1]).status_code == 200
