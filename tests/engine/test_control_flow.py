"""cond and while_loop beyond the every-op sweep: validation of subgraphs (each misfit named
by node and attr), the work limit, content keys and round trips, nesting, the 50-step RNN
against central differences and forward mode, and vmap with shared and per-example
predicates."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pytest

from engine import (
    Graph,
    GraphError,
    LimitError,
    Plan,
    compute_gradients,
    evaluate,
    gradients,
    jvp,
    run,
)

from ..peers.scenarios_cf import rnn
from .cases import graph_of, tensor
from .control_examples import const, graph, node, ph
from .gradcheck import numeric_vjp


def _cond_nodes(then: dict[str, Any] | None = None, other: dict[str, Any] | None = None,
                pred: Any = True) -> list[dict[str, Any]]:
    ins = [ph("a", [3]), ph("b", [3])]
    then = then or graph([*ins, node("o", "mul", "a", "b")], ["a", "b"], ["o"])
    other = other or graph([*ins, node("o", "sin", "b")], ["a", "b"], ["o"])
    return [ph("x", [3]), ph("y", [3]), const("p", pred, "bool"),
            node("c", "cond", "p", "x", "y", then_branch=then, else_branch=other),
            node("l", "sum", "c:0")]


def _loop_nodes(limit: int = 10, body_extra: list[dict[str, Any]] | None = None,
                outputs: tuple[str, ...] = ("i1", "x1")) -> list[dict[str, Any]]:
    ins = [ph("i", [], "int32"), ph("v", [2])]
    cond = graph([*ins, const("n", 3, "int32"), node("go", "less", "i", "n")], ["i", "v"],
                 ["go"])
    body = graph([*ins, const("one", 1, "int32"), node("i1", "add", "i", "one"),
                  node("x1", "sin", "v"), *(body_extra or [])], ["i", "v"], list(outputs))
    return [ph("x", [2]), const("i0", 0, "int32"),
            node("w", "while_loop", "i0", "x", loop_vars=2, cond=cond, body=body,
                 maximum_iterations=limit),
            node("l", "sum", "w:1")]


# -- validation: the node and the attr are named ------------------------------------------------

def _refused(nodes: list[dict[str, Any]]) -> GraphError:
    with pytest.raises(GraphError) as info:
        Graph.build(nodes)
    return info.value


def test_a_branch_taking_fewer_inputs_is_named() -> None:
    then = graph([ph("a", [3]), node("o", "neg", "a")], ["a"], ["o"])
    err = _refused(_cond_nodes(then=then))
    assert err.node == "c" and err.loc == ("nodes", 3, "attrs", "then_branch")
    assert "takes 1 input(s) but the node gives it 2" in err.message


def test_a_branch_input_of_another_dtype_or_shape_is_named() -> None:
    other = graph([ph("a", [3]), ph("b", [4]), node("o", "neg", "a")], ["a", "b"], ["o"])
    err = _refused(_cond_nodes(other=other))
    assert err.loc == ("nodes", 3, "attrs", "else_branch", "inputs", 1)
    other = graph([ph("a", [3], "float32"), ph("b", [3]), node("o", "neg", "b")],
                  ["a", "b"], ["o"])
    assert "float32" in _refused(_cond_nodes(other=other)).message


def test_branches_whose_outputs_differ_are_named() -> None:
    ins = [ph("a", [3]), ph("b", [3])]
    other = graph([*ins, node("o", "sum", "b")], ["a", "b"], ["o"])
    err = _refused(_cond_nodes(other=other))
    assert err.loc == ("nodes", 3, "attrs", "else_branch", "outputs", 0)
    other = graph([*ins, node("o", "sin", "b")], ["a", "b"], ["o", "o"])
    assert "has 2 output(s) but 'then_branch' has 1" in _refused(_cond_nodes(other=other)).message


def test_a_fault_inside_a_subgraph_is_located_inside_it() -> None:
    ins = [ph("a", [3]), ph("b", [3])]
    then = graph([*ins, node("o", "reshape", "a", shape=[7])], ["a", "b"], ["o"])
    err = _refused(_cond_nodes(then=then))
    assert err.node == "c"
    assert err.loc == ("nodes", 3, "attrs", "then_branch", "nodes", 2)
    assert "'o'" in err.message


def test_a_predicate_that_is_not_a_bool_scalar_is_refused() -> None:
    nodes = _cond_nodes()
    nodes[2] = const("p", [True, False, True], "bool")
    assert _refused(nodes).loc == ("nodes", 3, "inputs", 0)


def test_a_body_that_changes_a_loop_variable_is_named() -> None:
    err = _refused(_loop_nodes(body_extra=[node("s", "sum", "v")], outputs=("i1", "s")))
    assert err.node == "w" and err.loc == ("nodes", 2, "attrs", "body", "outputs", 1)


def test_saved_values_are_the_body_s_last_outputs_per_iteration_stacked_or_not() -> None:
    """``saved`` counts the body's last outputs (a misfit names the attr); they follow
    the loop variables, and with ``stacked`` the count and rows, through the plain and
    the generated loop alike."""
    nodes = _loop_nodes()
    nodes[2]["attrs"]["saved"] = 1
    err = _refused(nodes)
    assert err.loc == ("nodes", 2, "attrs", "body", "outputs") and "1 saved" in err.message
    x = np.array([0.5, -1.0])
    want = [np.sin(x), np.sin(np.sin(x)), np.sin(np.sin(np.sin(x))), [0.0, 0.0]]
    for stacked, at in ((True, 5), (False, 2)):
        nodes = _loop_nodes(outputs=("i1", "x1", "x1"))
        nodes[2]["attrs"].update(stacked=stacked, saved=1)
        g = Graph.build(nodes)
        assert len(g.by_name["w"].outputs) == at + 1
        plan = Plan(g, [("w", at), ("w", 1)])
        for _ in range(3):  # the plain loop, then the generated one
            kept, last = plan.run({"x": x})
            np.testing.assert_allclose(kept[:4], want)
            np.testing.assert_allclose(last, want[2])
            assert kept.shape == (10, 2)


def test_maximum_iterations_is_required_and_a_variable_in_a_body_refused() -> None:
    nodes = _loop_nodes()
    del nodes[2]["attrs"]["maximum_iterations"]
    assert _refused(nodes).loc == ("nodes", 2, "attrs", "maximum_iterations")
    nodes = _loop_nodes(body_extra=[{"name": "k", "op": "variable", "value": [1.0, 2.0],
                                     "dtype": "float64"}])
    err = _refused(nodes)
    assert err.loc[:4] == ("nodes", 2, "attrs", "body") and "variable" in err.message


def test_the_work_of_a_loop_counts_against_the_node_limit_before_anything_runs() -> None:
    nodes = _loop_nodes(limit=1000)
    Graph.build(nodes, max_nodes=10_000)
    with pytest.raises(LimitError) as info:
        Graph.build(nodes, max_nodes=5000)  # 1000 x (4 cond + 5 body nodes) + 3 others
    assert info.value.node == "w" and "9003" in info.value.message


# -- keys, round trips, nesting --------------------------------------------------------------

def test_subgraphs_take_part_in_the_content_key() -> None:
    ins = [ph("a", [3]), ph("b", [3])]
    one = Graph.build(_cond_nodes())
    same = Graph.build(_cond_nodes())
    other = Graph.build(_cond_nodes(other=graph([*ins, node("o", "cos", "b")], ["a", "b"],
                                                ["o"])))
    assert one.key == same.key != other.key


def _wire(spec: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(spec, default=lambda a: a.tolist()))


def test_a_gradient_graph_with_loops_round_trips_through_json() -> None:
    case = rnn(steps=5)
    g = graph_of(case["request"]["graph"])
    feeds = {k: tensor(v, "float64") for k, v in case["request"]["feeds"].items()}
    xs = case["request"]["xs"]
    first = compute_gradients(g, feeds, ["loss"], xs, return_graph=True)
    assert first.graph is not None and first.gradient_nodes is not None
    spec = _wire(first.graph.to_spec())
    kinds = {n["op"] for n in spec["nodes"]}
    assert {"while_loop"} <= kinds
    loops = [n for n in spec["nodes"] if n["op"] == "while_loop"]
    assert any(n["attrs"].get("stacked") for n in loops)
    assert all(isinstance(n["attrs"]["body"]["nodes"], list) for n in loops)
    rebuilt = Graph.from_description(spec)
    assert rebuilt.key == first.graph.key
    again = run(rebuilt, first.gradient_nodes, feeds)
    for a, b in zip(again, first.gradients, strict=True):
        np.testing.assert_array_equal(a, b)


def _nested_conds(depth: int) -> list[dict[str, Any]]:
    """cond inside cond ``depth`` levels deep: each level is sin of the one inside."""
    inner = graph([ph("a", [2]), node("o", "sin", "a")], ["a"], ["o"])
    for _ in range(depth):
        inner = graph([ph("a", [2]), const("t", True, "bool"),
                       node("c", "cond", "t", "a", then_branch=inner,
                            else_branch=graph([ph("a", [2])], ["a"], ["a"])),
                       node("o", "sin", "c:0")], ["a"], ["o"])
    return [ph("x", [2]), const("t", True, "bool"),
            node("c", "cond", "t", "x", then_branch=inner, else_branch=inner),
            node("l", "sum", "c:0")]


def test_nested_control_flow_runs_and_differentiates_twice() -> None:
    depth = 20
    g = Graph.build(_nested_conds(depth))
    x = np.array([0.3, -0.8])
    want = x
    for _ in range(depth + 1):  # the innermost sin and one per level
        want = np.sin(want)
    np.testing.assert_allclose(run(g, ["l"], {"x": x})[0], want.sum())
    first = compute_gradients(g, {"x": x}, ["l"], ["x"], return_graph=True)

    def f(arrays: list[np.ndarray]) -> np.ndarray:
        return run(g, ["l"], {"x": arrays[0]})[0]

    np.testing.assert_allclose(first.gradients[0], numeric_vjp(f, [x], np.ones(()), 0),
                               rtol=1e-6)
    assert first.graph is not None and first.gradient_nodes is not None
    v = np.array([1.0, -2.0])
    (hvp,) = compute_gradients(first.graph, {"x": x}, [first.gradient_nodes[0]], ["x"],
                               [v]).gradients

    def grad(arrays: list[np.ndarray]) -> np.ndarray:
        return run(first.graph, [first.gradient_nodes[0]], {"x": arrays[0]})[0]

    np.testing.assert_allclose(hvp, numeric_vjp(grad, [x], v, 0), rtol=1e-5, atol=1e-8)


def test_nesting_deeper_than_the_limit_is_refused_by_name() -> None:
    from engine.graph import MAX_NESTING

    err = _refused(_nested_conds(MAX_NESTING + 1))
    assert "nest deeper" in err.message and err.node == "c"


# -- the 50-step RNN: reverse mode, forward mode, MindSpore dialect ----------------------------

@pytest.fixture(scope="module")
def rnn50() -> tuple[Graph, dict[str, np.ndarray], list[str]]:
    case = rnn()
    g = graph_of(case["request"]["graph"])
    feeds = {k: tensor(v, "float64") for k, v in case["request"]["feeds"].items()}
    return g, feeds, case["request"]["xs"]


def test_rnn_gradient_matches_central_differences(rnn50: Any) -> None:
    g, feeds, xs = rnn50
    grads = compute_gradients(g, feeds, ["loss"], xs).gradients
    for name in ("W", "b"):
        def f(arrays: list[np.ndarray], name: str = name) -> np.ndarray:
            return run(g, ["loss"], {**feeds, name: arrays[0]})[0]

        want = numeric_vjp(f, [feeds[name]], np.ones(()), 0)
        np.testing.assert_allclose(grads[xs.index(name)], want, rtol=1e-6, atol=1e-9)
    ms = compute_gradients(g, feeds, ["loss"], xs, dialect="mindspore").gradients
    for a, b in zip(grads, ms, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _counting_forward_bodies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A probe on the loops' subgraph plans: one tick per run of the RNN's forward body
    (inputs t, h, ...; two outputs, or more with its residuals, where its cond has one),
    whichever plan runs it and whether the plain loop runs it (``Plan.run`` notes each
    run) or the generated one (which notes its iterations on the body's plan); the
    backward loop's body (inputs k, ...) is not counted."""
    calls = [0]
    count = Plan.count

    def probe(self: Plan, runs: int) -> int:
        if self.graph.inputs[:2] == ("t", "h") and len(self.fetches) >= 2:
            calls[0] += runs
        return count(self, runs)

    monkeypatch.setattr(Plan, "count", probe)
    return calls


