"""The model repository over HTTP (API.md section 8): real server processes, httpx."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from .helpers import REPO, Server, free_port, slow_request

EXAMPLES = REPO / "examples" / "models"
SEED_ARGS = [[[0.5, 0.6, 0.4], [1.2, 1.3, 1.1]],
             [[0.01, 0.3, 1.1], [0.1, 0.2, 1.3], [2.1, 1.2, 3.3]]]
X = [[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 1.0]]
PROBLEM = "application/problem+json"


def _graph(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name / "graph.json").read_text())


PAIR = {"nodes": [{"name": "a", "op": "placeholder", "shape": [None]},
                  {"name": "b", "op": "placeholder", "shape": [None]},
                  {"name": "s", "op": "add", "inputs": ["a", "b"]}],
        "inputs": ["a", "b"], "outputs": ["s"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shipped examples plus ``pair``, whose shapes only meet once fed."""
    repo = tmp_path_factory.mktemp("models")
    shutil.copytree(EXAMPLES, repo, dirs_exist_ok=True)
    (repo / "pair").mkdir()
    (repo / "pair" / "graph.json").write_text(json.dumps(PAIR))
    s = Server("--workers", "2", "--model-repository", str(repo))
    yield s
    s.stop()


def _post(server: Server, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=60)


def test_models_are_listed_with_their_signatures(server: Server) -> None:
    listed = httpx.get(f"{server.url}/models").json()
    assert [m["name"] for m in listed] == ["mlp", "onnx-mlp", "pair", "seed"]
    seed = httpx.get(f"{server.url}/models/seed").json()
    assert seed == next(m for m in listed if m["name"] == "seed")
    assert seed["source"] == "graph.json" and len(seed["version"]) == 16
    assert seed["inputs"] == [{"name": "x", "shape": [2, 3], "dtype": "float32"},
                              {"name": "y", "shape": [3, 3], "dtype": "float32"}]
    assert seed["outputs"] == [{"name": "out", "shape": [2, 3], "dtype": "float32"}]
    mlp = next(m for m in listed if m["name"] == "mlp")
    assert mlp["inputs"][0]["shape"] == [None, 4]
    assert [v["name"] for v in mlp["variables"]] == ["W1", "b1", "W2", "b2"]


