"""The functional endpoints (API.md sections 6 and 7) and vmap over HTTP, on a real server
process: refusals are problem+json naming the field (the server keeps serving), every
limit is a 413 naming max_elements, vmap equals stacking single requests, node seeds, keys
as written, metrics."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from .helpers import Server

LIMIT = 10_000  # max_elements of the server: a 64 x 64 Jacobian fits, 128 x 128 does not


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "1", "--max-elements", str(LIMIT))
    yield s
    s.stop()


def post(server: Server, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def problem(r: httpx.Response, status: int, loc: list[Any]) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert "Traceback" not in r.text
    assert doc["errors"][0]["loc"] == loc, doc
    return doc


def tanh_graph(n: int, dtype: str = "float64") -> dict[str, Any]:
    """y = tanh(x * w), x a placeholder [n], w a variable [n]; loss = sum(y)."""
    return {"nodes": [
        {"name": "x", "op": "placeholder", "shape": [n], "dtype": dtype},
        {"name": "k", "op": "placeholder", "shape": [n], "dtype": "int32"},
        {"name": "w", "op": "variable", "value": [0.5] * n, "dtype": dtype},
        {"name": "xw", "op": "mul", "inputs": ["x", "w"]},
        {"name": "y", "op": "tanh", "inputs": ["xw"]},
        {"name": "loss", "op": "sum", "inputs": ["y"]}], "outputs": ["y"]}


X3 = [0.3, -1.2, 0.7]
BASE = {"graph": tanh_graph(3), "feeds": {"x": X3}}


@pytest.mark.parametrize(("path", "body", "loc"), [
    ("/hvp", {**BASE, "vectors": {"x": X3}}, ["body", "outputs"]),  # y is not scalar
    ("/hvp", {**BASE, "outputs": ["y", "loss"], "vectors": {"x": X3}}, ["body", "outputs"]),
    ("/jvp", {**BASE, "tangents": {}, "inputs": ["x"], "batched": True},
     ["body", "tangents"]),
    ("/vjp", {**BASE, "cotangents": {"y": [[1, 1, 1]], "loss": [1.0, 2.0]}, "batched": True},
     ["body", "cotangents", "loss"]),  # K = 1 then K = 2
    ("/jvp", {**BASE, "tangents": {"x": [1.0, 2.0]}}, ["body", "tangents", "x"]),
    ("/jvp", {**BASE, "tangents": {"x": X3}, "inputs": ["w"]}, ["body", "tangents", "x"]),
    ("/jvp", {**BASE, "feeds": {"x": X3, "k": [1, 2, 3]}, "tangents": {"k": [1, 1, 1]}},
     ["body", "tangents", "k"]),  # an integer input in a derivative
    ("/jacobian", {**BASE, "feeds": {"x": X3, "k": [1, 2, 3]}, "inputs": ["x", "k"]},
     ["body", "inputs", 1]),
    ("/jacobian", {**BASE, "inputs": ["xw"]}, ["body", "inputs", 0]),  # not a leaf
    ("/jacobian", {**BASE, "mode": "sideways"}, ["body", "mode"]),
    ("/evaluate", {**BASE, "vmap": {"in_axes": {"q": 0}}}, ["body", "vmap", "in_axes", "q"]),
    ("/evaluate", {**BASE, "vmap": {"in_axes": {"x": 1}}}, ["body", "vmap", "in_axes", "x"]),
    ("/evaluate", {**BASE, "feeds": {"x": [X3, X3], "w": [X3] * 3},
                   "vmap": {"in_axes": {"x": 0, "w": 0}}}, ["body", "vmap", "in_axes", "x"]),
    ("/evaluate", {**BASE, "outputs": ["nowhere"]}, ["body", "outputs", 0]),
    ("/evaluate", {**BASE, "feeds": {"x": [1, "a", 2]}}, ["body", "feeds", "x", 1]),
    ("/grad", {"network": tanh_graph(3), "args": [X3, [1, 2, 3]], "grad_position": None,
               "weights": None}, ["body", "grad_position"]),
    ("/grad", {"network": tanh_graph(3), "args": [X3, [1, 2, 3]], "grad_position": [0, 0]},
     ["body", "grad_position", 1]),
    ("/grad", {"network": tanh_graph(3), "args": [X3, [1, 2, 3]], "weights": ["xw"]},
     ["body", "weights", 0]),
    ("/value-and-grad", {"network": tanh_graph(3), "args": [X3, [1, 2, 3]], "has_aux": True},
     ["body", "has_aux"]),
    ("/grad", {"network": tanh_graph(3), "args": [X3, [1, 2, 3]],
               "vmap": {"in_axes": {"x": 0}}}, ["body", "vmap", "in_axes", "x"]),
    ("/gradients", {**BASE, "ys": "loss", "xs": "x", "vmap": {"in_axes": {"z": 0}}},
     ["body", "vmap", "in_axes", "z"]),
    ("/gradients", {**BASE, "ys": "loss", "xs": "x", "grad_ys": [{"node": 3}]},
     ["body", "grad_ys", 0]),
])
def test_bad_requests_are_422_naming_the_field(server: Server, path: str,
                                               body: dict[str, Any], loc: list[Any]) -> None:
    problem(post(server, path, body), 422, loc)
    assert post(server, "/evaluate", BASE).status_code == 200  # and it keeps serving


def _n(n: int) -> dict[str, Any]:
    return {"graph": tanh_graph(n), "feeds": {"x": [0.1] * n}}


def wide_graph() -> dict[str, Any]:
    """loss = sum(x * w) with x of shape [1], w of [5000]: B = 3 examples of x make a
    15,000-element product, though every tensor of the request is small."""
    return {"nodes": [
        {"name": "x", "op": "placeholder", "shape": [1], "dtype": "float64"},
        {"name": "w", "op": "variable", "shape": [5000], "dtype": "float64",
         "initializer": {"kind": "ones"}},
        {"name": "y", "op": "mul", "inputs": ["x", "w"]},
        {"name": "loss", "op": "sum", "inputs": ["y"]}]}


B3 = [[0.1], [0.2], [0.3]]


@pytest.mark.parametrize(("path", "body", "loc"), [
    ("/jacobian", {**_n(128), "inputs": ["x"]}, ["body", "outputs", 0]),  # 128 x 128
    ("/hessian", {**_n(30), "inputs": ["x"]}, ["body", "outputs", 0]),  # 30 x 30 x 30
    ("/vjp", {**_n(100), "outputs": ["loss"], "cotangents": {"loss": [1.0] * 101},
              "batched": True}, ["body", "cotangents"]),  # K = 101 answers of 100
    ("/evaluate", {"graph": wide_graph(), "feeds": {"x": B3}, "vmap": {"in_axes": {"x": 0}}},
     ["body", "vmap", "in_axes"]),
    ("/grad", {"network": wide_graph(), "args": [B3], "vmap": {"in_axes": {"x": 0}}},
     ["body", "vmap", "in_axes"]),
    ("/gradients", {"graph": wide_graph(), "feeds": {"x": B3}, "ys": "loss", "xs": "w",
                    "vmap": {"in_axes": {"x": 0}}}, ["body", "vmap", "in_axes"]),
])
def test_every_limit_is_a_413_naming_the_setting(server: Server, path: str,
                                                  body: dict[str, Any], loc: list[Any]) -> None:
    doc = problem(post(server, path, body), 413, loc)
    assert "max_elements" in doc["detail"] and str(LIMIT) in doc["detail"]


def test_the_largest_jacobian_under_the_limit_is_answered(server: Server) -> None:
    x = np.linspace(-1, 1, 64)
    r = post(server, "/jacobian", {"graph": tanh_graph(64), "feeds": {"x": x.tolist()},
                                   "inputs": ["x"], "mode": "forward"})
    assert r.status_code == 200, r.text
    jac = np.array(r.json()["jacobian"]["y"]["x"])
    np.testing.assert_allclose(jac, np.diag(0.5 / np.cosh(0.5 * x) ** 2), atol=1e-12)


def _stack(server: Server, path: str, body: dict[str, Any], feed: str,
           rows: list[Any]) -> list[Any]:
    """Single-example answers of ``body`` with ``feed`` set to each row."""
    out = []
    for row in rows:
        r = post(server, path, {**body, "feeds": {**body.get("feeds", {}), feed: row}})
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


ROWS = [[0.3, -1.2, 0.7], [1.0, 0.5, -0.1], [-0.4, 0.2, 2.0], [0.0, 0.9, -1.5]]


def test_vmap_of_gradients_equals_stacking_single_requests(server: Server) -> None:
    body = {"graph": tanh_graph(3), "ys": "loss", "xs": ["x", "w"]}
    r = post(server, "/gradients", {**body, "feeds": {"x": ROWS},
                                    "vmap": {"in_axes": {"x": 0}}})
    assert r.status_code == 200, r.text
    singles = _stack(server, "/gradients", body, "x", ROWS)
    for k in range(2):  # the shared w gets one gradient per example, not their sum
        np.testing.assert_allclose(r.json()["gradients"][k],
                                   [s["gradients"][k] for s in singles], rtol=1e-12)


def test_vmap_on_axis_1_of_grad_operation_and_grad(server: Server) -> None:
    columns = np.array(ROWS).T.tolist()  # examples along axis 1
    net = tanh_graph(3)
    ms = {"network": net, "args": [columns, [1, 2, 3]], "vmap": {"in_axes": {"x": 1}}}
    r = post(server, "/grad-operation", {**ms, "get_by_list": True})
    assert r.status_code == 200, r.text
    r2 = post(server, "/grad", {**ms, "grad_position": None, "weights": "w"})
    assert r2.status_code == 200, r2.text
    for row, got, got2 in zip(ROWS, r.json()["gradients"][0], r2.json()["gradients"],
                              strict=True):
        single = post(server, "/grad", {"network": net, "args": [row, [1, 2, 3]],
                                        "grad_position": None, "weights": "w"}).json()
        np.testing.assert_allclose(got, single["gradients"], rtol=1e-12)
        np.testing.assert_allclose(got2, single["gradients"], rtol=1e-12)


def test_vmap_of_batched_hvp_puts_b_before_k(server: Server) -> None:
    vectors = [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]  # K = 2, shared by every example
    body = {"graph": tanh_graph(3), "outputs": ["loss"], "vectors": {"x": vectors},
            "batched": True}
    r = post(server, "/hvp", {**body, "feeds": {"x": ROWS}, "vmap": {"in_axes": {"x": 0}}})
    assert r.status_code == 200, r.text
    hvp = np.array(r.json()["hvp"]["x"])
    assert hvp.shape == (4, 2, 3)
    for b, single in enumerate(_stack(server, "/hvp", body, "x", ROWS)):
        np.testing.assert_allclose(hvp[b], single["hvp"]["x"], rtol=1e-12)
        np.testing.assert_allclose(r.json()["values"]["loss"][b], single["values"]["loss"])


def test_node_seeds_in_grad_ys_and_sens(server: Server) -> None:
    graph = tanh_graph(3)
    graph["nodes"].append({"name": "g", "op": "placeholder", "shape": [3],
                           "dtype": "float64"})
    g = [2.0, -1.0, 0.5]
    feeds = {"x": X3, "g": g}
    by_node = post(server, "/gradients", {"graph": graph, "feeds": feeds, "ys": "y",
                                          "xs": "x", "grad_ys": [{"node": "g"}]})
    by_value = post(server, "/gradients", {"graph": graph, "feeds": {"x": X3}, "ys": "y",
                                           "xs": "x", "grad_ys": [g]})
    assert by_node.status_code == 200, by_node.text
    assert by_node.json() == by_value.json()
    # the gradient depends on g: its graph differentiated with respect to g is x * w * sech²
    r = post(server, "/gradients", {"graph": graph, "feeds": feeds, "ys": "y", "xs": "x",
                                    "grad_ys": {"node": "g"}, "return_graph": True})
    node = r.json()["gradient_nodes"][0]
    again = post(server, "/gradients", {"graph": r.json()["graph"], "feeds": feeds,
                                        "ys": node, "xs": "g"})
    x = np.array(X3)
    np.testing.assert_allclose(again.json()["gradients"][0], 0.5 / np.cosh(0.5 * x) ** 2)
    net = {**graph, "inputs": ["x", "k"]}
    sens = post(server, "/grad-operation", {"network": net, "args": [X3, [1, 2, 3]],
                                            "feeds": {"g": g}, "sens_param": True,
                                            "sens": {"node": "g"}})
    assert sens.status_code == 200, sens.text
    np.testing.assert_allclose(sens.json()["gradients"], by_value.json()["gradients"][0])


def test_answers_are_keyed_as_the_request_wrote_the_names(server: Server) -> None:
    r = post(server, "/vjp", {**BASE, "outputs": ["y:0", "y"],
                              "cotangents": {"y:0": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0]}})
    assert r.status_code == 200, r.text
    assert set(r.json()["values"]) == {"y:0", "y"}
    assert list(r.json()["cotangents"]) == ["x"]


def test_metrics_count_the_new_endpoints(server: Server) -> None:
    post(server, "/jvp", {**BASE, "tangents": {"x": X3}})
    post(server, "/hvp", {**BASE, "vectors": {"x": X3}})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'gradserve_requests_total{endpoint="/jvp",status="200"}' in text
    assert 'gradserve_requests_total{endpoint="/hvp",status="422"}' in text
