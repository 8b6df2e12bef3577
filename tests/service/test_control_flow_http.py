"""cond / while_loop over HTTP, against ``python -m service`` as a real process: a loop's
gradient graph comes back as JSON with its subgraph attrs and can be posted back (also
base64-encoded); misfits and loops too long for the node limit are problem+json naming
the node and the attr."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..peers.scenarios_cf import rnn
from .helpers import Server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "1", "--max-nodes", "5000")
    yield s
    s.stop()


def _rnn_request(steps: int = 5) -> dict[str, Any]:
    return rnn(steps=steps)["request"]


def _loops(graph: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in graph["nodes"] if n["op"] == "while_loop"]


@pytest.mark.parametrize("encoding", ["nested", "base64"])
def test_a_loop_gradient_graph_comes_back_as_json_and_posts_back(server: Server,
                                                                 encoding: str) -> None:
    req = {**_rnn_request(), "return_graph": True, "encoding": encoding}
    first = httpx.post(f"{server.url}/gradients", json=req, timeout=60)
    assert first.status_code == 200, first.text
    answer = first.json()
    loops = _loops(answer["graph"])
    assert any(n["attrs"].get("stacked") for n in loops) and len(loops) >= 2
    for n in loops:
        assert {"cond", "body", "loop_vars", "maximum_iterations"} <= set(n["attrs"])
        assert isinstance(n["attrs"]["body"]["nodes"], list)
    again = httpx.post(f"{server.url}/gradients",
                       json={**req, "graph": answer["graph"], "return_graph": False},
                       timeout=60)
    assert again.status_code == 200, again.text
    assert again.json()["gradients"] == answer["gradients"]
    # second order: the returned gradient of b, differentiated again w.r.t. b
    db = answer["gradient_nodes"][req["xs"].index("b")]
    second = httpx.post(f"{server.url}/gradients", json={
        "graph": answer["graph"], "feeds": req["feeds"], "ys": db, "xs": ["b", "W"],
        "encoding": encoding}, timeout=60)
    assert second.status_code == 200, second.text
    assert all(g is not None for g in second.json()["gradients"])


def test_a_misfit_branch_is_a_422_naming_the_node_and_the_attr(server: Server) -> None:
    then = {"nodes": [{"name": "a", "op": "placeholder", "shape": [2], "dtype": "float64"}],
            "inputs": ["a"], "outputs": ["a"]}
    other = {"nodes": [{"name": "a", "op": "placeholder", "shape": [3], "dtype": "float64"}],
             "inputs": ["a"], "outputs": ["a"]}
    graph = {"nodes": [{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
                       {"name": "p", "op": "constant", "value": True, "dtype": "bool"},
                       {"name": "c", "op": "cond", "inputs": ["p", "x"],
                        "attrs": {"then_branch": then, "else_branch": other}}]}
    r = httpx.post(f"{server.url}/gradients", json={"graph": graph, "feeds": {"x": [1, 2]},
                                                   "ys": "c:0", "xs": "x"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(
        "application/problem+json")
    text = r.text
    assert "'c'" in text and "else_branch" in text
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_a_loop_too_long_for_the_node_limit_is_refused_before_it_runs(server: Server) -> None:
    req = _rnn_request(steps=1000)  # 1000 x 11 body and cond nodes > --max-nodes 5000
    req["feeds"] = {k: v for k, v in req["feeds"].items() if k != "xs"}
    r = httpx.post(f"{server.url}/gradients", json=req, timeout=60)
    assert r.status_code == 413, r.text
    assert "rnn" in r.text and "maximum_iterations" in r.text
