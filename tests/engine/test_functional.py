"""The library's functional toolbox checked against float64 central differences, on an
MLP with a softmax cross-entropy loss (the shape of W2): jvp, vjp (K at once), both
Jacobian modes, the Hessian, hvp (batched, and against hessian @ v), vmap of them, second
order through them (a Jacobian of a gradient), ``{"node": ...}`` seeds, and refusals."""
from __future__ import annotations

import numpy as np
import pytest

from engine import (
    EngineError,
    Graph,
    LimitError,
    compute_grad_operation,
    compute_gradients,
    evaluate,
    gradients,
    hessian,
    hvp,
    jacobian,
    jvp,
    run,
    vjp,
)

RNG = np.random.default_rng(11)
FEEDS = {"x": RNG.normal(size=(4, 3)), "labels": RNG.dirichlet(np.ones(2), size=4)}
W1, W2 = RNG.normal(size=(3, 5)) * 0.5, RNG.normal(size=(5, 2)) * 0.5


def _mlp() -> Graph:
    return Graph.build([
        {"name": "x", "op": "placeholder", "shape": [4, 3], "dtype": "float64"},
        {"name": "labels", "op": "placeholder", "shape": [4, 2], "dtype": "float64"},
        {"name": "w1", "op": "variable", "value": W1},
        {"name": "w2", "op": "variable", "value": W2},
        {"name": "h", "op": "matmul", "inputs": ["x", "w1"]},
        {"name": "a", "op": "tanh", "inputs": ["h"]},
        {"name": "logits", "op": "matmul", "inputs": ["a", "w2"]},
        {"name": "xent", "op": "softmax_cross_entropy_with_logits",
         "inputs": ["labels", "logits"]},
        {"name": "loss", "op": "mean", "inputs": ["xent"]},
    ], outputs=["loss"])


INPUTS = ["w1", "w2"]


def _at(graph: Graph, out: str, values: dict[str, np.ndarray]) -> np.ndarray:
    return run(graph, [out], {**FEEDS, **values})[0]


def _numeric_jacobian(graph: Graph, out: str, x: str, base: dict[str, np.ndarray],
                      eps: float = 1e-6) -> np.ndarray:
    """d out / d x by central differences, one basis direction at a time."""
    value = _at(graph, out, base)
    jac = np.zeros(value.shape + base[x].shape)
    for j in np.ndindex(base[x].shape):
        plus, minus = dict(base), dict(base)
        plus[x], minus[x] = base[x].copy(), base[x].copy()
        plus[x][j] += eps
        minus[x][j] -= eps
        jac[(..., *j)] = (_at(graph, out, plus) - _at(graph, out, minus)) / (2 * eps)
    return jac


BASE = {"w1": W1, "w2": W2}


def test_jacobian_both_modes_match_differences() -> None:
    g = _mlp()
    for mode in ("reverse", "forward", "auto"):
        out = jacobian(g, FEEDS, inputs=INPUTS, outputs=["xent"], mode=mode)
        for x in INPUTS:
            want = _numeric_jacobian(g, "xent", x, BASE)
            np.testing.assert_allclose(out["jacobian"]["xent"][x], want, rtol=1e-6,
                                       atol=1e-8, err_msg=f"{mode} {x}")


def test_jvp_and_k_cotangent_vjp() -> None:
    g = _mlp()
    k = 3
    v = {x: RNG.normal(size=(k, *BASE[x].shape)) for x in INPUTS}
    u = {"xent": RNG.normal(size=(k, 4))}
    jac = {x: _numeric_jacobian(g, "xent", x, BASE) for x in INPUTS}
    tangents = jvp(g, FEEDS, v, outputs=["xent"], batched=True)["tangents"]["xent"]
    want = sum(np.einsum("oij,kij->ko", jac[x], v[x]) for x in INPUTS)
    np.testing.assert_allclose(tangents, want, rtol=1e-6, atol=1e-8)
    cots = vjp(g, FEEDS, u, inputs=INPUTS, batched=True)["cotangents"]
    for x in INPUTS:
        np.testing.assert_allclose(cots[x], np.einsum("ko,oij->kij", u["xent"], jac[x]),
                                   rtol=1e-6, atol=1e-8)


