"""vmap for every op of the sweep table: the batched graph on stacked examples equals
stacking the single-example answers, with the batch axis first and last, and with only
some inputs mapped (the others shared). Ops without a batching rule are reported as
expected failures, "no batching rule yet", until they get one."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import EngineError, Plan, run, vmap
from engine.ops import registry
from engine.transforms.vmap import RULES

from .gradcheck import one_op_graph
from .op_examples import EXAMPLES, Example

B = 3
AXES = ("first", "last", "one-mapped")


def _params() -> list[Any]:
    return [pytest.param(e, where, id=f"{e.label}-{where}")
            for examples in EXAMPLES.values() for e in examples for where in AXES]


def _has_rule(op: str) -> bool:
    return op in RULES or getattr(registry.get(op), "batch", None) is not None


@pytest.mark.parametrize(("e", "where"), _params())
def test_vmap_equals_stacked_examples(e: Example, where: str) -> None:
    graph, y, names = one_op_graph(e.op, e.inputs, e.attrs, e.out)
    floats = [i for i, a in enumerate(e.inputs) if a.dtype.kind == "f"]
    mapped = floats[:1] if where == "one-mapped" else floats
    if not mapped:
        pytest.skip("no floating input to map (a node of no input is never batched)")
    if not _has_rule(e.op):
        pytest.xfail("no batching rule yet")
    # examples: small multiplicative changes, so kinks, ties and signs stay where they were
    per_example = [[a * (1 + 0.01 * k) if i in mapped else a for i, a in enumerate(e.inputs)]
                   for k in range(B)]
    want = np.stack([run(graph, [y], dict(zip(names, xs, strict=True)))[0]
                     for xs in per_example])
    axis = 0 if where != "last" else -1
    feeds = {names[i]: np.stack([xs[i] for xs in per_example], axis=axis) for i in mapped}
    feeds.update({names[i]: a for i, a in enumerate(e.inputs) if i not in mapped})
    try:
        batched, refs = vmap(graph, {names[i]: axis for i in mapped}, B, [y])
    except EngineError as exc:
        if "no rule yet" in str(exc) or "no batching rule yet" in str(exc):
            pytest.xfail(str(exc))
        raise
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


MOVED_TO_DECLARATIONS = (
    "neg", "abs", "exp", "log", "sigmoid", "relu", "relu_grad", "gelu", "cast", "add", "sub",
    "mul", "div", "pow", "maximum", "atan2", "equal", "less", "logical_and", "logical_not",
    "where", "add_n", "zeros_like", "ones_like", "sum", "mean", "max", "min", "prod",
    "logsumexp", "prod_others", "reduction_count",
)


@pytest.mark.parametrize("op", MOVED_TO_DECLARATIONS)
def test_elementwise_and_reductions_batch_in_their_declaration(op: str) -> None:
    assert registry.get(op).batch is not None and op not in RULES


def test_the_by_name_table_never_shadows_a_declared_rule() -> None:
    both = sorted(op for op in RULES if registry.get(op).batch is not None)
    assert not both, f"rules both declared and registered by name: {both}"
