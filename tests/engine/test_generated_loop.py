"""A while_loop runs as one generated function from its second run (engine/loops.py); it
must give what the plain loop (one cond and one body plan run per iteration) gives, bit
for bit, and fail where and as that fails."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import ComputeError, Graph, Plan, gradients
from engine.ops import control

from ..peers.scenarios_cf import rnn
from .cases import graph_of, tensor
from .control_examples import const, graph, node, ph


def _plain_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times any loop runs the plain way from now on (the generated one gives
    every failure to it, so a test of the generated loop checks that it did not)."""
    calls = [0]
    plain = control._Loop._plain

    def probe(self: control._Loop, arrays: Any) -> Any:
        calls[0] += 1
        return plain(self, arrays)

    monkeypatch.setattr(control._Loop, "_plain", probe)
    return calls


def _loop_of(plan: Plan) -> control._Loop:
    (loop,) = [s[0] for s in plan.steps if isinstance(s[0], control._Loop)]
    return loop


def _counter(start: int, limit: int, *, stacked: bool = False,
             shape: list[int | None] | None = None, body_extra: list[Any] | None = None,
             grows: str = "x1") -> list[dict[str, Any]]:
    """(i, v) -> (i + 1, sin(v) * w) while i < 4, from i = ``start``; w an invariant."""
    shape = [2] if shape is None else shape
    ins = [ph("i", [], "int32"), ph("v", shape), ph("w", [2])]
    names = ["i", "v", "w"]
    cond = graph([*ins, const("n", 4, "int32"), node("go", "less", "i", "n")], names, ["go"])
    body = graph([*ins, const("one", 1, "int32"), node("i1", "add", "i", "one"),
                  node("s", "sin", "v"), node("x1", "mul", "s", "w"), *(body_extra or [])],
                 names, ["i1", grows])
    return [ph("x", shape), ph("w", [2]), const("i0", start, "int32"),
            node("loop", "while_loop", "i0", "x", "w", loop_vars=2, cond=cond, body=body,
                 maximum_iterations=limit, stacked=stacked)]


def _outputs(nodes: list[dict[str, Any]]) -> list[tuple[str, int]]:
    loop = nodes[-1]
    return [("loop", k) for k in range(2 + (3 if loop["attrs"].get("stacked") else 0))]


@pytest.mark.parametrize(("start", "limit", "stacked"), [
    (0, 10, False), (0, 10, True), (0, 2, True), (7, 10, True), (0, 0, True)],
    ids=["cond-stops", "cond-stops-stacked", "maximum-iterations", "no-iteration",
         "no-iteration-allowed"])
