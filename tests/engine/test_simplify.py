"""engine.simplify: each rewrite fires and keeps values; over every op's example the
simplified gradient graph gives the unsimplified one's answers (and that one is checked
against central differences in test_every_op)."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, GraphBuilder, Plan, compute_gradients, gradients, rewrites
from engine.simplify import simplify

from .gradcheck import numeric_vjp, one_op_graph
from .op_examples import Example
from .test_every_op import _feeds, _params, _weighted_sum_graph

X = np.array([0.5, -1.5, 2.0, np.nan, np.inf])


def _graph(*nodes: dict) -> Graph:
    return Graph.build([{"name": "x", "op": "placeholder", "shape": [5], "dtype": "float64"},
                        *nodes])


def _check(graph: Graph, out: str) -> Graph:
    """Simplify everything but x; the value of ``out`` is unchanged (NaN/inf included)."""
    ref = (out, 0)
    simple, renamed = simplify(graph, [ref], protected={"x"})
    before = Plan(graph, [ref]).run({"x": X})[0]
    after = Plan(simple, [renamed[ref]]).run({"x": X})[0]
    np.testing.assert_array_equal(after, before)
    return simple


def test_times_one_is_dropped() -> None:
    g = _check(_graph({"name": "one", "op": "fill", "attrs": {"shape": [5], "value": 1.0,
                                                              "dtype": "float64"}},
                      {"name": "p", "op": "mul", "inputs": ["one", "x"]},
                      {"name": "y", "op": "sin", "inputs": ["p"]}), "y")
    assert [n.op for n in g.nodes] == ["placeholder", "sin"]


def test_every_product_by_the_same_ones_or_twos_is_rewritten() -> None:
    """A rule test's answer for an input is kept for the next node reading it: each
    product by the same ones goes, each by the same twos reads a 0-d two instead."""
    fill = {"op": "fill", "attrs": {"shape": [5], "dtype": "float64"}}
    g = _check(_graph({"name": "one", **fill, "attrs": {**fill["attrs"], "value": 1.0}},
                      {"name": "two", **fill, "attrs": {**fill["attrs"], "value": 2.0}},
                      {"name": "s", "op": "sin", "inputs": ["x"]},
                      {"name": "p", "op": "mul", "inputs": ["x", "two"]},
                      {"name": "q", "op": "mul", "inputs": ["s", "two"]},
                      {"name": "u", "op": "mul", "inputs": ["one", "p"]},
                      {"name": "v", "op": "mul", "inputs": ["q", "one"]},
                      {"name": "y", "op": "add", "inputs": ["u", "v"]}), "y")
    assert [n.op for n in g.nodes].count("mul") == 2  # p and q, by a 0-d two
    assert not [n for n in g.nodes if ("one", 0) in n.inputs]


def test_times_one_that_broadcasts_is_kept() -> None:
    g = _graph({"name": "one", "op": "fill", "attrs": {"shape": [2, 5], "value": 1.0,
                                                       "dtype": "float64"}},
               {"name": "p", "op": "mul", "inputs": ["x", "one"]},
               {"name": "y", "op": "sin", "inputs": ["p"]})
    assert "mul" in [n.op for n in _check(g, "y").nodes]


def test_identity_is_dropped() -> None:
    g = _check(_graph({"name": "i", "op": "identity", "inputs": ["x"]},
                      {"name": "y", "op": "sin", "inputs": ["i"]}), "y")
    assert [n.op for n in g.nodes] == ["placeholder", "sin"]


def test_common_subexpressions_are_shared() -> None:
    g = _check(_graph({"name": "a", "op": "sin", "inputs": ["x"]},
                      {"name": "b", "op": "sin", "inputs": ["x"]},
                      {"name": "y", "op": "add", "inputs": ["a", "b"]}), "y")
    assert [n.op for n in g.nodes] == ["placeholder", "sin", "add"]


def test_a_twin_found_once_its_input_is_renamed_is_shared() -> None:
    """A node reading a renamed tensor (b reads x * 1, now x) is visited, not kept as it
    is: it becomes a twin of a and reads it; c, plain, is the twin of b and reads a too."""
    g = _check(_graph({"name": "one", "op": "fill", "attrs": {"shape": [5], "value": 1.0,
                                                              "dtype": "float64"}},
                      {"name": "p", "op": "mul", "inputs": ["x", "one"]},
                      {"name": "a", "op": "sin", "inputs": ["x"]},
                      {"name": "b", "op": "sin", "inputs": ["p"]},
                      {"name": "c", "op": "sin", "inputs": ["p"]},
                      {"name": "s", "op": "add", "inputs": ["b", "c"]},
                      {"name": "y", "op": "add", "inputs": ["a", "s"]}), "y")
    assert [n.op for n in g.nodes] == ["placeholder", "sin", "add", "add"]
    assert g.node("s").inputs == (("a", 0), ("a", 0))


def test_constants_fold() -> None:
    g = _check(_graph({"name": "c", "op": "constant", "value": 3.0, "dtype": "float64"},
                      {"name": "one", "op": "constant", "value": 1.0, "dtype": "float64"},
                      {"name": "e", "op": "sub", "inputs": ["c", "one"]},
                      {"name": "y", "op": "pow", "inputs": ["x", "e"]}), "y")
    assert g.node("e").op == "constant" and g.node("e").value == 2.0


def test_dead_nodes_are_removed_but_protected_ones_kept() -> None:
    graph = _graph({"name": "dead", "op": "cos", "inputs": ["x"]},
                   {"name": "y", "op": "sin", "inputs": ["x"]})
    assert "dead" not in _check(graph, "y").by_name
    kept, _ = simplify(graph, [("y", 0)], protected={"x", "dead"})
    assert "dead" in kept.by_name


def test_returned_gradient_of_cube_has_no_dead_nodes() -> None:
    """d(x**3)/dx: the exponent's gradient is not asked for and must not be returned."""
    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float64"},
                     {"name": "c", "op": "constant", "value": 3.0, "dtype": "float64"},
                     {"name": "y", "op": "pow", "inputs": ["x", "c"]}])
    x = np.array([1.0, -2.0, 3.0])
    out = compute_gradients(g, {"x": x}, ["y"], ["x"], return_graph=True)
    np.testing.assert_allclose(out.gradients[0], 3 * x**2)
    assert out.graph is not None and out.gradient_nodes is not None
    assert len(out.graph) <= 7
    needed = {out.gradient_nodes[0]}
    for n in reversed(out.graph.nodes):
        if n.name in needed:
            needed.update(r[0] for r in n.inputs)
    assert needed | set(g.by_name) == set(out.graph.by_name)


