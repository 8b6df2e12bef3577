"""Models as Tesseracts, through tesseract-core's own client against a real server: each
endpoint equals the engine's functional transforms on the same model (both encodings);
ONNX graphs over HTTP: the public /gradients cases, the exported gradient graph run in
onnxruntime, a bad model named."""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from tesseract_core import Tesseract

import engine
from service.graph_cache import build_graph

from ..case_files import load
from .helpers import REPO, Server

EXAMPLES = REPO / "examples" / "models"
X = np.array([[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 1.0]], dtype=np.float32)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "1", "--model-repository", str(EXAMPLES))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def mlp() -> engine.Graph:
    return build_graph(json.loads((EXAMPLES / "mlp" / "graph.json").read_text()), [],
                       10**6, 10**8)


@pytest.mark.parametrize("fmt", [None, "json+base64"])
def test_every_endpoint_equals_the_engine(server: Server, mlp: engine.Graph,
                                          fmt: str | None) -> None:
    t = Tesseract.from_url(f"{server.url}/models/mlp")
    if fmt:
        t = t.with_encoding(output_format=fmt)
    assert set(t.available_endpoints) >= {"apply", "jacobian", "jacobian_vector_product",
                                          "vector_jacobian_product", "abstract_eval"}
    feeds = {"x": X}
    w1 = np.full((4, 8), 0.1, np.float32)
    np.testing.assert_array_equal(t.apply({"x": X})["y"],
                                  engine.evaluate(mlp, feeds)["values"]["y"])
    fed = t.apply({"x": X, "W1": w1})["y"]  # a variable is an optional input
    np.testing.assert_array_equal(fed, engine.evaluate(mlp, {"x": X, "W1": w1})["values"]["y"])
    jac = t.jacobian({"x": X}, ["x", "b2"], ["y"])
    want = engine.jacobian(mlp, feeds, inputs=["x", "b2"], outputs=["y"])["jacobian"]
    for k in ("x", "b2"):
        np.testing.assert_allclose(jac["y"][k], want["y"][k], rtol=1e-6)
    v = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    jvp = t.jacobian_vector_product({"x": X}, ["x"], ["y"], {"x": v})
    np.testing.assert_allclose(jvp["y"], engine.jvp(mlp, feeds, {"x": v}, outputs=["y"])
                               ["tangents"]["y"], rtol=1e-6)
    g = np.ones((2, 3), np.float32)
    vjp = t.vector_jacobian_product({"x": X}, ["x", "W1"], ["y"], {"y": g})
    want = engine.vjp(mlp, feeds, {"y": g}, inputs=["x", "W1"])["cotangents"]
    for k in ("x", "W1"):
        np.testing.assert_allclose(vjp[k], want[k], rtol=1e-6)
    assert t.abstract_eval({"x": {"shape": [5, 4], "dtype": "float32"}}) == {
        "y": {"shape": [5, 3], "dtype": "float32"}}
    assert t.health() == {"status": "ok"}


def test_requests_the_model_cannot_take(server: Server) -> None:
    t = Tesseract.from_url(f"{server.url}/models/mlp")
    with pytest.raises(Exception, match=r"inputs\.nope"):
        t.apply({"x": X, "nope": X})
    with pytest.raises(Exception, match=r"inputs\.x"):
        t.apply({})
    r = httpx.post(f"{server.url}/models/mlp/apply", json={"inputs": {"x": X.tolist()}},
                   headers={"Accept": "application/json+binref"})
    assert r.status_code == 406
    assert httpx.post(f"{server.url}/models/none/apply", json={}).status_code == 404
    r = httpx.post(f"{server.url}/models/mlp/apply", json={"inputs": {"x": {
        "shape": [2, 4], "dtype": "float32", "data": {"buffer": "AAAA", "encoding": "base64"}}}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "inputs", "x"]


# -- ONNX graphs over HTTP -------------------------------------------------------------------

ONNX_GRADIENTS = [c for c in load("onnx_sample") if c["endpoint"] == "/gradients"]


@pytest.mark.parametrize("case", ONNX_GRADIENTS, ids=lambda c: c["id"])
def test_onnx_gradients_and_their_exported_graph(server: Server, case: dict) -> None:
    request, expect = case["request"], case["expect"]
    r = httpx.post(f"{server.url}/gradients", timeout=60, json={
        **request, "return_graph": True, "graph_format": "onnx"})
    assert r.status_code == 200, r.text
    answer = r.json()
    for got, want in zip(answer["gradients"], expect["gradients"], strict=True):
        np.testing.assert_allclose(got, want, rtol=expect["rtol"], atol=expect["atol"])
    session = ort.InferenceSession(base64.b64decode(answer["graph"]["onnx"]),
                                   providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feeds = {k: np.asarray(v, np.float32) for k, v in request["feeds"].items() if k in names}
    outputs = [o.name for o in session.get_outputs()]
    ran = dict(zip(outputs, session.run(None, feeds), strict=True))
    for node, got in zip(answer["gradient_nodes"], answer["gradients"], strict=True):
        np.testing.assert_allclose(ran[node], got, rtol=1e-4, atol=1e-5)


def test_onnx_faults_and_ops(server: Server) -> None:
    ops = httpx.get(f"{server.url}/onnx/ops").json()
    assert {"Gemm", "Conv", "Relu"} <= {o["op_type"] for o in ops}
    import onnx
    from onnx import helper

    node = helper.make_node("Hardmax", ["x"], ["y"], name="the_hardmax")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", onnx.TensorProto.FLOAT, [2])], [helper.make_tensor_value_info(
            "y", onnx.TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    body = {"graph": {"onnx": base64.b64encode(model.SerializeToString()).decode()},
            "feeds": {"x": [1.0, 2.0]}, "ys": "y", "xs": "x"}
    r = httpx.post(f"{server.url}/gradients", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["node"] == "the_hardmax" and r.json()["op_type"] == "Hardmax"
    r = httpx.post(f"{server.url}/gradients", json={**body, "graph": {"onnx": "bm90IG9ubng="}})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "graph", "onnx"]