def _onnx_mlp() -> tuple[np.ndarray, ...]:
    """The example ONNX MLP's weights, read with the onnx package."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(EXAMPLES / "onnx-mlp" / "model.onnx")
    weights = {t.name: numpy_helper.to_array(t).astype(np.float64)
               for t in model.graph.initializer}
    return tuple(weights[k] for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))


def test_an_onnx_model_answers_by_name(server: Server) -> None:
    """The repository's model.onnx: listed from its ONNX signature, its forward equal to
    onnxruntime's, its gradients to the MLP's by hand (float64 numpy)."""
    info = httpx.get(f"{server.url}/models/onnx-mlp").json()
    assert info["source"] == "model.onnx"
    assert info["inputs"] == [{"name": "input", "shape": [None, 4], "dtype": "float32"}]
    assert info["outputs"] == [{"name": "output", "shape": [None, 3], "dtype": "float32"}]
    r = _post(server, "/gradients", {"model": "onnx-mlp", "feeds": {"input": X},
                                     "ys": "output", "xs": ["input", "fc1.weight"],
                                     "return_values": True})
    assert r.status_code == 200, r.text
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(EXAMPLES / "onnx-mlp" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"input": np.asarray(X, np.float32)})
    np.testing.assert_allclose(r.json()["values"]["output"], want, rtol=1e-5, atol=1e-6)
    w1, b1, w2, _ = _onnx_mlp()
    x = np.asarray(X, np.float64)
    a = np.tanh(x @ w1.T + b1)
    da = np.ones((len(x), 3)) @ w2 * (1 - a**2)  # d sum(output) / d pre-activation
    got_x, got_w1 = r.json()["gradients"]
    np.testing.assert_allclose(got_x, da @ w1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_w1, da.T @ x, rtol=1e-5, atol=1e-6)


def test_unknown_model_is_404_problem(server: Server) -> None:
    r = httpx.get(f"{server.url}/models/nope")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["loc"] == ["path", "name"]
    for path, body in (("/gradients", {"model": "nope", "ys": "y", "xs": "x"}),
                       ("/grad-operation", {"model": "nope", "args": []})):
        r = _post(server, path, body)
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["errors"] == [{"loc": ["body", "model"], "msg": "unknown model"}]


def test_gradients_by_model_name_equal_the_inline_graph(server: Server) -> None:
    request = {"feeds": {"x": X}, "ys": "y", "xs": ["W1", "b1", "W2", "b2", "x"],
               "return_values": True}
    by_name = _post(server, "/gradients", {"model": "mlp", **request})
    inline = _post(server, "/gradients", {"graph": _graph("mlp"), **request})
    assert by_name.status_code == inline.status_code == 200, by_name.text
    assert by_name.json() == inline.json()
    # and the answer is the MLP's: d sum(y) / d b2 is the batch size, per output
    np.testing.assert_allclose(by_name.json()["gradients"][3], [2.0, 2.0, 2.0])


def test_grad_operation_by_model_name_equals_the_inline_network(server: Server) -> None:
    for flags in ({}, {"get_all": True}, {"get_by_list": True}):
        by_name = _post(server, "/grad-operation", {"model": "seed", "args": SEED_ARGS,
                                                     **flags})
        inline = _post(server, "/grad-operation", {"network": _graph("seed"),
                                                    "args": SEED_ARGS, **flags})
        assert by_name.status_code == 200, by_name.text
        assert by_name.json() == inline.json()
    got = _post(server, "/grad-operation", {"model": "seed", "args": SEED_ARGS}).json()
    np.testing.assert_allclose(got["gradients"], [[1.41, 1.6, 6.6]] * 2, rtol=1e-6)


def test_model_and_graph_together_or_neither_is_422(server: Server) -> None:
    both = _post(server, "/grad-operation", {"model": "seed", "network": _graph("seed"),
                                              "args": SEED_ARGS})
    assert both.status_code == 422 and both.json()["errors"][0]["loc"] == ["body", "model"]
    neither = _post(server, "/gradients", {"ys": "y", "xs": "x"})
    assert neither.status_code == 422
    assert neither.json()["errors"][0]["loc"] == ["body", "graph"]
    wrong_type = _post(server, "/gradients", {"model": 3, "ys": "y", "xs": "x"})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["loc"] == ["body", "model"]


def test_a_graph_fault_inside_a_model_points_at_the_model(server: Server) -> None:
    feeds = {"feeds": {"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}, "ys": "s", "xs": "a"}
    by_name = _post(server, "/gradients", {"model": "pair", **feeds})
    inline = _post(server, "/gradients", {"graph": PAIR, **feeds})
    assert by_name.status_code == inline.status_code == 422, by_name.text
    assert by_name.json()["errors"][0]["loc"] == ["body", "model", "nodes", 2]
    assert inline.json()["errors"][0]["loc"] == ["body", "graph", "nodes", 2]
    assert by_name.json()["node"] == "s"
    args = _post(server, "/grad-operation", {"model": "pair",
                                             "args": [[1.0, 2.0], [1.0, 2.0, 3.0]]})
    assert args.json()["errors"][0]["loc"] == ["body", "model", "nodes", 2]
    # a feed that does not fit is the feed's fault, as with an inline graph
    r = _post(server, "/gradients", {"model": "mlp", "feeds": {"x": [[1.0, 2.0, 3.0]]},
                                     "ys": "y", "xs": "W1"})
    assert r.json()["errors"][0]["loc"] == ["body", "feeds", "x"]


def test_model_changes_are_refused_without_the_flag(server: Server) -> None:
    put = httpx.put(f"{server.url}/models/sq", json=_square(2.0))
    assert put.status_code == 403 and put.headers["content-type"] == PROBLEM
    delete = httpx.delete(f"{server.url}/models/seed")
    assert delete.status_code == 403
    assert httpx.get(f"{server.url}/models/seed").status_code == 200


def _square(scale: float) -> dict[str, Any]:
    """y = scale * x^2: its gradient 2 * scale * x says which version answered."""
    return {"nodes": [{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float32"},
                      {"name": "k", "op": "constant", "value": scale},
                      {"name": "x2", "op": "square", "inputs": ["x"]},
                      {"name": "y", "op": "mul", "inputs": ["x2", "k"]}],
            "inputs": ["x"], "outputs": ["y"]}


def _slow_model() -> dict[str, Any]:
    graph = slow_request(size=300, depth=12)["graph"]
    return {**graph, "inputs": [], "outputs": ["loss"]}


def _many(server: Server, body: dict[str, Any], n: int = 6) -> list[httpx.Response]:
    """``n`` requests at once: the slow model keeps a worker busy, so both take some."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: _post(server, "/gradients", body), range(n)))


