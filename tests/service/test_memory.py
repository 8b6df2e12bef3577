"""A request that needs more memory than a worker may use gets 503; the worker lives on."""
from __future__ import annotations

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings, memory_cap_bytes

HUGE = {"graph": {"nodes": [
    {"name": "x", "op": "placeholder", "shape": [1], "dtype": "float64"},
    {"name": "b", "op": "broadcast_to", "inputs": ["x"], "attrs": {"shape": [12000, 12000]}},
    {"name": "y", "op": "exp", "inputs": ["b"]},
    {"name": "s", "op": "sum", "inputs": ["y"]}]},
    "feeds": {"x": [0.5]}, "ys": "s", "xs": "x"}
SMALL = {"graph": {"nodes": [HUGE["graph"]["nodes"][0],
                             {"name": "s", "op": "exp", "inputs": ["x"]}]},
         "feeds": {"x": [0.5]}, "ys": "s", "xs": "x"}


def test_out_of_memory_is_a_503_and_the_worker_goes_on() -> None:
    settings = Settings(workers=1, worker_memory_mb=700, max_elements=10**9)
    with TestClient(create_app(settings)) as client:
        r = client.post("/gradients", json=HUGE)  # exp of 144M float64 = 1.15 GB > 700 MiB
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        pid = client.get("/readyz").json()
        assert client.post("/gradients", json=SMALL).status_code == 200
        assert client.get("/readyz").json() == pid  # the same worker answered


def test_the_default_cap_shares_most_of_the_memory() -> None:
    one, two = memory_cap_bytes(Settings(workers=1)), memory_cap_bytes(Settings(workers=2))
    assert 0 < two < one
    assert memory_cap_bytes(Settings(worker_memory_mb=512)) == 512 * 2**20
