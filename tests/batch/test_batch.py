"""``python -m service.batch`` on a local Ray cluster: per-example gradients of a small MLP
from .npz (a vmap axis), JSONL and Parquet feeds, checked against the closed-form gradient
and against the single-process engine."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import engine
from bench.batch_bench import mlp_data, mlp_graph, single_process
from service.batch.examples import BatchError, build_graph, default_names, per_example_loop
from service.settings import Settings

from ..service.helpers import REPO

if os.environ.get("CI") == "true":
    import ray  # in CI the ray extra is installed (make test): never skip there
else:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")

N = 48
XS = ["w1", "b1", "w2", "b2"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    from service.batch.job import init

    init(None, workers=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def mlp() -> tuple[dict, engine.Graph, dict[str, np.ndarray]]:
    raw = mlp_graph(4, 5)
    return raw, build_graph(raw, Settings(workers=1)), mlp_data(N, seed=3, inputs=4)


def _closed_form(graph: engine.Graph, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """dL/dw2 = h^T 2(y - t) and dL/db2 = 2(y - t), per example, from the forward values."""
    w2, b2 = [], []
    for x, t in zip(data["x"], data["t"], strict=True):
        h, y = engine.run(graph, ["h", "y"], {"x": x, "t": t})
        w2.append(h.T @ (2 * (y - t)))
        b2.append(2 * (y - t))
    return {"w2": np.stack(w2), "b2": np.stack(b2)}


def _run(spec_args: dict, out: Path) -> dict[str, np.ndarray]:
    from service.batch.job import JobSpec, dataset, write

    spec = JobSpec(**spec_args)
    assert write(dataset(spec), spec, str(out)) == N
    with np.load(out) as got:
        return {k: got[k] for k in got.files}


def test_npz_vmap_axis_on_two_actors(cluster: None, mlp, tmp_path: Path) -> None:
    raw, graph, data = mlp
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, x=np.moveaxis(data["x"], 0, 1), t=np.moveaxis(data["t"], 0, 1))
    got = _run(dict(graph=raw, ys=["loss"], xs=XS, feeds=str(feeds), axis=1, batch_size=10,
                    workers=2), tmp_path / "out.npz")
    assert got["w1"].shape == (N, 4, 5) and got["b2"].shape == (N, 1, 1)
    exact = _closed_form(graph, data)
    for x in ("w2", "b2"):
        np.testing.assert_allclose(got[x], exact[x], rtol=1e-5, atol=1e-6)
    reference = single_process(graph, data, XS)
    looped = per_example_loop(graph, data, N, ["loss"], XS)  # one plan run per example
    for x in XS:
        np.testing.assert_allclose(got[x], reference[x], rtol=1e-6)
        np.testing.assert_allclose(got[x], looped[x], rtol=1e-5, atol=1e-6)
    assert not np.allclose(got["w1"][0], got["w1"][1])  # per example, not a batch sum


def test_jsonl_feeds(cluster: None, mlp, tmp_path: Path) -> None:
    raw, graph, data = mlp
    feeds = tmp_path / "feeds.jsonl"
    feeds.write_text("".join(json.dumps({"x": x.tolist(), "t": t.tolist()}) + "\n"
                             for x, t in zip(data["x"], data["t"], strict=True)))
    got = _run(dict(graph=raw, ys=["loss"], xs=XS, feeds=str(feeds), batch_size=7),
               tmp_path / "out.npz")
    reference = single_process(graph, data, XS)
    for x in XS:
        np.testing.assert_allclose(got[x], reference[x], rtol=1e-6)


def test_a_bad_feed_set_names_itself(cluster: None, mlp, tmp_path: Path) -> None:
    raw, _, _ = mlp
    feeds = tmp_path / "bad.jsonl"
    feeds.write_text(json.dumps({"x": [[1, 2, 3]], "t": [[0]]}) + "\n")
    with pytest.raises(Exception) as caught:
        _run(dict(graph=raw, ys=["loss"], xs=XS, feeds=str(feeds)), tmp_path / "o.npz")
    assert "does not fit" in str(caught.value) or "shape" in str(caught.value)
    with pytest.raises(BatchError, match="not a node"):
        build_graph({"nodes": [{"name": "y", "op": "tanh", "inputs": ["nope"]}]},
                    Settings(workers=1))


def test_the_command_line_with_parquet(mlp, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    raw, graph, data = mlp
    (tmp_path / "mlp.json").write_text(json.dumps(raw))
    table = pa.table({"x": [x.tolist() for x in data["x"]], "t": [t.tolist() for t in data["t"]]})
    pq.write_table(table, tmp_path / "feeds.parquet")
    r = subprocess.run([sys.executable, "-m", "service.batch", "--graph",
                        str(tmp_path / "mlp.json"), "--feeds", str(tmp_path / "feeds.parquet"),
                        "--out", str(tmp_path / "grads"), "--batch-size", "8",
                        "--workers", "2"],  # six batches on two actors, back in order
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{N} examples" in r.stderr
    got = pq.read_table(tmp_path / "grads").to_pydict()
    _, xs = default_names(raw, graph)
    assert sorted(got) == sorted(xs) == sorted(XS)
    reference = single_process(graph, data, XS)
    for x in XS:
        column = np.array(got[x], dtype=np.float32)  # Ray's tensor columns, row-major
        np.testing.assert_allclose(column.reshape(reference[x].shape), reference[x], rtol=1e-6)
