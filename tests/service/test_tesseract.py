"""Models as Tesseracts, through tesseract-core's own client against a real server: each
endpoint equals our own /evaluate, /jacobian, /jvp, /vjp over HTTP on the same model
(both answer encodings; the client sends base64 arrays), openapi.json describes the model;
ONNX graphs over HTTP: the public /gradients cases, the exported gradient graph run in
onnxruntime, a bad model named."""
from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import requests
from tesseract_core import Tesseract

from ..case_files import load
from .helpers import REPO, Server

EXAMPLES = REPO / "examples" / "models"
X = np.array([[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 1.0]], dtype=np.float32)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "1", "--model-repository", str(EXAMPLES))
    yield s
    s.stop()


# each model: its input, the optional input (a variable) fed and differentiated, its output
MODELS = {"mlp": ("x", "W1", "b2", "y"),
          "onnx-mlp": ("input", "fc1.weight", "fc2.bias", "output")}


def ours(server: Server, endpoint: str, model: str, **body: object) -> dict:
    """Our own functional endpoint (API.md section 6) on the registered model, over HTTP."""
    def plain(tree: object) -> object:
        if isinstance(tree, dict):
            return {k: plain(v) for k, v in tree.items()}
        return tree.tolist() if isinstance(tree, np.ndarray) else tree

    r = httpx.post(f"{server.url}/{endpoint}", timeout=60,
                   json={"model": model, **plain(body)})  # type: ignore[dict-item]
    assert r.status_code == 200, r.text
    return r.json()


def same(got: np.ndarray, want: object) -> None:
    """The same numbers and the same float32 dtype: both run the same engine on the same
    float32 feeds (base64 from the client, shortest-repr JSON numbers to ours)."""
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.asarray(want, np.float32))


@pytest.mark.parametrize("fmt", [None, "json+base64"])
@pytest.mark.parametrize("model", list(MODELS))
def test_every_endpoint_equals_our_own_endpoints(server: Server, model: str,
                                                 fmt: str | None) -> None:
    """tesseract-core's client against the real server, each answer against our /evaluate,
    /jacobian, /jvp, /vjp for the same model; the answers' encoding is the one asked for."""
    x, var, bias, y = MODELS[model]
    t = Tesseract.from_url(f"{server.url}/models/{model}")
    if fmt:
        t = t.with_encoding(output_format=fmt)
    kinds: list[str] = []  # each compute answer's Content-Type

    def seen(r: requests.Response, **_: object) -> None:
        if r.request.method == "POST":
            kinds.append(r.headers["content-type"])

    t._client._session.hooks["response"].append(seen)  # the client's own requests.Session
    stored = np.asarray(httpx.post(f"{server.url}/evaluate", json={
        "model": model, "feeds": {x: X.tolist()}, "outputs": [var]}).json()["values"][var],
        np.float32)
    w = (stored * 0.5 + 0.05).astype(np.float32)  # a fed variable: an optional input
    feeds = {x: X, var: w}

    same(t.apply({x: X})[y], ours(server, "evaluate", model, feeds={x: X})["values"][y])
    same(t.apply(feeds)[y], ours(server, "evaluate", model, feeds=feeds)["values"][y])

    jac = t.jacobian(feeds, [x, var, bias], [y])
    want = ours(server, "jacobian", model, feeds=feeds, inputs=[x, var, bias],
                outputs=[y])["jacobian"]
    for k in (x, var, bias):
        same(jac[y][k], want[y][k])

    tangents = {x: np.linspace(-1, 1, X.size, dtype=np.float32).reshape(X.shape),
                var: np.full(w.shape, 0.25, np.float32)}
    jvp = t.jacobian_vector_product(feeds, [x, var], [y], tangents)
    same(jvp[y], ours(server, "jvp", model, feeds=feeds, inputs=[x, var], outputs=[y],
                      tangents=tangents)["tangents"][y])

    g = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    vjp = t.vector_jacobian_product(feeds, [x, var, bias], [y], {y: g})
    want = ours(server, "vjp", model, feeds=feeds, inputs=[x, var, bias], outputs=[y],
                cotangents={y: g})["cotangents"]
    assert set(vjp) == {x, var, bias}
    for k in (x, var, bias):
        same(vjp[k], want[k])
    assert kinds == [f"application/{fmt or 'json'}"] * 5

    five = np.zeros((5, X.shape[1]), np.float32)
    value = np.asarray(ours(server, "evaluate", model, feeds={x: five})["values"][y])
    assert t.abstract_eval({x: {"shape": [5, X.shape[1]], "dtype": "float32"}}) == {
        y: {"shape": list(value.shape), "dtype": "float32"}}
    assert t.health() == {"status": "ok"}


@pytest.mark.parametrize("model", list(MODELS))
def test_the_openapi_schema_describes_the_model(server: Server, model: str) -> None:
    """What the client reads from openapi.json: the endpoints, and the model's inputs
    (placeholders required, variables optional) and outputs as GET /models/NAME lists them."""
    t = Tesseract.from_url(f"{server.url}/models/{model}")
    served = httpx.get(f"{server.url}/models/{model}/openapi.json").json()
    assert t.openapi_schema == served
    assert set(t.available_endpoints) == {"apply", "jacobian", "jacobian_vector_product",
                                          "vector_jacobian_product", "abstract_eval",
                                          "health"}
    info = httpx.get(f"{server.url}/models/{model}").json()
    schemas = served["components"]["schemas"]
    names = [v["name"] for v in info["inputs"] + info["variables"]]
    assert list(schemas["InputSchema"]["properties"]) == names
    assert schemas["InputSchema"]["required"] == [v["name"] for v in info["inputs"]]
    assert list(schemas["OutputSchema"]["properties"]) == [v["name"] for v in info["outputs"]]
    assert t.server_capabilities.output_formats == ("json", "json+base64")


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
    assert {"Gemm", "Conv", "Relu", "ConvTranspose", "Resize", "LayerNormalization",
            "ScatterND"} <= {o["op_type"] for o in ops}
    import onnx
    from onnx import helper

    node = helper.make_node("Unique", ["x"], ["y"], name="the_unique")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", onnx.TensorProto.FLOAT, [2])], [helper.make_tensor_value_info(
            "y", onnx.TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    body = {"graph": {"onnx": base64.b64encode(model.SerializeToString()).decode()},
            "feeds": {"x": [1.0, 2.0]}, "ys": "y", "xs": "x"}
    r = httpx.post(f"{server.url}/gradients", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["node"] == "the_unique" and r.json()["op_type"] == "Unique"
    r = httpx.post(f"{server.url}/gradients", json={**body, "graph": {"onnx": "bm90IG9ubng="}})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "graph", "onnx"]
