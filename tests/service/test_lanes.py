"""The shared-memory lanes between the parent and a worker (service/lanes.py), in process:
a body that fits its lane with an answer that does not, and an ended worker's mapping
let go."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.lanes import ANSWER_BYTES, BODY_BYTES
from service.pool import _Process
from service.settings import Settings

MAPS = Path("/proc/self/maps")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(workers=1))) as c:
        yield c


def _jacobian_of_square(n: int) -> tuple[bytes, np.ndarray]:
    """The body asking for d(x * x)/dx at n points, and its answer, diag(2 x): n floats
    in, n * n numbers out."""
    x = np.random.default_rng(n).uniform(0.1, 0.9, n)
    body = {"graph": {"nodes": [
        {"name": "x", "op": "placeholder", "shape": [n], "dtype": "float64"},
        {"name": "y", "op": "mul", "inputs": ["x", "x"]}]},
        "feeds": {"x": x.tolist()}, "inputs": ["x"], "outputs": ["y"]}
    return orjson.dumps(body), np.diag(2 * x)


def test_a_body_that_fits_its_lane_with_an_answer_that_does_not(client: TestClient) -> None:
    """The answer goes back through the pipe while the body came through the lane: each
    request gets its own answer, big ones at both parities (so in both lanes) and small
    ones after them (whose answers are in the lanes again)."""
    for n in (3, 1000, 1001, 4, 1000, 5):
        body, expected = _jacobian_of_square(n)
        r = client.post("/jacobian", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text[:300]
        assert len(body) <= BODY_BYTES
        if n >= 1000:
            assert len(r.content) > ANSWER_BYTES  # past the lane: the fallback was taken
        np.testing.assert_allclose(r.json()["jacobian"]["y"]["x"], expected, rtol=1e-15)


def _lane_mappings() -> int:
    return sum("gradserve-lanes" in line for line in MAPS.read_text().splitlines())


@pytest.mark.skipif(not MAPS.exists() or not hasattr(os, "memfd_create"),
                    reason="needs Linux's memfd and /proc/self/maps")
def test_an_ended_worker_leaves_no_lane_mapping_behind() -> None:
    """``end`` (a restart, a drain's stop) unmaps the worker's lanes (3 MiB a worker) then
    and there, not whenever the last reference to its ``_Process`` goes: a failed start's
    traceback holds one until a cyclic collection."""
    before = _lane_mappings()
    process = _Process(Settings(workers=1).model_dump(), 0)
    try:
        process.wait_ready(60)
        assert _lane_mappings() == before + 1
    finally:
        process.end(grace=5.0)
    assert not process.proc.is_alive()
    assert _lane_mappings() == before


@pytest.mark.skipif(not MAPS.exists() or not hasattr(os, "memfd_create"),
                    reason="needs Linux's memfd and /proc/self/maps")
def test_a_worker_that_cannot_start_leaves_no_lane_mapping_behind(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A start that fails (fork refused: out of memory, a process limit) has no _Process
    to end: its lanes are unmapped where it fails, not when its traceback goes (the
    pool's executor future holds one until a cyclic collection)."""
    import multiprocessing.context

    def refused(self: object) -> None:
        raise OSError("fork refused")

    monkeypatch.setattr(multiprocessing.context.ForkServerProcess, "start", refused)
    before = _lane_mappings()
    with pytest.raises(OSError, match="fork refused") as failed:
        _Process(Settings(workers=1).model_dump(), 0)
    assert _lane_mappings() == before  # while the traceback (the half-made one) lives on
    assert failed.traceback