def test_hessian_and_hvp_agree_with_differences_of_the_gradient() -> None:
    g = _mlp()
    grads = gradients(g, ["loss"], INPUTS)
    hess = hessian(g, FEEDS, inputs=INPUTS, outputs=["loss"])["hessian"]["loss"]
    for i, gi in zip(INPUTS, grads.names, strict=True):
        for j in INPUTS:
            want = _numeric_jacobian(grads.graph, gi, j, BASE)
            np.testing.assert_allclose(hess[i][j], want, rtol=1e-5, atol=1e-7,
                                       err_msg=f"H[{i}][{j}]")
    vectors = {x: RNG.normal(size=(2, *BASE[x].shape)) for x in INPUTS}
    out = hvp(g, FEEDS, vectors, outputs=["loss"], batched=True)
    for i in INPUTS:
        want = sum(np.einsum("abij,kij->kab", hess[i][j], vectors[j]) for j in INPUTS)
        np.testing.assert_allclose(out["hvp"][i], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["gradient"]["w1"], run(grads.graph, [grads.names[0]],
                                                          FEEDS)[0], rtol=1e-12)


def test_vmap_of_the_toolbox_equals_stacked_examples() -> None:
    g = _mlp()
    xs = RNG.normal(size=(3, 4, 3))
    stacked = {"x": xs, "labels": FEEDS["labels"]}
    got = jacobian(g, stacked, inputs=["w2"], outputs=["loss"], in_axes={"x": 0})
    v = {"w1": RNG.normal(size=W1.shape)}
    h = hvp(g, stacked, v, outputs=["loss"], in_axes={"x": 0})
    for b in range(3):
        one = {"x": xs[b], "labels": FEEDS["labels"]}
        np.testing.assert_allclose(got["jacobian"]["loss"]["w2"][b],
                                   jacobian(g, one, inputs=["w2"])["jacobian"]["loss"]["w2"],
                                   rtol=1e-12)
        np.testing.assert_allclose(h["hvp"]["w1"][b], hvp(g, one, v)["hvp"]["w1"], rtol=1e-12)
        np.testing.assert_allclose(h["values"]["loss"][b],
                                   evaluate(g, one)["values"]["loss"], rtol=1e-12)


def test_jacobian_of_a_gradient_is_the_hessian() -> None:
    g = _mlp()
    grads = gradients(g, ["loss"], ["w2"])
    jac = jacobian(grads.graph, FEEDS, inputs=["w2"], outputs=grads.names, mode="forward")
    hess = hessian(g, FEEDS, inputs=["w2"], outputs=["loss"])
    np.testing.assert_allclose(jac["jacobian"][grads.names[0]]["w2"],
                               hess["hessian"]["loss"]["w2"]["w2"], rtol=1e-10, atol=1e-12)


def test_node_seeds_make_gradients_that_depend_on_the_seed() -> None:
    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float64"},
                     {"name": "s", "op": "placeholder", "shape": [3], "dtype": "float64"},
                     {"name": "y", "op": "sin", "inputs": ["x"]}])
    x, s = np.array([0.1, 0.5, -1.0]), np.array([2.0, -1.0, 0.5])
    out = compute_gradients(g, {"x": x, "s": s}, ["y"], ["x"], ["s"], return_graph=True)
    np.testing.assert_allclose(out.gradients[0], np.cos(x) * s)
    assert out.graph is not None and out.gradient_nodes is not None
    again = compute_gradients(out.graph, {"x": x, "s": s}, out.gradient_nodes, ["s"])
    np.testing.assert_allclose(again.gradients[0], np.cos(x))  # d/ds of cos(x) s
    net = Graph.build([*g.to_spec()["nodes"]], inputs=["x"], outputs=["y"])
    ms, _ = compute_grad_operation(net, [x], sens_param=True, sens=["s"], feeds={"s": s})
    np.testing.assert_allclose(ms, np.cos(x) * s)
    with pytest.raises(EngineError) as info:
        compute_gradients(g, {"x": x}, ["y"], ["x"], ["x:1"])
    assert info.value.loc == ("grad_ys", 0)
    with pytest.raises(EngineError) as info:
        compute_grad_operation(net, [x], sens_param=True, sens=["x:1"])
    assert info.value.loc == ("sens",)


@pytest.mark.parametrize(("call", "loc"), [
    (lambda g: jvp(g, FEEDS, {"w1": np.zeros((2, 2))}), ("tangents", "w1")),
    (lambda g: jvp(g, FEEDS, {"nope": np.zeros(2)}, inputs=["w1"]), ("tangents", "nope")),
    (lambda g: vjp(g, FEEDS, {"loss": np.zeros((2,))}, batched=False), ("cotangents", "loss")),
    (lambda g: vjp(g, FEEDS, {}, batched=True), ("cotangents",)),
    (lambda g: jacobian(g, FEEDS, inputs=["h"]), ("inputs", 0)),
    (lambda g: jacobian(g, FEEDS, mode="sideways"), ("mode",)),
    (lambda g: hvp(g, FEEDS, {"w1": W1}, outputs=["xent"]), ("outputs",)),
    (lambda g: evaluate(g, {"x": np.zeros((2, 4, 3)), "labels": np.zeros((3, 4, 2))},
                        in_axes={"x": 0, "labels": 0}), ("in_axes", "x")),
])
def test_refusals_name_the_field(call, loc) -> None:
    with pytest.raises(EngineError) as info:
        call(_mlp())
    assert not isinstance(info.value, LimitError) and info.value.loc[:len(loc)] == loc


