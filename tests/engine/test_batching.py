"""vmap for every op of the sweep table: the batched graph on stacked examples equals
stacking the single-example answers, with the batch axis first and last, and with only
some inputs mapped (the others shared). Every op declares its batching rule in its
``defop`` (or says why it has none); there is no other table of rules."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import EngineError, Plan, run, vmap
from engine.ops import registry

from .gradcheck import one_op_graph
from .op_examples import EXAMPLES, Example

B = 3
AXES = ("first", "last", "one-mapped")


def _params() -> list[Any]:
    return [pytest.param(e, where, id=f"{e.label}-{where}")
            for examples in EXAMPLES.values() for e in examples for where in AXES]


@pytest.mark.parametrize(("e", "where"), _params())
def test_vmap_equals_stacked_examples(e: Example, where: str) -> None:
    graph, y, names = one_op_graph(e.op, e.inputs, e.attrs, e.out)
    floats = [i for i, a in enumerate(e.inputs) if a.dtype.kind == "f"]
    mapped = floats[:1] if where == "one-mapped" else floats
    if not mapped:
        pytest.skip("no floating input to map (a node of no input is never batched)")
    # examples: small multiplicative changes, so kinks, ties and signs stay where they were
    per_example = [[a * (1 + 0.01 * k) if i in mapped else a for i, a in enumerate(e.inputs)]
                   for k in range(B)]
    want = np.stack([run(graph, [y], dict(zip(names, xs, strict=True)))[0]
                     for xs in per_example])
    axis = 0 if where != "last" else -1
    feeds = {names[i]: np.stack([xs[i] for xs in per_example], axis=axis) for i in mapped}
    feeds.update({names[i]: a for i, a in enumerate(e.inputs) if i not in mapped})
    batched, refs = vmap(graph, {names[i]: axis for i in mapped}, B, [y])
    (got,) = Plan(batched, [refs[y]]).run(feeds)
    assert got.shape == want.shape and got.dtype == want.dtype, e.label
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=e.label)


def test_a_fetch_of_shared_inputs_only_is_broadcast() -> None:
    from engine import Graph

    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
                     {"name": "w", "op": "placeholder", "shape": [2], "dtype": "float64"},
                     {"name": "ew", "op": "exp", "inputs": ["w"]},
                     {"name": "y", "op": "mul", "inputs": ["x", "ew"]}])
    batched, refs = vmap(g, {"x": 1}, 4, ["y", "ew"])
    x, w = np.arange(8.0).reshape(2, 4), np.array([0.5, -0.5])
    y, ew = Plan(batched, [refs["y"], refs["ew"]]).run({"x": x, "w": w})
    np.testing.assert_allclose(y, x.T * np.exp(w))
    np.testing.assert_allclose(ew, np.broadcast_to(np.exp(w), (4, 2)))
    assert "ew" in batched.by_name  # the shared node is kept once, under its name


@pytest.mark.parametrize(("mapped", "loc"), [({"nope": 0}, ("mapped", "nope")),
                                             ({"x": 2}, ("mapped", "x"))])
def test_bad_in_axes_name_the_leaf(mapped: dict[str, int], loc: tuple) -> None:
    from engine import Graph

    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
                     {"name": "y", "op": "exp", "inputs": ["x"]}])
    with pytest.raises(EngineError) as info:
        vmap(g, mapped, 3, ["y"])
    assert info.value.loc == loc


@pytest.mark.parametrize("params_mapped", [True, False])
def test_gather_with_per_example_indices(params_mapped: bool) -> None:
    """Integer indices mapped too (the sweep maps floats only)."""
    from engine import Graph

    g = Graph.build([{"name": "p", "op": "placeholder", "shape": [2, 4, 3], "dtype": "float64"},
                     {"name": "i", "op": "placeholder", "shape": [2], "dtype": "int64"},
                     {"name": "y", "op": "gather", "inputs": ["p", "i"], "attrs": {"axis": 1}}])
    rng = np.random.default_rng(4)
    ps = rng.normal(size=(B, 2, 4, 3))
    idx = np.array([[0, 3], [2, 2], [1, 0]])
    mapped = {"p": 0, "i": 0} if params_mapped else {"i": 0}
    feeds = {"p": ps if params_mapped else ps[0], "i": idx}
    batched, refs = vmap(g, mapped, B, ["y"])
    (got,) = Plan(batched, [refs["y"]]).run(feeds)
    want = np.stack([np.take(ps[b] if params_mapped else ps[0], idx[b], axis=1)
                     for b in range(B)])
    np.testing.assert_array_equal(got, want)


def test_every_op_declares_a_batch_rule_or_says_why_not() -> None:
    """The coverage check (``defop`` refuses an op with neither, and both)."""
    silent = sorted(op.name for op in registry.all_ops()
                    if op.batch is None and not op.unbatchable)
    assert not silent, f"ops with no batch rule and no reason: {silent}"
    unbatchable = {op.name for op in registry.all_ops() if op.batch is None}
    assert all(registry.get(n).max_inputs == 0 for n in unbatchable), unbatchable
    with pytest.raises(TypeError, match="batch rule"):
        registry.OpDef(name="no_rule", infer=lambda specs, attrs: specs[0], forward=abs)


def test_an_unbatchable_op_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from engine import Graph

    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
                     {"name": "y", "op": "exp", "inputs": ["x"]}])
    real = registry.get
    exp = dataclasses.replace(real("exp"), batch=None, unbatchable="for this test")
    monkeypatch.setattr(registry, "get", lambda name: exp if name == "exp" else real(name))
    with pytest.raises(EngineError, match=r"exp cannot be batched \(for this test\)"):
        vmap(g, {"x": 0}, 3, ["y"])


@pytest.mark.parametrize("op", ["conv2d", "conv2d_backprop_input", "conv2d_backprop_filter",
                                "conv2d_transpose"])
def test_per_example_images_and_filters_are_one_batched_gemm(op: str) -> None:
    """Both operands batched: matmul over patches, never a convolution over B C channels
    (a block-diagonal filter, B times the work)."""
    (e, *_) = EXAMPLES[op]
    graph, y, names = one_op_graph(e.op, e.inputs, e.attrs, e.out)
    batched, _ = vmap(graph, {names[0]: 0, names[1]: 0}, B, [y])
    ops = {n.op for n in batched.nodes}
    assert "matmul" in ops and not ops & {"conv2d", "conv2d_backprop_input",
                                          "conv2d_backprop_filter", "conv2d_transpose"}, \
        sorted(ops)
