"""The app in-process (TestClient runs the lifespan, so the real worker pool serves)."""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.openapi import DEFAULT_PATH, render
from service.settings import Settings

from .helpers import seed_cases

TANH = {"nodes": [{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float32"},
                  {"name": "y", "op": "tanh", "inputs": ["x"]}]}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(workers=1, timeout=30, max_nodes=50, max_elements=1000)
    with TestClient(create_app(settings)) as c:
        yield c


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["status"] == status and doc["type"].startswith("urn:gradserve:problem:")
    assert "Traceback" not in r.text
    return doc


def test_seed_examples(client: TestClient) -> None:
    cases = {c["id"]: c for c in seed_cases()}
    ms = cases["seed-mindspore-gradoperation-wrt-x"]
    r = client.post("/grad-operation", json=ms["request"])
    assert r.status_code == 200
    assert r.content == (b'{"gradients":[[1.4100001,1.5999999,6.6],'
                         b'[1.4100001,1.5999999,6.6]]}')
    tf = cases["seed-tf-gradients-grad-ys"]
    r = client.post("/gradients", json=tf["request"])
    assert r.json() == {"gradients": [[2, 2, 3], [2, 2, 3], [5, 4, 7], [3, 2, 4]]}
    assert "compute;dur=" in r.headers["server-timing"]
    # the worker's phases (written by the worker) first, then the parent's, each timed
    phases = [re.fullmatch(r"(\w+);dur=(\d+\.\d{3})", entry.strip())
              for entry in r.headers["server-timing"].split(",")]
    assert all(phases), r.headers["server-timing"]
    names = [m.group(1) for m in phases if m]
    assert names[:2] == ["parse", "validate"] and names[-2:] == ["queue", "ipc"]
    assert "compute" in names[2:-2]


def test_malformed_json(client: TestClient) -> None:
    r = client.post("/gradients", content=b'{"graph": ', headers={"content-type":
                                                                 "application/json"})
    assert problem(r, 422)["errors"][0]["loc"] == ["body"]
    problem(client.post("/gradients", content=b"[1, 2]",
                        headers={"content-type": "application/json"}), 422)


def test_wrong_types_name_their_path(client: TestClient) -> None:
    body = {"graph": {"nodes": [{"name": "x", "op": "placeholder", "shape": ["a"]}]},
            "ys": "x", "xs": "x", "return_values": "yes"}
    locs = [e["loc"] for e in problem(client.post("/gradients", json=body), 422)["errors"]]
    assert ["body", "return_values"] in locs
    body["return_values"] = False
    locs = [e["loc"] for e in problem(client.post("/gradients", json=body), 422)["errors"]]
    assert locs == [["body", "graph", "nodes", 0, "shape", 0]]


def test_ragged_feed_names_the_element(client: TestClient) -> None:
    body = {"graph": {"nodes": [{"name": "x", "op": "placeholder", "shape": [2, 2]},
                                {"name": "y", "op": "exp", "inputs": ["x"]}]},
            "feeds": {"x": [[1, 2], [3]]}, "ys": "y", "xs": "x"}
    doc = problem(client.post("/gradients", json=body), 422)
    assert doc["errors"][0]["loc"] == ["body", "feeds", "x", 1]


def test_graph_errors_name_node_and_path(client: TestClient) -> None:
    body = {"graph": {"nodes": [{"name": "x", "op": "placeholder", "shape": [2, 3]},
                                {"name": "y", "op": "placeholder", "shape": [4, 5]},
                                {"name": "z", "op": "matmul", "inputs": ["x", "y"]}]},
            "ys": "z", "xs": "x", "feeds": {"x": [[0] * 3] * 2, "y": [[0] * 5] * 4}}
    doc = problem(client.post("/gradients", json=body), 422)
    assert doc["node"] == "z" and doc["errors"][0]["loc"][:4] == ["body", "graph", "nodes", 2]
    body["graph"]["nodes"][2]["op"] = "no_such_op"
    doc = problem(client.post("/gradients", json=body), 422)
    assert doc["errors"][0]["loc"] == ["body", "graph", "nodes", 2, "op"]


def test_limits_give_413(client: TestClient) -> None:
    chain = [{"name": "x", "op": "placeholder", "shape": [1]}] + [
        {"name": f"n{i}", "op": "neg", "inputs": ["x"]} for i in range(60)]
    problem(client.post("/gradients", json={"graph": {"nodes": chain}, "ys": "n0",
                                            "xs": "x"}), 413)
    big = {"nodes": [{"name": "x", "op": "placeholder", "shape": [100, 100]},
                     {"name": "y", "op": "exp", "inputs": ["x"]}]}
    problem(client.post("/gradients", json={"graph": big, "ys": "y", "xs": "x"}), 413)
    feed = {"dtype": "float32", "shape": [2000], "b64": ""}
    doc = problem(client.post("/gradients", json={"graph": TANH, "feeds": {"x": feed},
                                                  "ys": "y", "xs": "x"}), 413)
    assert doc["errors"][0]["loc"] == ["body", "feeds", "x", "shape"]


def test_option_spellings(client: TestClient) -> None:
    body = {"graph": TANH, "feeds": {"x": [0.0, 1.0, 2.0]}, "ys": ["y"], "xs": ["x"]}
    for agg in ("ADD_N", 1, "Experimental_Accumulate_N", None, "default"):
        assert client.post("/gradients", json={**body, "aggregation_method": agg}
                           ).status_code == 200
    problem(client.post("/gradients", json={**body, "aggregation_method": "bogus"}), 422)
    problem(client.post("/gradients", json={**body, "aggregation_method": 7}), 422)
    assert client.post("/gradients", json={**body, "unconnected_gradients": "ZERO"}
                       ).status_code == 200
    problem(client.post("/gradients", json={**body, "unconnected_gradients": "bogus"}), 422)
    problem(client.post("/gradients", json={**body, "encoding": "xml"}), 422)


def test_encodings_and_nonfinite_answers(client: TestClient) -> None:
    graph = {"nodes": [{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float64"},
                       {"name": "y", "op": "log", "inputs": ["x"]}]}
    x = np.array([0.0, -1.0, 4.0])
    b64 = {"dtype": "float64", "shape": [3], "b64": base64.b64encode(x.tobytes()).decode()}
    body = {"graph": graph, "feeds": {"x": b64}, "ys": "y", "xs": "x", "return_values": True}
    nested = client.post("/gradients", json=body).json()
    assert nested["gradients"] == [["Infinity", -1.0, 0.25]]
    assert nested["values"]["y"] == ["-Infinity", "NaN", float(np.log(4.0))]
    typed = client.post("/gradients", json={**body, "encoding": "typed"}).json()
    assert typed["gradients"][0] == {"dtype": "float64", "shape": [3],
                                     "data": ["Infinity", -1.0, 0.25]}
    packed = client.post("/gradients", json={**body, "encoding": "base64"}).json()
    grad = np.frombuffer(base64.b64decode(packed["gradients"][0]["b64"]), "<f8")
    assert grad.tolist() == [np.inf, -1.0, 0.25]
    nan_in = {**body, "feeds": {"x": ["NaN", "Infinity", 1.0]}}
    assert client.post("/gradients", json=nan_in).json()["gradients"] == [["NaN", 0.0, 1.0]]


def test_int_gradient_stays_int(client: TestClient) -> None:
    graph = {"nodes": [{"name": "n", "op": "placeholder", "shape": [2], "dtype": "int32"},
                       {"name": "f", "op": "cast", "inputs": ["n"], "attrs": {"dtype":
                                                                             "float32"}}]}
    r = client.post("/gradients", json={"graph": graph, "feeds": {"n": [1, 2]}, "ys": "f",
                                        "xs": "n", "unconnected_gradients": "zero"})
    assert r.content == b'{"gradients":[[0,0]]}'


def test_return_graph_gives_second_derivatives(client: TestClient) -> None:
    graph = {"nodes": [{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float64"},
                       {"name": "c", "op": "mul", "inputs": ["x", "x"]},
                       {"name": "y", "op": "mul", "inputs": ["c", "x"]}]}
    x = [0.5, -1.0, 2.0]
    first = client.post("/gradients", json={"graph": graph, "feeds": {"x": x}, "ys": "y",
                                            "xs": "x", "return_graph": True}).json()
    assert first["gradients"][0] == pytest.approx([3 * v * v for v in x])
    dy = first["gradient_nodes"][0]
    second = client.post("/gradients", json={"graph": first["graph"], "feeds": {"x": x},
                                             "ys": dy, "xs": "x"}).json()
    assert second["gradients"][0] == pytest.approx([6 * v for v in x])


def test_a_returned_graph_posted_back_as_it_came_answers_the_same(client: TestClient) -> None:
    """Its baked grad_ys constants hold the names new seeds would take: they are not
    clobbered (the new seeds get fresh names), so the same request answers the same."""
    from service.endpoints import BY_PATH

    body = {**BY_PATH["/gradients"].example, "return_graph": True}
    first = client.post("/gradients", json=body).json()
    assert "gradients/grad_ys_0" in {n["name"] for n in first["graph"]["nodes"]}
    again = client.post("/gradients", json={**body, "graph": first["graph"]})
    assert again.status_code == 200, again.text
    assert again.json()["gradients"] == first["gradients"]
    names = [n["name"] for n in again.json()["graph"]["nodes"]]
    assert len(names) == len(set(names)) and "gradients/grad_ys_0_1" in names


def test_grad_operation_sens_forms(client: TestClient) -> None:
    net = {"nodes": [{"name": "x", "op": "placeholder", "shape": [2]},
                     {"name": "w", "op": "parameter", "value": [3.0]},
                     {"name": "a", "op": "mul", "inputs": ["x", "w"]},
                     {"name": "b", "op": "exp", "inputs": ["x"]}],
           "outputs": ["a"]}
    base = {"network": net, "args": [[0.0, 1.0]], "sens_param": True}
    one = client.post("/grad-operation", json={**base, "sens": [1.0, 2.0]}).json()
    listed = client.post("/grad-operation", json={**base, "sens": [[1.0, 2.0]]}).json()
    assert one == listed == {"gradients": [3.0, 6.0]}
    two = {**base, "network": {**net, "outputs": ["a", "b"]}}
    problem(client.post("/grad-operation", json={**two, "sens": [[1.0, 2.0]]}), 422)
    r = client.post("/grad-operation", json={**two, "sens": [[1.0, 1.0], [0.0, 1.0]]})
    assert r.json()["gradients"] == pytest.approx([3.0, 3.0 + np.e])
    problem(client.post("/grad-operation", json={**base, "sens": [1.0, 2.0],
                                                 "sens_param": False}), 422)


def test_operations_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and len(ready["workers"]) == 1
    client.post("/gradients", json={"graph": TANH, "feeds": {"x": [1, 2, 3]}, "ys": "y",
                                    "xs": "x"})
    text = client.get("/metrics").text
    assert 'gradserve_requests_total{endpoint="/gradients",status="200"}' in text
    assert 'gradserve_plan_cache_total{result="hit"}' in text
    assert "gradserve_queue_depth" in text and "gradserve_worker_restarts_total" in text
    ops = {op["name"]: op for op in client.get("/ops").json()}
    assert "matmul" in ops and "transpose_a" in ops["matmul"]["attrs"]
    assert client.get("/ops/Mat_Mul").json()["name"] == "matmul"
    problem(client.get("/ops/nonsense"), 404)
    problem(client.get("/nowhere"), 404)
    problem(client.get("/gradients"), 405)


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "swagger-ui-bundle.js" in html and "://" not in html.replace("http-equiv", "")
    js = client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    version = re.search(rb'PACKAGE_VERSION:"(\d+)\.', js.content)
    assert version and int(version[1]) >= 5, "Swagger UI 4 cannot render OpenAPI 3.1"
    assert client.get("/docs/static/swagger-ui.css").status_code == 200


def test_root_sends_a_browser_to_the_docs(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/docs"


def test_openapi_file_matches_the_app(client: TestClient) -> None:
    served = client.get("/openapi.json").json()
    assert "GradientsRequest" in served["components"]["schemas"]
    body = served["paths"]["/gradients"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("GradientsRequest")
    assert json.loads(DEFAULT_PATH.read_text()) == served, "run `make openapi`"
    assert json.loads(render()) == served


DYNAMIC = [{"name": "a", "op": "placeholder", "shape": [None, 1]},
           {"name": "b", "op": "placeholder", "shape": [1, None]},
           {"name": "outer", "op": "mul", "inputs": ["a", "b"]}]


def test_unknown_dimensions_are_checked_once_fed(client: TestClient) -> None:
    body = {"graph": {"nodes": DYNAMIC}, "feeds": {"a": [[1], [2], [3]], "b": [[1, 2]]},
            "ys": ["outer"], "xs": ["a", "b"]}
    r = client.post("/gradients", json=body)
    assert r.json() == {"gradients": [[[3.0], [3.0], [3.0]], [[6.0, 6.0]]]}
    # The whole graph is checked with the fed shapes, unused nodes too, before anything runs.
    bad = [*DYNAMIC, {"name": "bad", "op": "matmul", "inputs": ["a", "a"]}]
    doc = problem(client.post("/gradients", json={**body, "graph": {"nodes": bad}}), 422)
    assert doc["node"] == "bad"
    assert doc["errors"][0]["loc"] == ["body", "graph", "nodes", 3]
    big = {**body, "feeds": {"a": [[1.0]] * 40, "b": [[1.0] * 40]}}
    doc = problem(client.post("/gradients", json=big), 413)
    assert doc["node"] == "outer"
    assert doc["errors"][0]["loc"] == ["body", "graph", "nodes", 2]


NO_INPUTS = {"nodes": [{"name": "w", "op": "variable", "value": [1.0, 2.0]},
                       {"name": "y", "op": "square", "inputs": ["w"]}]}


@pytest.mark.parametrize(("flags", "want"), [
    ({}, []), ({"get_all": True}, []), ({"get_by_list": True}, [[2.0, 4.0]]),
    ({"get_all": True, "get_by_list": True}, [[], [[2.0, 4.0]]])])
def test_network_without_inputs(client: TestClient, flags: dict[str, bool],
                                want: list[Any]) -> None:
    """MindSpore (recorded: ms-no-inputs-*): GradOperation() answers an empty tuple."""
    r = client.post("/grad-operation", json={"network": NO_INPUTS, **flags})
    assert r.status_code == 200, r.text
    assert r.json()["gradients"] == want


@pytest.mark.parametrize(("path", "body", "loc"), [
    # engine arguments mapped to the wire by each endpoint's table
    ("/grad-operation", {"network": TANH, "args": []}, ["body", "args"]),
    ("/grad-operation", {"network": TANH, "args": [[1.0, 2.0, 3.0]], "sens_param": True},
     ["body", "sens"]),
    ("/gradients", {"graph": TANH, "feeds": {"x": [1.0, 2.0, 3.0]}, "ys": ["y"], "xs": ["x"],
                    "grad_ys": [None, None]}, ["body", "grad_ys"]),
    ("/gradients", {"graph": TANH, "ys": ["y", "nope"], "xs": "x", "grad_ys": [None, None]},
     ["body", "ys", 1]),
    ("/gradients", {"graph": TANH, "ys": "y", "xs": ["x", "nope"]}, ["body", "xs", 1]),
    ("/gradients", {"graph": TANH, "feeds": {"x": [1.0, 2.0]}, "ys": "y", "xs": "x"},
     ["body", "feeds", "x"]),
    # the graph description, judged by the engine alone
    ("/gradients", {"graph": [1], "ys": "y", "xs": "x"}, ["body", "graph"]),
    ("/gradients", {"graph": {**TANH, "nodez": []}, "ys": "y", "xs": "x"},
     ["body", "graph", "nodez"]),
    ("/gradients", {"graph": {"nodes": [{"name": "x", "op": "placeholder", "shape": [2],
                                         "inputs": ["x"]}]}, "ys": "x", "xs": "x"},
     ["body", "graph", "nodes", 0, "inputs"]),
    ("/grad-operation", {"network": {"nodes": [
        {"name": "w", "op": "variable", "shape": [2], "initializer": {"kind": "nope"}}]},
        "get_by_list": True}, ["body", "network", "nodes", 0, "initializer", "kind"]),
    ("/grad-operation", {"network": {"nodes": [
        {"name": "w", "op": "variable", "dtype": "int32", "value": [1.5]}]},
        "get_by_list": True}, ["body", "network", "nodes", 0, "value"]),
])
def test_engine_faults_are_placed_on_the_wire(client: TestClient, path: str,
                                              body: dict[str, Any], loc: list[Any]) -> None:
    doc = problem(client.post(path, json=body), 422)
    assert doc["errors"][0]["loc"] == loc, doc
