"""POST /render through a real server: DOT and SVG, gradient nodes in their own cluster,
name scopes as clusters, located errors; and the fallback where ``dot`` is missing."""
from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.graph_cache import GraphCache
from service.problems import ProblemError
from service.render import render

from .helpers import REPO, Server, seed_cases

MLP = {"nodes": [
    {"name": "x", "op": "placeholder", "shape": [2, 3]},
    {"name": "dense/w", "op": "variable", "value": [[0.1, -0.2], [0.4, 0.3], [-0.5, 0.2]]},
    {"name": "dense/b", "op": "variable", "value": [0.01, -0.02]},
    {"name": "dense/matmul", "op": "matmul", "inputs": ["x", "dense/w"]},
    {"name": "dense/logits", "op": "add", "inputs": ["dense/matmul", "dense/b"]},
    {"name": "act", "op": "tanh", "inputs": ["dense/logits"]},
    {"name": "loss", "op": "sum", "inputs": ["act"]}]}


EXAMPLES = REPO / "examples" / "models"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "1", "--model-repository", str(EXAMPLES))
    yield s
    s.stop()


def _post(server: Server, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/render", json=body, timeout=60)


def _block(dot: str, cluster: str) -> str:
    start = dot.index(f"subgraph {cluster} {{")
    depth, i = 0, start
    while True:
        depth += {"{": 1, "}": -1}.get(dot[i], 0)
        if dot[i] == "}" and depth == 0:
            return dot[start:i]
        i += 1


def _nodes(text: str) -> set[str]:
    return {m.group(2) for m in re.finditer(r'^\s*("?)([^"\s\[]+)\1 \[label=', text, re.M)}


def test_dot_groups_gradient_nodes_and_scopes(server: Server) -> None:
    r = _post(server, {"graph": MLP, "ys": ["loss"], "xs": ["dense/w", "x"], "format": "dot"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vnd.graphviz")
    dot = r.text
    grads = _block(dot, "cluster_gradients")
    # the gradient nodes are exactly those /gradients adds to the graph
    g = httpx.post(f"{server.url}/gradients", json={"graph": MLP, "ys": ["loss"],
                   "xs": ["dense/w", "x"], "return_graph": True,
                   "feeds": {"x": [[1, 2, 3], [4, 5, 6]]}}).json()
    added = {n["name"] for n in g["graph"]["nodes"]} - {n["name"] for n in MLP["nodes"]}
    assert _nodes(grads) == added and added
    # the gradients asked for are marked, forward scopes are clusters of their own
    for name in g["gradient_nodes"]:
        statement = re.search(rf'"{re.escape(name)}" \[[^\]]*\]', grads).group(0)
        assert "#b99ae8" in statement and "= d/d" in statement
    assert _nodes(_block(dot, "cluster_dense")) == {"dense/w", "dense/b", "dense/matmul",
                                                     "dense/logits"}
    assert re.search(r'\bloss \[[^\]]*fillcolor=darkolivegreen1', dot)  # the y
    # tensors the backward pass reads (tanh's output, the weights) are outlined as saved
    assert re.search(r'\bact \[[^\]]*color=orange', dot)


def test_without_ys_and_xs_only_the_forward_graph(server: Server) -> None:
    r = _post(server, {"graph": MLP, "format": "dot"})
    assert r.status_code == 200
    assert "cluster_gradients" not in r.text and _nodes(r.text) == {
        n["name"] for n in MLP["nodes"]}


@pytest.mark.skipif(shutil.which("dot") is None and os.environ.get("CI") != "true",
                    reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_svg_is_laid_out_by_dot(server: Server) -> None:
    _, tf = seed_cases()
    req = tf["request"]
    r = _post(server, {"graph": req["graph"], "ys": req["ys"], "xs": req["xs"]})
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    svg = ET.fromstring(r.content)
    ns = {"s": "http://www.w3.org/2000/svg"}
    titles = {g.get("class"): [] for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    for g in svg.iter("{http://www.w3.org/2000/svg}g"):
        t = g.find("s:title", ns)
        titles.setdefault(g.get("class"), []).append(t.text if t is not None else None)
    assert "cluster_gradients" in titles["cluster"]
    assert {"w1", "w2", "w3", "w4", "z1", "z2"} <= set(titles["node"])


def test_errors_are_problems_naming_the_node(server: Server) -> None:
    bad = {"nodes": [{"name": "a", "op": "placeholder", "shape": [2]},
                     {"name": "b", "op": "frob", "inputs": ["a"]}]}
    r = _post(server, {"graph": bad})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["node"] == "b" and r.json()["errors"][0]["loc"] == [
        "body", "graph", "nodes", 1, "op"]
    r = _post(server, {"graph": MLP, "ys": ["loss"], "xs": ["nope"]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "xs", 0]
    r = _post(server, {"graph": MLP, "ys": ["loss"]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "xs"]
    r = _post(server, {"graph": MLP, "format": "png"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "format"]
    r = _post(server, {"model": "no-such-model"})
    assert r.status_code == 404
    chain = [{"name": "n0", "op": "placeholder", "shape": [1]}] + [
        {"name": f"n{i}", "op": "neg", "inputs": [f"n{i - 1}"]} for i in range(1, 2500)]
    r = _post(server, {"graph": {"nodes": chain}})
    assert r.status_code == 413 and "Traceback" not in r.text
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_without_dot_svg_is_a_503_naming_it_and_dot_text_still_works(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    graphs = GraphCache(4, 1000, 10_000)
    body = json.dumps({"graph": MLP, "ys": "loss", "xs": "x"}).encode()
    with pytest.raises(ProblemError) as err:
        render(body, graphs)
    assert err.value.status == 503 and "'dot'" in err.value.detail
    picture = render(json.dumps({"graph": MLP, "format": "dot"}).encode(), graphs)
    assert picture.body.startswith(b"digraph")


def test_a_model_by_name_is_drawn_like_its_graph_sent_inline(server: Server) -> None:
    graph = json.loads((EXAMPLES / "mlp" / "graph.json").read_text())
    by_name = _post(server, {"model": "mlp", "format": "dot"})
    inline = _post(server, {"graph": graph, "format": "dot"})
    assert by_name.status_code == 200, by_name.text
    assert _nodes(by_name.text) == _nodes(inline.text) != set()
    unknown = _post(server, {"model": "no-such-model", "format": "dot"})
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["loc"] == ["body", "model"]