@pytest.mark.parametrize("dialect", ["tensorflow", "mindspore"])
def test_the_forward_loop_runs_once_per_gradient_request(
        rnn50: Any, dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """while_v2's accumulators: the gradient reads each iteration's loop variables from
    the one forward run (with the loss value), instead of running the loop again."""
    g, feeds, xs = rnn50
    want = run(g, ["loss"], feeds)[0]
    calls = _counting_forward_bodies(monkeypatch)
    for request in (1, 2):  # the second through the generated loops
        out = compute_gradients(g, feeds, ["loss"], xs, dialect=dialect, return_values=True)
        assert calls[0] == 50 * request, f"the forward body ran {calls[0]} times for " \
            f"{request} x 50 iterations"
        np.testing.assert_allclose(out.values[0], want, rtol=1e-12)


def test_the_second_derivative_runs_the_forward_loop_once(
        rnn50: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Differentiating the gradient graph again keeps the one stacked forward loop, and
    the Hessian-vector product matches central differences of the gradient."""
    g, feeds, _ = rnn50
    first = compute_gradients(g, feeds, ["loss"], ["b"], return_graph=True)
    v = np.random.default_rng(3).normal(size=feeds["b"].shape)
    calls = _counting_forward_bodies(monkeypatch)
    (hv,) = compute_gradients(first.graph, feeds, [first.gradient_nodes[0]], ["b"], [v],
                              name="gradients2").gradients
    assert calls[0] == 50, f"the forward body ran {calls[0]} times for 50 iterations"

    def grad_b(arrays: list[np.ndarray]) -> np.ndarray:
        return compute_gradients(g, {**feeds, "b": arrays[0]}, ["loss"], ["b"]).gradients[0]

    want = numeric_vjp(grad_b, [feeds["b"]], v, 0)
    np.testing.assert_allclose(hv, want, rtol=1e-6, atol=1e-9)


def _backward_body_ops(grad: Any) -> Counter[str]:
    (loop,) = [n for n in grad.graph.nodes if n.op == "while_loop" and n.name != "rnn"]
    return Counter(n.op for n in loop.attrs["body"].nodes)


def test_the_backward_loop_reads_the_forward_tanh_instead_of_computing_it_again(
        rnn50: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The forward loop stacks its body's tanh (a residual, attr ``saved``) and the
    backward body gathers it at its row: it computes no tanh and neither of the forward's
    matmuls (its four are the VJPs'), where recomputing the body did, and its gradients
    are those of the body recomputed (central differences: the test above)."""
    g, feeds, xs = rnn50
    grad = gradients(g, ["loss"], xs)
    loop = grad.graph.by_name["rnn"]
    assert loop.attrs["stacked"] and loop.attrs["saved"] == 1
    assert loop.attrs["body"].outputs[2] == ("h1", 0)
    ops = _backward_body_ops(grad)
    assert ops["tanh"] == 0 and ops["matmul"] == 4, ops
    got = run(grad.graph, grad.names, feeds)

    from engine.transforms import subgraphs

    monkeypatch.setattr(subgraphs, "with_residuals",
                        lambda attrs, specs, dialect: {**attrs, "stacked": True})
    old = gradients(g, ["loss"], xs)
    assert old.graph.by_name["rnn"].attrs["saved"] == 0
    ops = _backward_body_ops(old)
    assert ops["tanh"] == 1 and ops["matmul"] == 6, ops
    for a, b in zip(got, run(old.graph, old.names, feeds), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def _backward_loop_of_named(grad: Any, forward: str) -> Any:
    (loop,) = [n for n in grad.graph.nodes if n.op == "while_loop" and n.name != forward]
    return loop


def _backward_loop_of(grad: Any) -> Any:
    return _backward_loop_of_named(grad, "rnn")


def test_the_backward_loop_stacks_the_rows_of_xs_instead_of_summing_them(
        rnn50: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """xs, read by the body only as x_t = gather(xs, t), gets no running sum in the
    backward loop (O(T * |xs|)): each iteration answers x_t's cotangent and t (saved
    values, the loop not stacked: no rows of its own loop variables), one gather_grad
    after the loop adds them back. No loop variable is shaped like xs, its body has no
    gather_grad, and the gradients are those of the running sum
    (rtol 1e-13; central differences: the test above, and below for xs)."""
    g, feeds, xs = rnn50
    grad = gradients(g, ["loss"], xs)
    loop = _backward_loop_of(grad)
    n = loop.attrs["loop_vars"]
    shape = feeds["xs"].shape
    assert [s.shape for s in loop.outputs[:n]] == [(), (2, 4), (4, 4), (3, 4), (4,)]
    assert not loop.attrs["stacked"] and loop.attrs["saved"] == 2  # no rows of its own
    assert [str(s) for s in loop.outputs[n:]] == ["float64[50, 2, 3]", "int32[50]"]
    assert "gather_grad" not in Counter(m.op for m in loop.attrs["body"].nodes)
    (total,) = [m for m in grad.graph.nodes if m.op == "gather_grad"]
    assert total.spec.shape == shape and total.inputs[0] == (loop.name, n)
    got = run(grad.graph, grad.names, feeds)

    from engine.transforms import subgraphs

    monkeypatch.setattr(subgraphs, "_gathered", lambda *args: {})
    old = gradients(g, ["loss"], xs)
    old_loop = _backward_loop_of(old)
    assert not old_loop.attrs["stacked"] and shape in [s.shape for s in old_loop.outputs]
    for a, b in zip(got, run(old.graph, old.names, feeds), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_rnn_gradient_and_hvp_in_xs_match_central_differences() -> None:
    """The stacked rows' gradient in xs, and its own gradient again (the backward loop's
    saved rows differentiated: a Hessian-vector product) against central differences."""
    rng = np.random.default_rng(7)
    case = rnn(steps=6)
    g6 = graph_of(case["request"]["graph"])
    small = {k: tensor(v, "float64") for k, v in case["request"]["feeds"].items()}
    (gx,) = compute_gradients(g6, small, ["loss"], ["xs"]).gradients

    def loss(arrays: list[np.ndarray]) -> np.ndarray:
        return run(g6, ["loss"], {**small, "xs": arrays[0]})[0]

    np.testing.assert_allclose(gx, numeric_vjp(loss, [small["xs"]], np.ones(()), 0),
                               rtol=1e-6, atol=1e-9)
    first = compute_gradients(g6, small, ["loss"], ["xs"], return_graph=True)
    v = rng.normal(size=small["xs"].shape)
    (hv,) = compute_gradients(first.graph, small, [first.gradient_nodes[0]], ["xs"], [v],
                              name="gradients2").gradients

    def grad_xs(arrays: list[np.ndarray]) -> np.ndarray:
        return compute_gradients(g6, {**small, "xs": arrays[0]}, ["loss"],
                                 ["xs"]).gradients[0]

    np.testing.assert_allclose(hv, numeric_vjp(grad_xs, [small["xs"]], v, 0),
                               rtol=1e-6, atol=1e-9)


def test_forward_over_reverse_and_vmap_of_the_rnn_gradient_in_xs() -> None:
    """jvp of the gradient graph (its stacked rows and their gather_grad) along a tangent
    of xs is the HVP reverse over reverse gives; vmap of the gradient graph over a batch
    of xs is the stack of the single gradients."""
    case = rnn(steps=6)
    g6 = graph_of(case["request"]["graph"])
    feeds = {k: tensor(v, "float64") for k, v in case["request"]["feeds"].items()}
    first = compute_gradients(g6, feeds, ["loss"], ["xs"], return_graph=True)
    name = first.gradient_nodes[0]
    v = np.random.default_rng(8).normal(size=feeds["xs"].shape)
    (hv,) = compute_gradients(first.graph, feeds, [name], ["xs"], [v],
                              name="gradients2").gradients
    out = jvp(first.graph, feeds, {"xs": v}, inputs=["xs"], outputs=[name])
    np.testing.assert_allclose(out["tangents"][name], hv, rtol=1e-10, atol=1e-12)
    batch = np.stack([feeds["xs"], feeds["xs"] * 0.5, -feeds["xs"]])
    singles = [run(first.graph, [name], {**feeds, "xs": x})[0] for x in batch]
    got = evaluate(first.graph, {**feeds, "xs": batch}, [name], in_axes={"xs": 0})
    np.testing.assert_allclose(got["values"][name], singles, rtol=1e-12, atol=1e-15)


def test_vmap_of_the_gradient_of_a_gathering_loop_whose_count_varies_per_example() -> None:
    """(i, v) -> (i + 1, sin(v) + xs[i] / 10) while sum(v) > t: each example stops at its
    own step, so its stacked gather cotangents past its own count are masked to zeros;
    the batched gradient in xs and x is each example's own."""
    ins = [ph("i", [], "int32"), ph("v", [2]), ph("t", []), ph("xs", [20, 2])]
    names = ["i", "v", "t", "xs"]
    cond = graph([*ins, node("s", "sum", "v"), node("go", "greater", "s", "t")], names,
                 ["go"])
    body = graph([*ins, const("one", 1, "int32"), const("tenth", 0.1, "float64"),
                  node("i1", "add", "i", "one"), node("a", "gather", "xs", "i"),
                  node("a10", "mul", "a", "tenth"), node("sv", "sin", "v"),
                  node("v1", "add", "sv", "a10")], names, ["i1", "v1"])
    g = Graph.build([ph("x", [2]), ph("t", []), ph("xs", [20, 2]), const("i0", 0, "int32"),
                     node("w", "while_loop", "i0", "x", "t", "xs", loop_vars=2, cond=cond,
                          body=body, maximum_iterations=20),
                     node("l", "sum", "w:1")])
    grad = gradients(g, ["l"], ["x", "xs"])
    assert _backward_loop_of_named(grad, "w").attrs["saved"] == 2
    xs = np.array([[1.0, 1.2], [0.9, 0.8], [1.5, 1.4]])
    ts = np.array([1.5, 0.1, 2.0])
    rows = np.random.default_rng(9).normal(size=(3, 20, 2)) * 0.1
    one = [run(grad.graph, grad.names, {"x": x, "t": t, "xs": r})
           for x, t, r in zip(xs, ts, rows, strict=True)]
    got = evaluate(grad.graph, {"x": xs, "t": ts, "xs": rows}, grad.names,
                   in_axes={"x": 0, "t": 0, "xs": 0})["values"]
    for k, name in enumerate(grad.names):
        np.testing.assert_allclose(got[name], [o[k] for o in one], rtol=1e-12, atol=1e-15)
    assert len({int(np.count_nonzero(o[1].any(axis=1))) for o in one}) > 1  # counts differ


def test_an_invariant_read_also_by_another_op_keeps_its_running_sum() -> None:
    """xs read by a gather and by a sum too: not only rows, so the backward loop sums its
    cotangent as before (one loop variable shaped like xs, no saved values)."""
    case = rnn(steps=5)
    desc = json.loads(json.dumps(case["request"]["graph"]))
    (loop,) = [m for m in desc["nodes"] if m["op"] == "while_loop"]
    body = loop["attrs"]["body"]
    body["nodes"] += [node("all", "sum", "xs"), node("h2", "add", "h1", "all")]
    body["outputs"] = ["t1", "h2"]
    g = graph_of(desc)
    feeds = {k: tensor(v, "float64") for k, v in case["request"]["feeds"].items()}
    grad = gradients(g, ["loss"], ["xs"])
    back = _backward_loop_of(grad)
    assert not back.attrs["stacked"]
    assert feeds["xs"].shape in [s.shape for s in back.outputs]

    def loss(arrays: list[np.ndarray]) -> np.ndarray:
        return run(g, ["loss"], {**feeds, "xs": arrays[0]})[0]

    (gx,) = run(grad.graph, grad.names, feeds)
    np.testing.assert_allclose(gx, numeric_vjp(loss, [feeds["xs"]], np.ones(()), 0),
                               rtol=1e-6, atol=1e-9)


def test_rnn_forward_mode_agrees_with_reverse_mode(rnn50: Any) -> None:
    g, feeds, _ = rnn50
    rng = np.random.default_rng(1)
    tangents = {k: rng.normal(size=feeds[k].shape) for k in ("W", "h0")}
    out = jvp(g, feeds, tangents, inputs=["W", "h0"], outputs=["loss"])
    grads = compute_gradients(g, feeds, ["loss"], ["W", "h0"]).gradients
    want = sum(float(np.sum(t * gr)) for t, gr in zip(tangents.values(), grads, strict=True))
    np.testing.assert_allclose(float(out["tangents"]["loss"]), want, rtol=1e-10)


# -- vmap ---------------------------------------------------------------------------------------

def test_vmap_of_cond_with_a_shared_predicate_and_of_a_loop_with_a_shared_count() -> None:
    xs = np.random.default_rng(2).normal(size=(4, 3))
    g = Graph.build(_cond_nodes(pred=False))
    got = evaluate(g, {"x": xs, "y": xs * 2}, ["l"], in_axes={"x": 0, "y": 0})["values"]["l"]
    np.testing.assert_allclose(got, [np.sin(2 * x).sum() for x in xs])
    loop = Graph.build(_loop_nodes())
    x2 = xs[:, :2]
    got = evaluate(loop, {"x": x2}, ["l"], in_axes={"x": 0})["values"]["l"]
    np.testing.assert_allclose(got, [np.sin(np.sin(np.sin(x))).sum() for x in x2])


@pytest.mark.parametrize(("op", "saved"), [("sin", 0), ("tanh", 1)])
def test_vmap_of_a_loop_whose_count_varies_per_example_and_of_its_gradient(
        op: str, saved: int) -> None:
    """x -> sin(x) while sum(x) > t: each example stops at its own step; the batched
    gradient graph (a stacked loop and a backward loop, both masked) agrees too. With
    tanh, whose VJP reads its output, the stacked loop saves that too, masked alike."""
    ins = [ph("v", [2]), ph("t", [])]
    cond = graph([*ins, node("s", "sum", "v"), node("go", "greater", "s", "t")], ["v", "t"],
                 ["go"])
    body = graph([*ins, node("v1", op, "v")], ["v", "t"], ["v1"])
    g = Graph.build([ph("x", [2]), ph("t", []),
                     node("w", "while_loop", "x", "t", loop_vars=1, cond=cond, body=body,
                          maximum_iterations=20),
                     node("l", "sum", "w:0")])
    xs = np.array([[1.0, 1.2], [0.9, 0.8], [1.5, 1.4]])
    ts = np.array([1.5, 0.1, 2.0])
    singles = [run(g, ["l"], {"x": x, "t": t})[0] for x, t in zip(xs, ts, strict=True)]
    got = evaluate(g, {"x": xs, "t": ts}, ["l"], in_axes={"x": 0, "t": 0})["values"]["l"]
    np.testing.assert_allclose(got, singles, rtol=1e-12)
    grad = gradients(g, ["l"], ["x"])
    assert grad.graph.by_name["w"].attrs["saved"] == saved
    name = grad.names[0]
    assert name is not None
    one = [run(grad.graph, [name], {"x": x, "t": t})[0] for x, t in zip(xs, ts, strict=True)]
    got = evaluate(grad.graph, {"x": xs, "t": ts}, [name], in_axes={"x": 0, "t": 0})
    np.testing.assert_allclose(got["values"][name], one, rtol=1e-12)