def _same_simplified(graph: Graph, xs: list[str], feeds: dict, dialect: str) -> None:
    """The gradients and the loss, planned from the simplified graph (forward: the user's
    nodes recomputed too) and from the raw one, agree to float rounding."""
    if any(d is None for n in graph.nodes for s in n.outputs for d in s.shape):
        pytest.skip("unknown dimensions: compute_gradients specializes first")
    result = gradients(graph, ["loss"], xs, dialect=dialect)
    grads = [g for g in result.grads if g is not None]
    fetches = [*grads, ("loss", 0)]
    simple, renamed = simplify(result.graph, fetches, protected=graph.by_name, forward=True)
    before = Plan(result.graph, fetches).run(feeds)
    after = Plan(simple, [renamed[g] for g in fetches]).run(feeds)
    for b, a in zip(before, after, strict=True):
        tol = 1e-12 if np.asarray(b).dtype == np.float64 else 1e-5
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


@pytest.mark.parametrize(("e", "dialect"), _params(differentiable=True, both_dialects=True))
def test_every_op_same_gradients_simplified(e: Example, dialect: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """sum(w * op(x)): a random seed on the op (the sweep's own loss)."""
    monkeypatch.setattr(rewrites, "GEMM_WORK", 0)
    graph, names = _weighted_sum_graph(e)
    _same_simplified(graph, [names[i] for i in e.wrt], _feeds(e, names), dialect)


@pytest.mark.parametrize(("e", "dialect"), _params(differentiable=True))
def test_every_op_same_gradients_simplified_ones_seed(e: Example, dialect: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """sum(op(x)): the op's VJP meets a broadcast ones cotangent, where the rules for
    broadcasts and constant operands fire (on the examples' small matmuls too)."""
    monkeypatch.setattr(rewrites, "GEMM_WORK", 0)
    graph, y, names = one_op_graph(e.op, e.inputs, e.attrs, e.out)
    graph = Graph.build([*graph.to_spec()["nodes"],
                         {"name": "loss", "op": "sum", "inputs": [y]}])
    _same_simplified(graph, [names[i] for i in e.wrt], _feeds(e, names), dialect)


# -- the rules that build nodes: values, central differences, no GEMM left ----------------

_RNG = np.random.default_rng(13)


def _matmul_loss(a: tuple, b: tuple, ta: bool, tb: bool, reduce: list[dict]) -> Graph:
    """loss = a chain of sums (``reduce``: their attrs) of matmul(A, B)."""
    nodes = [{"name": "A", "op": "placeholder", "shape": list(a), "dtype": "float64"},
             {"name": "B", "op": "placeholder", "shape": list(b), "dtype": "float64"},
             {"name": "C", "op": "matmul", "inputs": ["A", "B"],
              "attrs": {"transpose_a": ta, "transpose_b": tb}}]
    prev = "C"
    for i, attrs in enumerate(reduce):
        nodes.append({"name": f"r{i}", "op": "sum", "inputs": [prev], "attrs": attrs})
        prev = f"r{i}"
    nodes.append({"name": "loss", "op": "sum", "inputs": [prev]})
    return Graph.build(nodes)


def _no_gemm(graph: Graph, fetches: list) -> bool:
    """No matmul the fetches need has all of M, K and N above 1."""
    needed = {r[0] for r in fetches}
    for n in reversed(graph.nodes):
        if n.name in needed:
            needed.update(r[0] for r in n.inputs)
            if n.op == "matmul":
                a = graph.spec(n.inputs[0]).shape
                k = a[-2] if n.attrs["transpose_a"] else a[-1]
                if min(n.spec.shape[-2], n.spec.shape[-1], k) > 1:
                    return False
    return True


MATMULS = [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2))]


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize(("a", "b"), MATMULS)
@pytest.mark.parametrize("reduce", [[], [{"axis": -1}], [{"axis": -2, "keepdims": True}],
                                    [{"axis": [-1, -2]}]], ids=["all", "cols", "rows", "both"])