def test_the_generated_loop_gives_what_the_plain_loop_gives(
        start: int, limit: int, stacked: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = _counter(start, limit, stacked=stacked)
    plan = Plan(Graph.build(nodes), _outputs(nodes))
    feeds = {"x": np.array([0.3, -1.2]), "w": np.array([1.5, 0.7])}
    first = plan.run(feeds)
    loop = _loop_of(plan)
    assert loop.fn is None  # the first run is the plain loop's
    plain = _plain_runs(monkeypatch)
    second = plan.run(feeds)
    assert loop.fn is not None and plain[0] == 0
    plain = loop._plain([np.asarray(start, np.int32), feeds["x"], feeds["w"]])
    for got, once, want in zip(second, first, plain, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, once)


def test_the_rnn_gradient_is_the_same_through_the_generated_loops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = rnn(steps=12)
    g = graph_of(case["request"]["graph"])
    feeds = {k: tensor(v, "float64") for k, v in case["request"]["feeds"].items()}
    grads = gradients(g, ["loss"], case["request"]["xs"])
    plan = Plan(grads.graph, [r for r in grads.grads if r is not None])
    first = plan.run(feeds)
    plain = _plain_runs(monkeypatch)
    second = plan.run(feeds)
    loops = [s[0] for s in plan.steps if isinstance(s[0], control._Loop)]
    assert len(loops) == 2 and all(lp.fn is not None for lp in loops)  # forward, backward
    assert plain[0] == 0
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def _failure(plan: Plan, feeds: dict[str, np.ndarray]) -> ComputeError:
    with pytest.raises(ComputeError) as info:
        plan.run(feeds)
    return info.value


def test_a_loop_variable_changing_shape_fails_alike_on_every_run() -> None:
    """v of unknown length doubles each iteration: the plain loop names the change; the
    generated one leaves it to the plain loop, which says the same."""
    nodes = _counter(0, 10, shape=[None],
                     body_extra=[node("vv", "concat", "v", "v", axis=0)], grows="vv")
    plan = Plan(Graph.build(nodes), _outputs(nodes))
    feeds = {"x": np.array([0.3, -1.2]), "w": np.array([1.5, 0.7])}
    errors = [_failure(plan, feeds) for _ in range(3)]
    assert _loop_of(plan).fn is not None
    assert "body: loop variable 1 changed shape from [2] to [4]" in errors[0].message
    assert len({(e.message, e.node) for e in errors}) == 1 and errors[0].node == "loop"


def _table_loop(stop: int, row: str) -> Plan:
    """(i, v) -> (i + 1, table[row] * v) while i < ``stop``; table a 3-row invariant, the
    row the counter i or a constant."""
    ins = [ph("i", [], "int32"), ph("v", [2]), ph("table", [3, 2])]
    names = ["i", "v", "table"]
    cond = graph([*ins, const("n", stop, "int32"), node("go", "less", "i", "n")], names,
                 ["go"])
    body = graph([*ins, const("one", 1, "int32"), const("five", 5, "int32"),
                  node("i1", "add", "i", "one"), node("row", "gather", "table", row),
                  node("v1", "mul", "row", "v")], names, ["i1", "v1"])
    nodes = [ph("x", [2]), ph("table", [3, 2]), const("i0", 0, "int32"),
             node("loop", "while_loop", "i0", "x", "table", loop_vars=2, cond=cond,
                  body=body, maximum_iterations=10)]
    return Plan(Graph.build(nodes), _outputs(nodes))


TABLE_FEEDS = {"x": np.array([0.3, -1.2]), "table": np.arange(6.0).reshape(3, 2)}


def test_a_failure_inside_the_body_is_named_alike_on_every_run() -> None:
    """The body takes row i of a 3-row table while i < 4: the fourth iteration fails."""
    plan = _table_loop(4, "i")
    errors = [_failure(plan, TABLE_FEEDS) for _ in range(3)]
    assert _loop_of(plan).fn is not None
    assert "indices[] = 3 is not in [0, 3)" in errors[0].message
    assert len({(e.message, e.node) for e in errors}) == 1 and errors[0].node == "loop"


def test_inputs_not_as_declared_go_the_plain_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """An int64 counter where int32 is declared, ints where floats are: the plans' runs
    convert them each iteration; the generated loop leaves that to the plain one (whose
    rows then keep the dtype it was given). A numpy scalar or a list that is already of
    the declared dtype (a ufunc of 0-d arrays gives a scalar) is taken as its array, as
    a plan's run takes it."""
    nodes = _counter(0, 10, stacked=True)
    plan = Plan(Graph.build(nodes), _outputs(nodes))
    feeds = {"x": np.array([0.3, -1.2]), "w": np.array([1.5, 0.7])}
    plan.run(feeds)
    plan.run(feeds)
    loop = _loop_of(plan)
    plain = control._Loop._plain
    calls = _plain_runs(monkeypatch)
    for args, goes_plain in (([np.asarray(0, np.int32), feeds["x"], feeds["w"]], False),
                             ([np.int32(0), feeds["x"], feeds["w"]], False),
                             ([np.asarray(0, np.int64), feeds["x"], feeds["w"]], True),
                             ([np.int32(0), [0.3, -1.2], feeds["w"]], False),
                             ([np.int32(0), [3, -1], feeds["w"]], True)):
        got = loop(*args)
        assert calls[0] == goes_plain
        calls[0] = 0
        for a, want in zip(got, plain(loop, args), strict=True):
            assert a.dtype == want.dtype
            np.testing.assert_array_equal(a, want)


def test_the_generated_loop_takes_the_fused_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a body plan fuses, the loop is generated again with its kernels."""
    from engine import fusion

    if not fusion.enabled():
        pytest.skip("numba is not installed")
    extra = [node("c", "cos", "x1"), node("e", "mul", "c", "x1"), node("t", "tanh", "e")]
    nodes = _counter(0, 10, body_extra=extra, grows="t")
    plan = Plan(Graph.build(nodes), _outputs(nodes))
    feeds = {"x": np.array([0.3, -1.2]), "w": np.array([1.5, 0.7])}
    plan.run(feeds)
    unfused = plan.run(feeds)
    loop = _loop_of(plan)
    before = loop.fn
    assert loop.body.plan.fuse() > 0
    plain = _plain_runs(monkeypatch)
    fused = plan.run(feeds)
    assert loop.fn is not before and plain[0] == 0
    assert any(isinstance(s[0], fusion.Kernel) for s in loop.seen[1])
    for a, b in zip(fused, unfused, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_steps_of_invariants_alone_are_hoisted_and_never_freed_inside() -> None:
    """Slot 0 an invariant, 1 a loop variable: a(0) and b(a) run once before the loop,
    c(b, 1) inside, without freeing b's slot (the next iteration reads it again); a fused
    kernel stays inside even on invariants."""
    from engine import fusion, loops

    kernel = object.__new__(fusion.Kernel)
    steps = [("a", (0,), 2, ()), ("b", (2,), 3, (2,)), ("c", (3, 1), 4, (3,)),
             (kernel, (0,), 5, ()), ("d", (4, 5), 6, (4, 5))]
    before, inside = loops.hoisted(steps, {0})
    assert [s[0] for s in before] == ["a", "b"] and before[1][3] == (2,)
    assert [s[0] for s in inside] == ["c", kernel, "d"]
    assert inside[0][3] == () and inside[2][3] == (4, 5)


def test_a_body_with_invariant_steps_gives_the_plain_loop_s_answer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    extra = [node("ww", "mul", "w", "w"), node("cw", "cos", "ww"),
             node("y", "mul", "x1", "cw")]
    nodes = _counter(0, 10, stacked=True, body_extra=extra, grows="y")
    plan = Plan(Graph.build(nodes), _outputs(nodes))
    feeds = {"x": np.array([0.3, -1.2]), "w": np.array([1.5, 0.7])}
    first = plan.run(feeds)
    plain = _plain_runs(monkeypatch)
    second = plan.run(feeds)
    assert _loop_of(plan).fn is not None and plain[0] == 0
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_hoisted_step_that_fails_on_a_loop_that_never_runs_is_no_error() -> None:
    """The body takes row 5 of the 3-row invariant table (a step hoisted out of the
    loop); the loop runs no iteration, so the plain loop never reaches it, and neither
    may the generated one."""
    plan = _table_loop(0, "five")
    for _ in range(3):
        _, v = plan.run(TABLE_FEEDS)
        np.testing.assert_array_equal(v, TABLE_FEEDS["x"])
    assert _loop_of(plan).fn is not None
