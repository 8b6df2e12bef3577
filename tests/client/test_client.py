"""The client against a real ``python -m service`` process: the dialects as their users
write them, numpy in and out, base64 transport, typed errors, keep-alive, retries."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import gradserve as gs
import httpx
import numpy as np
import pytest

from ..service.helpers import Server, seed_cases, slow_request

X = np.array([[0.5, 0.6, 0.4], [1.2, 1.3, 1.1]], np.float32)
Y = np.array([[0.01, 0.3, 1.1], [0.1, 0.2, 1.3], [2.1, 1.2, 3.3]], np.float32)


def seed_network() -> tuple[gs.Graph, gs.Tensor, gs.Tensor, gs.Tensor, gs.Tensor]:
    """The MindSpore seed example (README), written with the builder."""
    g = gs.Graph()
    x = g.placeholder([2, 3], name="x")
    y = g.placeholder([3, 3], name="y")
    z = g.variable(np.array([1.0], np.float32), name="z")
    out = (x * z) @ y
    g.inputs, g.outputs = [x, y], [out]
    return g, x, y, z, out


def test_grad_operation_matches_the_recorded_seed(client: gs.Client) -> None:
    ms, _ = seed_cases()
    g, *_ = seed_network()
    dx = client.grad_operation(g)(X, Y)
    assert isinstance(dx, np.ndarray) and dx.dtype == np.float32
    np.testing.assert_allclose(dx, ms["expect"]["gradients"], rtol=1e-6)
    (gx, gy), (gz,) = client.grad_operation(g, get_all=True, get_by_list=True)(X, Y)
    np.testing.assert_allclose(gx, dx)
    np.testing.assert_allclose(gy, np.repeat(X.sum(0)[:, None], 3, 1), rtol=1e-6)
    np.testing.assert_allclose(gz, [(X @ Y).sum()], rtol=1e-6)
    sens = np.full((2, 3), 2.0, np.float32)
    np.testing.assert_allclose(client.grad_operation(g, sens_param=True)(X, Y, sens), 2 * dx,
                               rtol=1e-6)


def test_gradients_of_the_tf_seed_from_its_wire_graph(client: gs.Client) -> None:
    _, tf = seed_cases()
    req = tf["request"]
    grads = client.gradients(req["ys"], req["xs"], req["grad_ys"], graph=req["graph"])
    assert len(grads) == 4
    for got, want in zip(grads, tf["expect"]["gradients"], strict=True):
        np.testing.assert_allclose(got, want)


def test_an_mlp_built_with_operators(client: gs.Client) -> None:
    """x @ w + b with numpy arrays, relu, a mean: gradients checked against numpy."""
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(5, 4)).astype(np.float32)
    g = gs.Graph()
    x = g.placeholder([None, 4], name="x")
    w1 = g.variable(rng.normal(size=(4, 3)).astype(np.float32), name="w1")
    b1 = rng.normal(size=3).astype(np.float32)  # a numpy array: becomes a constant
    with g.name_scope("dense"):
        h = gs.relu(x @ w1 + b1)
    loss = gs.mean(h * h)
    dw1, dx, dh = client.gradients(loss, [w1, x, h], feeds={x: xv})
    w1v = g.to_json()["nodes"][1]["value"]
    pre = xv @ np.array(w1v, np.float32) + b1
    hv = np.maximum(pre, 0)
    want_dh = 2 * hv / hv.size
    want_pre = want_dh * (pre > 0)
    np.testing.assert_allclose(dh, want_dh, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dw1, xv.T @ want_pre, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, want_pre @ np.array(w1v, np.float32).T, rtol=1e-5,
                               atol=1e-6)


def test_tf_options_stop_gradients_and_unconnected(client: gs.Client) -> None:
    g = gs.Graph()
    a = g.placeholder([], name="a")
    b = gs.mul(a, 2.0, name="b")
    c = g.placeholder([], name="c")
    feeds = {a: 1.5, c: 0.0}
    assert [float(v) for v in client.gradients(a + b, [a, b], feeds=feeds)] == [3.0, 1.0]
    got = client.gradients(a + b, [a, b], feeds=feeds, stop_gradients=[a, b])
    assert [float(v) for v in got] == [1.0, 1.0]
    assert client.gradients(a + b, [c], feeds=feeds) == [None]
    (zero,) = client.gradients(a + b, [c], feeds=feeds, unconnected_gradients="zero")
    assert zero.shape == () and zero == 0


def test_large_arrays_travel_as_base64_both_ways(server: Server) -> None:
    sent: list[bytes] = []
    hooks = {"request": [lambda r: sent.append(r.read())]}
    g = gs.Graph()
    x = g.placeholder([None, 300], name="x")
    loss = gs.sum(gs.tanh(x))
    xv = np.linspace(-2, 2, 600, dtype=np.float64).reshape(2, 300)  # float64 -> float32 node
    with gs.Client(server.url, base64_threshold=100) as c:
        c.http.event_hooks = hooks
        (dx,) = c.gradients(loss, [x], feeds={x: xv})
    assert b'"b64"' in sent[0] and b'"encoding":"base64"' in sent[0]
    assert dx.dtype == np.float32 and dx.shape == (2, 300)
    np.testing.assert_allclose(dx, 1 - np.tanh(xv.astype(np.float32)) ** 2, rtol=1e-6)


def test_typed_answers_and_non_finite_values(server: Server) -> None:
    g = gs.Graph()
    x = g.placeholder([3], name="x")
    y = gs.sqrt(x)
    with gs.Client(server.url, encoding="typed") as c:
        (dx,) = c.gradients(y, [x], feeds={x: np.array([0.0, -1.0, 4.0], np.float32)})
    assert dx[0] == np.inf and np.isnan(dx[1]) and dx[2] == 0.25


def test_problem_json_becomes_a_typed_exception(client: gs.Client) -> None:
    g = gs.Graph()
    x = g.placeholder([2], name="x")
    bad = g.op("frobnicate", x, name="bad")
    with pytest.raises(gs.InvalidRequest) as err:
        client.gradients(bad, [x], feeds={x: [1.0, 2.0]})
    e = err.value
    assert e.status == 422 and e.node == "bad" and "frobnicate" in e.detail
    assert e.loc == ["body", "graph", "nodes", 1, "op"]
    assert e.type.endswith("invalid-graph")
    with pytest.raises(gs.InvalidRequest) as err:
        client.gradients("e", ["x"], feeds={"x": [1.0, [2.0]]}, graph={"nodes": [
            {"name": "x", "op": "placeholder", "shape": [2]},
            {"name": "e", "op": "exp", "inputs": ["x"]}]})
    assert err.value.loc == ["body", "feeds", "x", 1]
    with pytest.raises(gs.NotFound) as nf:
        client.post("/no-such-endpoint", {})
    assert nf.value.status == 404


def test_keep_alive_reuses_one_connection(server: Server) -> None:
    ports: set[int] = set()

    def remember(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        if stream is not None:
            ports.add(stream.get_extra_info("client_addr")[1])
    g, *_ = seed_network()
    with gs.Client(server.url) as c:
        c.http.event_hooks = {"response": [remember]}
        for _ in range(5):
            c.grad_operation(g)(X, Y)
    assert len(ports) == 1


def test_async_client(server: Server) -> None:
    g, *_ = seed_network()

    async def main() -> list[Any]:
        async with gs.AsyncClient(server.url) as c:
            ops = await c.ops()
            grads = await asyncio.gather(*(c.grad_operation(g)(X * k, Y) for k in (1, 2)))
            return [ops, *grads]
    ops, one, two = asyncio.run(main())
    assert any(op["name"] == "matmul" for op in ops)
    np.testing.assert_allclose(two, one, rtol=1e-6)  # d/dx is linear in y only


def test_operations_endpoints(client: gs.Client) -> None:
    assert client.health() == {"status": "ok"}
    names = {op["name"] for op in client.ops()}
    assert {"matmul", "relu", "softmax_cross_entropy_with_logits"} <= names


# -- retries ------------------------------------------------------------------------------

def _scripted(statuses: list[tuple[int, dict[str, str]]], kind: str = "urn:x"
              ) -> tuple[httpx.MockTransport, list]:
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        status, headers = statuses[min(len(seen) - 1, len(statuses) - 1)]
        if status == 200:
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(status, headers={"content-type": "application/problem+json",
                                               **headers},
                              json={"type": kind, "title": "t", "status": status,
                                    "detail": "busy", "errors": []})
    return httpx.MockTransport(handler), seen


def test_retries_honour_retry_after_and_are_bounded() -> None:
    transport, seen = _scripted([(429, {"retry-after": "0.3"}), (503, {}), (200, {})])
    with gs.Client("http://test", transport=transport,
                   retry=gs.RetryPolicy(retries=3, backoff=0.05)) as c:
        assert c.health() == {"status": "ok"}
    assert len(seen) == 3 and seen[1] - seen[0] >= 0.3 and seen[2] - seen[1] >= 0.05
    transport, seen = _scripted([(429, {"retry-after": "100"})])
    policy = gs.RetryPolicy(retries=2, max_wait=0.01)
    with gs.Client("http://test", transport=transport, retry=policy) as c, \
            pytest.raises(gs.QueueFull) as err:
        c.health()
    assert len(seen) == 3 and err.value.retry_after == 100
    transport, seen = _scripted([(422, {})])
    with gs.Client("http://test", transport=transport) as c, pytest.raises(gs.InvalidRequest):
        c.health()
    assert len(seen) == 1  # a refusal is never retried


@pytest.mark.parametrize("slug", ["out-of-memory", "missing-program"])
def test_a_lasting_503_is_not_retried(slug: str) -> None:
    """Running out of memory, or lacking Graphviz, is the same on the next try."""
    transport, seen = _scripted([(503, {}), (200, {})], kind=f"urn:gradserve:problem:{slug}")
    with gs.Client("http://test", transport=transport,
                   retry=gs.RetryPolicy(retries=3, backoff=0.01)) as c, \
            pytest.raises(gs.Unavailable):
        c.health()
    assert len(seen) == 1
    transport, seen = _scripted([(503, {}), (200, {})],
                                kind="urn:gradserve:problem:worker-died")
    with gs.Client("http://test", transport=transport,
                   retry=gs.RetryPolicy(retries=3, backoff=0.01)) as c:
        assert c.health() == {"status": "ok"}
    assert len(seen) == 2


def test_a_full_queue_is_waited_out() -> None:
    """One worker, no queue: a call made while it is busy gets 429 and retries through."""
    solo = Server("--workers", "1", "--queue-size", "0", "--retry-after", "1")
    statuses: list[int] = []
    try:
        busy = threading.Thread(target=lambda: httpx.post(f"{solo.url}/gradients",
                                                          json=slow_request(), timeout=120))
        busy.start()
        g, *_ = seed_network()
        with gs.Client(solo.url, retry=gs.RetryPolicy(retries=60)) as c:
            c.http.event_hooks = {"response": [lambda r: statuses.append(r.status_code)]}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and solo.workers()[0].get("busy") is False:
                time.sleep(0.05)
            dx = c.grad_operation(g)(X, Y)
        busy.join()
    finally:
        solo.stop()
    np.testing.assert_allclose(dx, seed_cases()[0]["expect"]["gradients"], rtol=1e-6)
    assert statuses[-1] == 200
    assert 429 in statuses, statuses


def test_onnx_file_is_the_wire_graph(tmp_path: Any) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07not-really-onnx")
    assert gs.onnx_file(str(path)) == {"onnx": "CAdub3QtcmVhbGx5LW9ubng="}
    assert gs.onnx_file(path.read_bytes()) == gs.onnx_file(str(path))