def test_sum_of_matmul_needs_no_gemm(a: tuple, b: tuple, ta: bool, tb: bool,
                                     reduce: list[dict], monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    """sum(A @ B) (over all, rows, columns): the value and both gradients by central
    differences, from a plan with no GEMM in it (small matmuls rewritten, for the test)."""
    monkeypatch.setattr(rewrites, "GEMM_WORK", 0)
    a_shape = (*a[:-2], a[-1], a[-2]) if ta else a
    b_shape = (*b[:-2], b[-1], b[-2]) if tb else b
    graph = _matmul_loss(a_shape, b_shape, ta, tb, reduce)
    arrays = [_RNG.normal(size=a_shape), _RNG.normal(size=b_shape)]

    def f(xs: list) -> np.ndarray:
        x, y = (np.swapaxes(v, -1, -2) if t else v for v, t in zip(xs, (ta, tb)))
        return np.sum(x @ y)

    out = compute_gradients(graph, {"A": arrays[0], "B": arrays[1]}, ["loss"], ["A", "B"],
                            return_values=True)
    np.testing.assert_allclose(out.values[0], f(arrays), rtol=1e-12)
    for i, grad in enumerate(out.gradients):
        np.testing.assert_allclose(grad, numeric_vjp(f, arrays, np.ones(()), i),
                                   rtol=1e-7, atol=1e-8)
    result = gradients(graph, ["loss"], ["A", "B"])
    fetches = [*result.grads, ("loss", 0)]
    simple, renamed = simplify(result.graph, fetches, protected=graph.by_name, forward=True)
    assert _no_gemm(simple, [renamed[r] for r in fetches])
    kept, _ = simplify(result.graph, fetches, protected=graph.by_name)  # a returned graph
    assert kept.node("loss").inputs == graph.node("loss").inputs  # the user's, unchanged


def _run_both(nodes: list[dict], feeds: dict, out: str = "y") -> tuple[Graph, list, list]:
    """The graph of ``nodes`` raw and simplified (all but placeholders), and both answers."""
    graph = Graph.build(nodes)
    ref = (out, 0)
    simple, renamed = simplify(graph, [ref], protected=graph.inputs)
    return (simple, Plan(graph, [ref]).run(feeds), Plan(simple, [renamed[ref]]).run(feeds))


def _p(name: str, shape: list, dtype: str = "float64") -> dict:
    return {"name": name, "op": "placeholder", "shape": shape, "dtype": dtype}


def test_small_matmuls_are_left_alone() -> None:
    """W1's sum(x @ y) of a 2x3 and a 3x3: two steps, cheaper than the rewrite's four."""
    graph = _matmul_loss((2, 3), (3, 3), False, False, [])
    result = gradients(graph, ["loss"], ["A", "B"])
    fetches = [*result.grads, ("loss", 0)]
    simple, _ = simplify(result.graph, fetches, protected=graph.by_name, forward=True)
    assert [n.op for n in simple.nodes].count("matmul") == 3


def test_matmul_against_a_broadcast_is_an_outer_product(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(rewrites, "GEMM_WORK", 0)
    v, b = _RNG.normal(size=(3, 1)), _RNG.normal(size=(4, 5))
    simple, before, after = _run_both(
        [_p("v", [3, 1]), _p("b", [4, 5]),
         {"name": "a", "op": "broadcast_to", "inputs": ["v"], "attrs": {"shape": [3, 4]}},
         {"name": "y", "op": "matmul", "inputs": ["a", "b"]}], {"v": v, "b": b})
    np.testing.assert_allclose(after[0], v * b.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(after[0], before[0], rtol=1e-12)
    assert _no_gemm(simple, [("y", 0)])


@pytest.mark.parametrize(("shape", "target", "count"), [([5], [3, 5], 3), ([1, 5], [4, 5], 4),
                                                       ([5], [5], 1)])
def test_sum_to_shape_of_a_broadcast_is_the_source_times_the_count(
        shape: list, target: list, count: int) -> None:
    x = np.array([0.5, -1.5, 2.0, np.nan, np.inf]).reshape(shape)
    simple, before, after = _run_both(
        [_p("x", shape),
         {"name": "b", "op": "broadcast_to", "inputs": ["x"], "attrs": {"shape": target}},
         {"name": "y", "op": "sum_to_shape", "inputs": ["b"], "attrs": {"shape": shape}}],
        {"x": x})
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[0], x * count)
    assert "broadcast_to" not in [n.op for n in simple.nodes]


def test_sum_of_a_broadcast_scalar_is_the_scalar_times_the_count() -> None:
    simple, before, after = _run_both(
        [_p("x", []),
         {"name": "b", "op": "broadcast_to", "inputs": ["x"], "attrs": {"shape": [6, 7]}},
         {"name": "y", "op": "sum", "inputs": ["b"], "attrs": {"keepdims": True}}],
        {"x": np.array(0.3)})
    np.testing.assert_allclose(after[0], before[0], rtol=1e-14)
    assert after[0].shape == (1, 1)
    assert [n.op for n in simple.nodes].count("sum") == 0


@pytest.mark.parametrize(("first", "second", "left"), [
    ([1, 0, 2], [1, 0, 2], []), ([1, 2, 0], [2, 0, 1], []), ([1, 0, 2], [0, 2, 1], [[1, 2, 0]]),
    (None, None, [])])
def test_transpose_of_transpose_is_one_transpose(first, second, left) -> None:
    x = _RNG.normal(size=(2, 3, 4))
    simple, before, after = _run_both(
        [_p("x", [2, 3, 4]),
         {"name": "t", "op": "transpose", "inputs": ["x"], "attrs": {"perm": first}},
         {"name": "y", "op": "transpose", "inputs": ["t"], "attrs": {"perm": second}},
         {"name": "z", "op": "sin", "inputs": ["y"]}], {"x": x}, out="z")
    np.testing.assert_array_equal(after[0], before[0])
    assert [list(n.attrs["perm"]) for n in simple.nodes if n.op == "transpose"] == left


def test_reshape_of_reshape_is_one_reshape_or_none() -> None:
    x = _RNG.normal(size=(2, 6))
    for final, left in (([3, 4], 1), ([2, 6], 0)):
        simple, before, after = _run_both(
            [_p("x", [2, 6]),
             {"name": "r", "op": "reshape", "inputs": ["x"], "attrs": {"shape": [4, 3]}},
             {"name": "q", "op": "reshape", "inputs": ["r"], "attrs": {"shape": [12]}},
             {"name": "y", "op": "reshape", "inputs": ["q"], "attrs": {"shape": final}},
             {"name": "z", "op": "sin", "inputs": ["y"]}], {"x": x}, out="z")
        np.testing.assert_array_equal(after[0], before[0])
        assert [n.op for n in simple.nodes].count("reshape") == left


@pytest.mark.parametrize(("op", "zero", "dtype", "dropped"), [
    ("add", -0.0, "float64", True),   # x + -0 = x, -0 included
    ("add", 0.0, "float64", False),   # -0 + +0 = +0: kept
    ("sub", 0.0, "float64", True),    # x - +0 = x + -0
    ("sub", -0.0, "float64", False),  # x - -0 = x + +0: kept
    ("add", 0, "int64", True),        # integers have one zero
])
def test_plus_zero_only_where_exact(op: str, zero: float, dtype: str, dropped: bool) -> None:
    x = np.array([-0.0, 0.0, 1.5, -np.inf, np.nan]) if dtype == "float64" else np.arange(5)
    simple, before, after = _run_both(
        [_p("x", [5], dtype),
         {"name": "z", "op": "fill", "attrs": {"shape": [5], "value": zero, "dtype": dtype}},
         {"name": "y", "op": op, "inputs": ["x", "z"]},
         {"name": "w", "op": "neg", "inputs": ["y"]}], {"x": x.astype(dtype)}, out="w")
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(np.signbit(after[0]), np.signbit(before[0]))
    assert (op not in [n.op for n in simple.nodes]) == dropped


def test_autodiffs_zeros_like_is_a_symbolic_zero_but_the_users_is_kept() -> None:
    """An appended x + zeros_like(.) (a tangent autodiff gave no input) is x, as the peers'
    symbolic zeros give it (-0 stays -0); the user's own x + zeros_like(.) is kept."""
    nodes = [_p("x", [3]), {"name": "z", "op": "zeros_like", "inputs": ["x"]},
             {"name": "y", "op": "add", "inputs": ["x", "z"]}]
    graph = Graph.build(nodes)
    x = np.array([-0.0, 1.0, np.nan])
    appended, renamed = simplify(graph, [("y", 0)], protected=["x"])
    assert renamed[("y", 0)] == ("x", 0) or appended.node("y").op == "identity"
    got = Plan(appended, [renamed[("y", 0)]]).run({"x": x})[0]
    assert np.signbit(got[0]) and np.isnan(got[2])
    users, renamed = simplify(graph, [("y", 0)], protected=graph.by_name, forward=True)
    assert users.node("y").op == "add"
    assert not np.signbit(Plan(users, [renamed[("y", 0)]]).run({"x": x})[0][0])


def test_an_appended_twin_of_a_users_node_reads_it() -> None:
    graph = Graph.build([_p("x", [3]), {"name": "s", "op": "sin", "inputs": ["x"]},
                         {"name": "t", "op": "sin", "inputs": ["x"]},
                         {"name": "y", "op": "mul", "inputs": ["s", "t"]}])
    simple, _ = simplify(graph, [("y", 0)], protected=["x", "s"])
    assert simple.node("y").inputs == (("s", 0), ("s", 0))


def _conv_loss(image: list, kernel: list, **attrs) -> Graph:
    return Graph.build([_p("x", image), _p("w", kernel),
                        {"name": "y", "op": "conv2d", "inputs": ["x", "w"], "attrs": attrs},
                        {"name": "r", "op": "tanh", "inputs": ["y"]},
                        {"name": "loss", "op": "sum", "inputs": ["r"]}])


def _conv_ops(image: list, kernel: list, **attrs) -> list[str]:
    """The simplified plan's ops for the gradients of sum(tanh(conv2d)) wrt x and w,
    checked against the unsimplified plan's answers."""
    graph = _conv_loss(image, kernel, **attrs)
    rng = np.random.default_rng(3)
    feeds = {"x": rng.standard_normal(image), "w": rng.standard_normal(kernel)}
    _same_simplified(graph, ["x", "w"], feeds, "tensorflow")
    result = gradients(graph, ["loss"], ["x", "w"])
    fetches = [*result.grads, ("loss", 0)]
    simple, _ = simplify(result.graph, fetches, protected=graph.by_name, forward=True)
    return [n.op for n in simple.nodes]


@pytest.mark.parametrize("attrs", [{"padding": "SAME"},
                                   {"padding": "VALID", "strides": 2, "dilations": 1},
                                   {"padding": "SAME", "dilations": 2}])
def test_conv2d_and_its_filter_gradient_share_one_patch_matrix(attrs: dict) -> None:
    ops = _conv_ops([2, 9, 9, 8], [3, 3, 8, 8], **attrs)
    assert ops.count("conv2d_patches") == 1
    assert "conv2d" not in ops and "conv2d_backprop_filter" not in ops
    assert ops.count("conv2d_backprop_input") == 1


def test_small_convolutions_are_left_alone() -> None:
    ops = _conv_ops([1, 4, 4, 2], [3, 3, 2, 3], padding="SAME")
    assert "conv2d_patches" not in ops and ops.count("conv2d") == 1


def test_a_returned_gradient_graph_keeps_its_convolutions() -> None:
    """Drawn or exported to ONNX, a returned graph holds no internal patch op."""
    graph = _conv_loss([2, 9, 9, 8], [3, 3, 8, 8], padding="SAME")
    result = gradients(graph, ["loss"], ["x", "w"])
    simple, _ = simplify(result.graph, list(result.grads), protected=graph.by_name)
    ops = [n.op for n in simple.nodes]
    assert "conv2d_patches" not in ops and "conv2d_backprop_filter" in ops


def _xent_hvp(axis: int) -> tuple[Graph, list, dict]:
    """H v of mean(ce(labels, x @ w)) wrt w by forward over reverse (the /hvp program):
    the cross-entropy's JVP needs the softmax of its logits."""
    from engine.transforms.derivatives import hvp_graph

    shape, x_shape = [3, 4, 5], [3, 4, 2]
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": x_shape, "dtype": "float64"},
        {"name": "w", "op": "placeholder", "shape": [2, 5], "dtype": "float64"},
        {"name": "labels", "op": "placeholder", "shape": shape, "dtype": "float64"},
        {"name": "logits", "op": "matmul", "inputs": ["x", "w"]},
        {"name": "ce", "op": "softmax_cross_entropy_with_logits",
         "inputs": ["labels", "logits"], "attrs": {"axis": axis}},
        {"name": "loss", "op": "mean", "inputs": ["ce"]}])
    seeded, grads = hvp_graph(graph, [("w", 0)], ("loss", 0), [True])
    rng = np.random.default_rng(5)
    labels = rng.uniform(0.1, 1.0, shape)
    feeds = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal([2, 5]),
             "labels": labels / labels.sum(axis=axis, keepdims=True),
             seeded.seeds[0]: rng.standard_normal([2, 5])}
    return seeded.graph, [("loss", 0), *grads, *seeded.results], feeds