def test_put_and_delete_are_seen_by_every_worker() -> None:
    s = Server("--workers", "2", "--allow-model-upload")
    try:
        assert httpx.get(f"{s.url}/models").json() == []
        slow = httpx.put(f"{s.url}/models/slow", json=_slow_model(), timeout=60)
        assert slow.status_code == 201, slow.text
        answers = _many(s, {"model": "slow", "ys": "loss", "xs": "w"})
        assert [r.status_code for r in answers] == [200] * 6
        assert len({r.content for r in answers}) == 1

        for scale, status in ((1.0, 201), (3.0, 200)):  # created, then replaced
            put = httpx.put(f"{s.url}/models/sq", json=_square(scale))
            assert put.status_code == status, put.text
            for r in _many(s, {"model": "sq", "feeds": {"x": [1.0, 2.0]}, "ys": "y",
                               "xs": "x"}) + _many(s, {"model": "slow", "ys": "loss",
                                                        "xs": "w"}, 2):
                assert r.status_code == 200, r.text
            got = _post(s, "/gradients", {"model": "sq", "feeds": {"x": [1.0, 2.0]},
                                          "ys": "y", "xs": "x"}).json()["gradients"]
            assert got == [[2 * scale, 4 * scale]]
        versions = {m["name"]: m["version"] for m in httpx.get(f"{s.url}/models").json()}
        assert set(versions) == {"slow", "sq"}

        # a replacement worker starts with the models as they are now
        os.kill(s.workers()[0]["pid"], signal.SIGKILL)
        time.sleep(0.5)
        s.wait_ready()
        for r in _many(s, {"model": "sq", "feeds": {"x": [1.0, 2.0]}, "ys": "y",
                           "xs": "x"}):
            assert r.json() == {"gradients": [[6.0, 12.0]]}

        assert httpx.delete(f"{s.url}/models/sq").status_code == 204
        assert httpx.delete(f"{s.url}/models/sq").status_code == 404
        gone = _many(s, {"model": "sq", "feeds": {"x": [1.0, 2.0]}, "ys": "y", "xs": "x"})
        assert [r.status_code for r in gone] == [404] * 6
        assert [m["name"] for m in httpx.get(f"{s.url}/models").json()] == ["slow"]

        onnx_bytes = (EXAMPLES / "onnx-mlp" / "model.onnx").read_bytes()
        put = httpx.put(f"{s.url}/models/uploaded", content=onnx_bytes,
                        headers={"content-type": "application/onnx"})
        assert put.status_code == 201 and put.json()["source"] == "model.onnx", put.text
        for r in _many(s, {"model": "uploaded", "feeds": {"input": X}, "ys": "output",
                           "xs": "fc2.bias"}):
            assert r.json() == {"gradients": [[2.0, 2.0, 2.0]]}
    finally:
        s.stop()


def test_a_bad_upload_is_refused_and_changes_nothing() -> None:
    s = Server("--workers", "1", "--allow-model-upload")
    try:
        bad = _square(1.0)
        bad["nodes"][2]["op"] = "no_such_op"
        r = httpx.put(f"{s.url}/models/bad", json=bad)
        assert r.status_code == 422 and r.json()["node"] == "x2"
        assert r.json()["errors"][0]["loc"] == ["body", "nodes", 2, "op"]
        r = httpx.put(f"{s.url}/models/bad", content=b"{", headers={
            "content-type": "application/json"})
        assert r.status_code == 422
        r = httpx.put(f"{s.url}/models/bad", content=b"x", headers={
            "content-type": "text/plain"})
        assert r.status_code == 415
        for media in ("application/onnx", "application/octet-stream"):
            r = httpx.put(f"{s.url}/models/bad", content=b"not a protobuf",
                          headers={"content-type": media})
            assert r.status_code == 422 and "protobuf" in r.json()["detail"], r.text
        assert httpx.get(f"{s.url}/models").json() == []
    finally:
        s.stop()


