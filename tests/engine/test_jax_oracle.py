"""JAX float64 as the oracle of the functional toolbox: jvp, vjp, both Jacobian modes,
the Hessian, hvp (batched too) and vmap of them, on a few graphs (an MLP with a softmax
cross-entropy loss, a smooth elementwise chain with a reduction and broadcasting).
Skipped without jax (CI installs only the dev extra; ``pip install jax`` to run it)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is the oracle here and is not installed "
                          "(optional test)")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

from engine import Graph, evaluate, hessian, hvp, jacobian, jvp, vjp  # noqa: E402

RNG = np.random.default_rng(5)
TOL = {"rtol": 1e-9, "atol": 1e-11}


def _leaf(name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"name": name, "op": "placeholder", "shape": list(shape), "dtype": "float64"}


def mlp() -> tuple[Graph, dict[str, np.ndarray], Callable[..., Any]]:
    shapes = {"x": (4, 3), "labels": (4, 2), "w1": (3, 5), "w2": (5, 2)}
    feeds = {k: RNG.normal(size=s) * 0.7 for k, s in shapes.items()}
    feeds["labels"] = RNG.dirichlet(np.ones(2), size=4)
    graph = Graph.build([*(_leaf(k, s) for k, s in shapes.items()),
                         {"name": "h", "op": "matmul", "inputs": ["x", "w1"]},
                         {"name": "a", "op": "tanh", "inputs": ["h"]},
                         {"name": "logits", "op": "matmul", "inputs": ["a", "w2"]},
                         {"name": "xent", "op": "softmax_cross_entropy_with_logits",
                          "inputs": ["labels", "logits"]},
                         {"name": "loss", "op": "mean", "inputs": ["xent"]}],
                        inputs=["x", "labels", "w1", "w2"], outputs=["loss"])

    def f(x: Any, labels: Any, w1: Any, w2: Any) -> Any:
        logits = jnp.tanh(x @ w1) @ w2
        return jnp.mean(-jnp.sum(labels * jax.nn.log_softmax(logits), axis=1))

    return graph, feeds, f


def chain() -> tuple[Graph, dict[str, np.ndarray], Callable[..., Any]]:
    feeds = {"x": RNG.normal(size=(3, 4)), "b": RNG.normal(size=(4,))}
    graph = Graph.build([_leaf("x", (3, 4)), _leaf("b", (4,)),
                         {"name": "s", "op": "sin", "inputs": ["x"]},
                         {"name": "e", "op": "exp", "inputs": ["b"]},
                         {"name": "m", "op": "mul", "inputs": ["s", "e"]},
                         {"name": "q", "op": "square", "inputs": ["m"]},
                         {"name": "y", "op": "sum", "inputs": ["q"], "attrs": {"axis": 0}}],
                        inputs=["x", "b"], outputs=["y"])

    def f(x: Any, b: Any) -> Any:
        return jnp.sum((jnp.sin(x) * jnp.exp(b)) ** 2, axis=0)

    return graph, feeds, f


GRAPHS = {"mlp": mlp, "chain": chain}
WRT = {"mlp": ["x", "w1", "w2"], "chain": ["x", "b"]}


def _split(feeds: dict[str, np.ndarray], graph: Graph) -> list[np.ndarray]:
    return [feeds[k] for k in graph.inputs]


@pytest.fixture(params=list(GRAPHS))
def case(request: pytest.FixtureRequest) -> tuple[str, Graph, dict[str, np.ndarray], Any]:
    graph, feeds, f = GRAPHS[request.param]()
    return request.param, graph, feeds, f


def _partial(graph: Graph, feeds: dict[str, np.ndarray], f: Any, wrt: list[str]
             ) -> Callable[..., Any]:
    """f as a function of the ``wrt`` inputs only (the others fixed at their feeds)."""
    def g(*xs: Any) -> Any:
        given = dict(zip(wrt, xs, strict=True))
        return f(*(given.get(k, feeds[k]) for k in graph.inputs))
    return g


def test_jvp_and_vjp(case: Any) -> None:
    name, graph, feeds, f = case
    wrt = WRT[name]
    g = _partial(graph, feeds, f, wrt)
    primals = [feeds[k] for k in wrt]
    tangents = {k: RNG.normal(size=feeds[k].shape) for k in wrt}
    value, tangent = jax.jvp(g, primals, [tangents[k] for k in wrt])
    out = graph.outputs[0][0]
    got = jvp(graph, feeds, tangents)
    np.testing.assert_allclose(got["values"][out], value, **TOL)
    np.testing.assert_allclose(got["tangents"][out], tangent, **TOL)
    cot = RNG.normal(size=np.shape(value))
    _, pullback = jax.vjp(g, *primals)
    got = vjp(graph, feeds, {out: cot}, inputs=wrt)
    for k, want in zip(wrt, pullback(cot), strict=True):
        np.testing.assert_allclose(got["cotangents"][k], want, **TOL)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian(case: Any, mode: str) -> None:
    name, graph, feeds, f = case
    wrt = WRT[name]
    want = jax.jacfwd(_partial(graph, feeds, f, wrt), argnums=tuple(range(len(wrt))))(
        *(feeds[k] for k in wrt))
    got = jacobian(graph, feeds, inputs=wrt, mode=mode)["jacobian"][graph.outputs[0][0]]
    for k, w in zip(wrt, want, strict=True):
        np.testing.assert_allclose(got[k], w, **TOL)


def test_hessian_and_hvp_of_the_mlp_loss() -> None:
    graph, feeds, f = mlp()
    wrt = ["w1", "w2"]
    g = _partial(graph, feeds, f, wrt)
    want = jax.hessian(g, argnums=(0, 1))(feeds["w1"], feeds["w2"])
    got = hessian(graph, feeds, inputs=wrt)["hessian"]["loss"]
    for i, a in enumerate(wrt):
        for j, b in enumerate(wrt):
            np.testing.assert_allclose(got[a][b], want[i][j], **TOL)
    vs = [{k: RNG.normal(size=feeds[k].shape) for k in wrt} for _ in range(3)]
    batched = hvp(graph, feeds, {k: np.stack([v[k] for v in vs]) for k in wrt},
                  batched=True, outputs=["loss"])
    for n, v in enumerate(vs):
        _, hv = jax.jvp(jax.grad(lambda *xs: g(*xs), argnums=(0, 1)),
                        (feeds["w1"], feeds["w2"]), (v["w1"], v["w2"]))
        for k, w in zip(wrt, hv, strict=True):
            np.testing.assert_allclose(batched["hvp"][k][n], w, **TOL)


def test_vmap_of_per_example_gradients_and_of_a_jacobian() -> None:
    graph, feeds, f = chain()
    xs = RNG.normal(size=(5, 3, 4))
    per = jax.vmap(jax.jacrev(f, argnums=(0, 1)), in_axes=(0, None))(xs, feeds["b"])
    got = jacobian(graph, {**feeds, "x": xs}, inputs=["x", "b"],
                   in_axes={"x": 0})["jacobian"]["y"]
    np.testing.assert_allclose(got["x"], per[0], **TOL)
    np.testing.assert_allclose(got["b"], per[1], **TOL)  # one per example, not summed
    values = evaluate(graph, {**feeds, "x": xs}, in_axes={"x": 0})["values"]["y"]
    np.testing.assert_allclose(values, jax.vmap(f, in_axes=(0, None))(xs, feeds["b"]), **TOL)