@pytest.mark.parametrize("axis", [-1, 1])
def test_a_plans_softmax_of_a_cross_entropys_logits_is_its_third_output(axis: int) -> None:
    graph, fetches, feeds = _xent_hvp(axis)
    plain, renamed = simplify(graph, fetches, protected={"x", "w", "labels"})
    want = Plan(plain, [renamed[f] for f in fetches]).run(feeds)
    assert "softmax" in [n.op for n in plain.nodes]  # a returned graph keeps its softmax
    simple, renamed = simplify(graph, fetches, protected={"x", "w", "labels"}, forward=True)
    ops = [n.op for n in simple.nodes]
    assert "softmax" not in ops and ops.count("softmax_cross_entropy_and_softmax") == 1
    got = Plan(simple, [renamed[f] for f in fetches]).run(feeds)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_softmax_along_another_axis_is_its_own() -> None:
    graph, fetches, _ = _xent_hvp(-1)
    b = GraphBuilder(graph, prefix="other")
    other = b.emit("softmax", [b.tensor(("logits", 0))], {"axis": 0})
    graph = b.finish()
    simple, _ = simplify(graph, [*fetches, other.ref], protected={"x", "w", "labels"},
                         forward=True)
    assert [n.op for n in simple.nodes].count("softmax") == 1