def test_readme_toolbox_example() -> None:
    """The README's toolbox block, run verbatim (extracted, so it cannot rot)."""
    import re
    from pathlib import Path

    text = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    section = text[text.index("### The derivative toolbox"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    scope: dict = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)
    feeds, net = scope["feeds"], scope["net"]
    x, w = feeds["x"], np.array([0.5, -1.0, 2.0])
    d = 1 - np.tanh(x * w) ** 2
    np.testing.assert_allclose(scope["jvp"](net, feeds, {"x": np.ones(3)})["tangents"]["y"],
                               d * w)
    got = scope["grad"](net, [x], grad_position=0, weights="w")["gradients"]
    np.testing.assert_allclose(got[0], 2 * d * w)  # no has_aux: y and loss summed
    np.testing.assert_allclose(got[1], 2 * d * x)


def test_a_repeated_hvp_call_runs_on_new_feeds_and_still_checks_them() -> None:
    """The second call with the same arguments skips resolving (straight to the plan):
    new feeds and vectors give their own answer, and a vector or feed unlike the first
    call's is refused as on the first call."""
    g = _mlp()
    v = {"w1": RNG.normal(size=W1.shape)}
    first = hvp(g, FEEDS, v, outputs=["loss"])
    other = {"x": FEEDS["x"] * 2, "labels": FEEDS["labels"]}
    v2 = {"w1": v["w1"] * 3}
    hess = hessian(g, other, inputs=["w1"], outputs=["loss"])["hessian"]["loss"]["w1"]["w1"]
    again = hvp(g, other, v2, outputs=["loss"])
    np.testing.assert_allclose(again["hvp"]["w1"], np.einsum("abij,ij->ab", hess, v2["w1"]),
                               rtol=1e-10, atol=1e-12)
    assert not np.allclose(again["gradient"]["w1"], first["gradient"]["w1"])
    with pytest.raises(EngineError) as info:
        hvp(g, FEEDS, {"w1": np.zeros((2, 2))}, outputs=["loss"])
    assert info.value.loc == ("vectors", "w1")
    with pytest.raises(EngineError) as info:
        hvp(g, {**FEEDS, "nope": np.zeros(2)}, v, outputs=["loss"])
    assert info.value.loc == ("feeds", "nope")
    with pytest.raises(EngineError, match="only placeholders and variables") as info:
        hvp(g, {**FEEDS, "loss": np.zeros(())}, v, outputs=["loss"])
    assert info.value.loc == ("feeds", "loss")
    with pytest.raises(EngineError) as info:
        hvp(g, {**FEEDS, "x": np.zeros((5, 3))}, v, outputs=["loss"])
    assert info.value.loc == ("feeds", "x")


def test_repeated_jvp_and_vjp_calls_take_their_new_seeds() -> None:
    """jvp's seeds align with the inputs, vjp's with the outputs: a repeated call (straight
    to the plan) feeds each its own new value, and a seed of another shape is refused."""
    g = _mlp()
    jac = {x: _numeric_jacobian(g, "xent", x, BASE) for x in INPUTS}
    for scale in (1.0, -2.0):
        v = {"w2": scale * np.ones_like(W2)}
        got = jvp(g, FEEDS, v, outputs=["xent"])["tangents"]["xent"]
        np.testing.assert_allclose(got, np.einsum("oij,ij->o", jac["w2"], v["w2"]),
                                   rtol=1e-6, atol=1e-8)
        u = {"xent": scale * np.arange(4.0)}
        cots = vjp(g, FEEDS, u, inputs=INPUTS)["cotangents"]
        for x in INPUTS:
            np.testing.assert_allclose(cots[x], np.einsum("o,oij->ij", u["xent"], jac[x]),
                                       rtol=1e-6, atol=1e-8)
    with pytest.raises(EngineError) as info:
        vjp(g, FEEDS, {"xent": np.zeros(3)}, inputs=INPUTS)
    assert info.value.loc == ("cotangents", "xent")