def _start_fails(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service", "--port", str(free_port()),
                           "--workers", "1", "--model-repository", str(repo)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("kind", "content", "says"), [
    ("graph.json", '{"nodes": [{"name": "x", "op": "placeholder", "shape": [2]}, {"name": '
     '"y", "op": "no_such_op", "inputs": ["x"]}], "inputs": ["x"], "outputs": ["y"]}',
     "no_such_op"),
    ("graph.json", '{"nodes": [', "not valid JSON"),
    ("graph.json", '{"nodes": [{"name": "x", "op": "placeholder", "shape": [2]}]}',
     "'inputs'"),
    ("model.onnx", "not a protobuf", "protobuf"),
])
def test_a_model_that_does_not_load_stops_the_start(tmp_path: Path, kind: str, content: str,
                                                      says: str) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "graph.json").write_text(json.dumps(_square(1.0)))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / kind).write_text(content)
    done = _start_fails(tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(tmp_path / "broken" / kind) in lines[0] and says in lines[0]


def test_a_missing_repository_stops_the_start(tmp_path: Path) -> None:
    done = _start_fails(tmp_path / "absent")
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_an_uploaded_onnx_loop_answers_and_a_refused_one_names_its_node() -> None:
    """An ONNX Loop with a scan output (a while_loop over HTTP): the values equal
    onnxruntime's, the gradients the engine's in process, also those of the gradient
    graph returned as ONNX (two Loops) run in onnxruntime; a Loop whose scan outputs have
    no static length is a 422 naming the ONNX node."""
    ort = pytest.importorskip("onnxruntime")
    import onnxio
    from engine import Graph, compute_gradients

    from ..onnxio.test_ops import _PASS_ON, _STOP_AT, _loop_model

    model = _loop_model(_PASS_ON, True, np.int64(4))
    x = np.asarray([0.5, -0.25, 1.0], np.float32)
    s = Server("--workers", "1", "--allow-model-upload")
    try:
        put = httpx.put(f"{s.url}/models/loop", content=model,
                        headers={"content-type": "application/onnx"})
        assert put.status_code == 201, put.text
        r = _post(s, "/gradients", {"model": "loop", "feeds": {"x": x.tolist()},
                                    "ys": ["hN", "ys"], "xs": ["x", "w"],
                                    "return_values": True})
        assert r.status_code == 200, r.text
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        for name, want in zip(["hN", "ys"], session.run(None, {"x": x})):
            np.testing.assert_allclose(r.json()["values"][name], want, rtol=1e-5, atol=1e-6)
        graph = Graph.from_description(onnxio.to_description(model))
        want = compute_gradients(graph, {"x": x}, ["hN", "ys"], ["x", "w"]).gradients
        for got, w in zip(r.json()["gradients"], want):
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
        back = _post(s, "/gradients", {"model": "loop", "feeds": {"x": x.tolist()},
                                       "ys": ["hN", "ys"], "xs": ["x", "w"],
                                       "return_graph": True, "graph_format": "onnx"})
        assert back.status_code == 200, back.text
        exported = base64.b64decode(back.json()["graph"]["onnx"])
        session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
        answers = session.run(None, {"x": x})[2:]  # the ys, then the gradients
        assert len(answers) == len(want) == 2
        for got, w in zip(answers, want):
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
        bad = httpx.put(f"{s.url}/models/bad", content=_loop_model(_STOP_AT, True,
                                                                   np.int64(4)),
                        headers={"content-type": "application/onnx"})
        assert bad.status_code == 422 and bad.json()["node"] == "the_loop", bad.text
        assert "Loop" in bad.json()["detail"]
    finally:
        s.stop()


def _fed_axes_model() -> str:
    """ReduceSum(x, axes) * x with ``axes`` a graph input, fed at run time, as ONNX's own
    node tests feed it (the engine needs it known at import: the import binds it)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
         helper.make_node("Mul", ["s", "x"], ["y"])], "fed_axes",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 3]),
         helper.make_tensor_value_info("axes", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return base64.b64encode(model.SerializeToString()).decode()


def test_an_onnx_input_read_as_axes_is_bound_to_each_requests_feed(server: Server) -> None:
    """Two requests feeding different axes get each its own graph (not the first one's
    from the cache), both equal to numpy's; one feeding none is a 422 naming the node."""
    graph = {"onnx": _fed_axes_model()}
    x = np.arange(6.0).reshape(2, 3) - 2.0
    for axes in (0, 1, 0):
        r = _post(server, "/gradients", {"graph": graph, "ys": ["y"], "xs": ["x"],
                                         "feeds": {"x": x.tolist(), "axes": [axes]},
                                         "return_values": True})
        assert r.status_code == 200, r.text
        s = x.sum(axis=axes, keepdims=True)
        np.testing.assert_allclose(r.json()["values"]["y"], s * x)
        # d sum(s * x) / dx = s directly, plus s again through s (each x in its sum)
        np.testing.assert_allclose(r.json()["gradients"][0], np.broadcast_to(2 * s, x.shape))
    r = _post(server, "/gradients", {"graph": graph, "ys": ["y"], "xs": ["x"],
                                     "feeds": {"x": x.tolist()}})
    assert r.status_code == 422, r.text
    assert "ReduceSum" in r.text and "axes" in r.text
    r = _post(server, "/gradients", {"graph": graph, "ys": ["y"], "xs": ["x"],
                                     "feeds": {"x": x.tolist(), "axes": [0, 1]}})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "feeds", "axes"], r.text