@pytest.mark.parametrize("op", ["mul", "add", "sub", "div"])
@pytest.mark.parametrize("value,rewritten", [(0.25, True), (np.inf, True), (-0.0, True),
                                             (np.nan, False),
                                             ("mixed zeros", False), ("two values", False)])
def test_a_constant_of_one_value_is_a_scalar(op: str, value, rewritten: bool) -> None:
    """x op c, c a [2, 5] constant of one value: x op c0, c0 0-d (the same bits, x's NaN
    and inf included; -0 next to +0, or two values, is not one value, and NaN is left
    alone), and only where x has the result's shape."""
    c = np.full((2, 5), 0.25 if isinstance(value, str) else value)
    if value == "mixed zeros":
        c = np.zeros((2, 5))
        c[1, 3] = -0.0
    elif value == "two values":
        c[0, 0] = 0.5
    x2 = np.vstack([X, -X])
    for first in (True, False):
        graph = Graph.build([
            {"name": "x", "op": "placeholder", "shape": [2, 5], "dtype": "float64"},
            {"name": "c", "op": "constant", "value": c.tolist(), "dtype": "float64"},
            {"name": "y", "op": op, "inputs": ["x", "c"] if first else ["c", "x"]}])
        ref = ("y", 0)
        simple, renamed = simplify(graph, [ref], protected={"x", "c"}, forward=True)
        before = Plan(graph, [ref]).run({"x": x2})[0]
        after = Plan(simple, [renamed[ref]]).run({"x": x2})[0]
        assert after.tobytes() == before.tobytes()
        y = simple.by_name[renamed[ref][0]]
        if y.op != op:  # x + -0, x - 0: plus_zero drops the zeros first
            assert op in ("add", "sub") and value == -0.0
            continue
        shape = simple.by_name[y.inputs[1 if first else 0][0]].value.shape
        assert (shape == ()) == rewritten, (first, shape)
    broadcast = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [5], "dtype": "float64"},
        {"name": "c", "op": "constant", "value": np.full((2, 5), 0.25).tolist(),
         "dtype": "float64"},
        {"name": "y", "op": op, "inputs": ["x", "c"]}])
    simple, renamed = simplify(broadcast, [("y", 0)], protected={"x", "c"}, forward=True)
    assert simple.by_name[renamed[("y", 0)][0]].inputs == (("x", 0), ("c", 0))


def test_only_an_input_of_a_known_value_op_can_pass_a_rule_test() -> None:
    """``simplify`` asks ``rewrites.NEEDS``' tests only of inputs whose op is in
    ``KNOWN_VALUES``: a node of any other op (holding a value of ones, zeros and one
    value, as a constant would) passes none of them."""
    from engine.graph import Node
    from engine.ops import registry
    from engine.ops.registry import TensorSpec

    spec = (TensorSpec((3,), "float64"),)
    for value in (np.ones(3), np.zeros(3), np.full(3, 2.0)):
        for opdef in registry.all_ops():
            if opdef.name in rewrites.KNOWN_VALUES:
                continue
            node = Node("n", opdef.name, (), {"value": value[0]}, spec, value=value)
            for op, test in rewrites.NEEDS.items():
                assert not test(node), (op, opdef.name)


@pytest.mark.parametrize("value,rewritten", [(0.25, True), ("0-d", False)])
def test_a_users_node_is_rebuilt_for_a_plan_when_an_earlier_constant_passes_its_test(
        value, rewritten: bool) -> None:
    """For a plan, the user's nodes are tried for a rebuild only once an earlier node of
    a known value passes the test of their op (``_Pass.keep_leading``): the constant of one
    value read by a later product makes it x * c0 (after a node of another op and a
    product the test does not arm), a 0-d constant (the chain's eps) leaves it alone."""
    c = np.float64(0.25) if value == "0-d" else np.full((2, 5), value)
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [2, 5], "dtype": "float64"},
        {"name": "s", "op": "sin", "inputs": ["x"]},
        {"name": "m", "op": "mul", "inputs": ["s", "x"]},
        {"name": "c", "op": "constant", "value": c.tolist(), "dtype": "float64"},
        {"name": "y", "op": "mul", "inputs": ["m", "c"]}])
    ref = ("y", 0)
    simple, renamed = simplify(graph, [ref], protected=graph.by_name, forward=True)
    x = np.vstack([X, -X])
    before = Plan(graph, [ref]).run({"x": x})[0]
    assert Plan(simple, [renamed[ref]]).run({"x": x})[0].tobytes() == before.tobytes()
    y = simple.by_name[renamed[ref][0]]
    assert (simple.by_name[y.inputs[1][0]].value.shape == ()) == (rewritten or value == "0-d")
    assert (y is graph.by_name["y"]) != rewritten


def test_pruning_drops_the_dead_nodes_from_the_graph_and_its_index() -> None:
    """The nodes nothing kept (nor the graph's output, d2) depends on are dropped, from
    the nodes and from ``by_name`` (the pass's own index, less the dropped names)."""
    graph = _graph({"name": "d0", "op": "cos", "inputs": ["x"]},
                   {"name": "s", "op": "sin", "inputs": ["x"]},
                   {"name": "d1", "op": "exp", "inputs": ["d0"]},
                   {"name": "y", "op": "tanh", "inputs": ["s"]},
                   {"name": "d2", "op": "neg", "inputs": ["y"]})
    for prune in (True, False):
        simple, renamed = simplify(graph, [("y", 0)], protected={"x"}, prune=prune)
        names = [n.name for n in simple.nodes]
        assert names == (["x", "s", "y", "d2"] if prune else [n.name for n in graph.nodes])
        assert simple.by_name == {n.name: n for n in simple.nodes}
        assert renamed == {("y", 0): ("y", 0)}
