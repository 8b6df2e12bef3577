"""A plan runs as one generated function; it must give what the step loop gives."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import engine.plan
from engine import ComputeError, Graph, Plan, gradients


def _chain(n: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = [
        {"name": "x", "op": "placeholder", "shape": [4], "dtype": "float64"},
        {"name": "k", "op": "constant", "value": 1.01, "dtype": "float64"}]
    prev = "x"
    for i in range(n):
        op = ("tanh", "sin", "mul")[i % 3]
        ins = [prev, "k"] if op == "mul" else [prev]
        nodes.append({"name": f"n{i}", "op": op, "inputs": ins})
        prev = f"n{i}"
    nodes += [{"name": "parts", "op": "split", "inputs": [prev],
               "attrs": {"num_or_size_splits": 2}},
              {"name": "a", "op": "sum", "inputs": ["parts:0"]},
              {"name": "b", "op": "sum", "inputs": ["parts:1"]},
              {"name": "y", "op": "mul", "inputs": ["a", "b"]}]
    return nodes


def _plan(n: int) -> Plan:
    result = gradients(Graph.build(_chain(n)), ["y"], ["x"])
    return Plan(result.graph, [*result.grads, ("y", 0)])


@pytest.mark.parametrize("n", [1, 7, 60])
def test_generated_function_equals_the_step_loop(n: int) -> None:
    plan = _plan(n)
    x = np.linspace(-1.0, 1.0, 4)
    first = plan.run({"x": x})
    assert plan._fn is None  # the first run is the loop's: a plan run once never compiles
    generated = plan.run({"x": x})
    assert plan._fn is not None
    looped = plan._interpret(_fed(plan, x))
    for g, want, once in zip(generated, looped, first, strict=True):
        np.testing.assert_array_equal(g, want)
        np.testing.assert_array_equal(g, once)
    assert not any(np.shares_memory(g, x) for g in generated)


def _fed(plan: Plan, x: np.ndarray) -> list[Any]:
    """The feeds' values in the plan's order: x, and each variable's own value."""
    return [x if name == "x" else plan._initial[slot] for name, slot, *_ in plan._feeds]


def _feed_outcome(plan: Plan, feeds: dict[str, Any]) -> tuple[Any, ...]:
    """What a run does with these feeds: its values, or the error it raises and where."""
    try:
        return ("values", *((a.dtype.str, a.tolist()) for a in plan.run(feeds)))
    except engine.EngineError as exc:
        return type(exc), str(exc), exc.node, exc.loc


def test_the_generated_function_takes_and_refuses_feeds_as_the_loop_does() -> None:
    """The generated function checks its feeds inline: what it converts, what it takes
    as it is, and each refusal (its message, node and place) are the loop's."""
    nodes = [{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float32"},
             {"name": "w", "op": "variable", "value": [1.5, -2.0], "dtype": "float32"},
             {"name": "y", "op": "mul", "inputs": ["x", "w"]}]
    x = np.array([1.0, 2.0], np.float32)
    cases = [{"x": x}, {"x": x, "w": 2 * x}, {"x": [1, 2]}, {"x": x.astype(np.float64)},
             {"x": np.arange(2)}, {"x": np.array([True, False])}, {}, {"w": x},
             {"x": np.ones(3, np.float32)}, {"x": np.array(["a", "b"])},
             {"x": x, "w": np.ones((2, 1), np.float32)}, {"x": x[::-1]}]
    for feeds in cases:
        looped = Plan(Graph.build(nodes), [("y", 0)])
        want = _feed_outcome(looped, feeds)  # a plan's first run is the loop's
        generated = Plan(Graph.build(nodes), [("y", 0)])
        generated.run({"x": x})
        generated.run({"x": x})
        assert generated._fn is not None
        assert _feed_outcome(generated, feeds) == want, feeds
        assert _feed_outcome(looped, feeds) == want, feeds
    assert _feed_outcome(looped, {"x": [1, 2]})[1:] == (("<f4", [1.5, -4.0]),)


def test_long_plans_keep_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.plan, "GENERATE_LIMIT", 10)
    plan = _plan(20)
    x = np.linspace(-1.0, 1.0, 4)
    plan.run({"x": x})
    got = plan.run({"x": x})
    assert plan._fn is None
    monkeypatch.setattr(engine.plan, "GENERATE_LIMIT", 4096)
    short = _plan(20)
    short.run({"x": x})
    for g, want in zip(got, short.run({"x": x}), strict=True):
        np.testing.assert_array_equal(g, want)
    assert short._fn is not None


def test_a_failure_in_the_generated_function_names_its_node() -> None:
    nodes = [{"name": "t", "op": "placeholder", "shape": [4, 3], "dtype": "float32"},
             {"name": "i", "op": "placeholder", "shape": [3], "dtype": "int64"},
             {"name": "g", "op": "gather", "inputs": ["t", "i"]},
             {"name": "y", "op": "tanh", "inputs": ["g"]}]
    plan = Plan(Graph.build(nodes), [("y", 0)])
    table = np.ones((4, 3), np.float32)
    plan.run({"t": table, "i": np.array([0, 1, 2])})
    plan.run({"t": table, "i": np.array([0, 1, 2])})
    assert plan._fn is not None
    with pytest.raises(ComputeError) as info:
        plan.run({"t": table, "i": np.array([0, 9, 1])})
    assert info.value.node == "g"


def test_a_plan_drops_what_its_fetches_do_not_need_and_binds_none_of_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The nodes no fetch needs (an output of a split nobody reads, a node reading only
    what is dead) are neither steps nor bound, and a placeholder only they read need not
    be fed; the steps are exactly those of the nodes upstream of the fetches."""
    bound: list[Any] = []
    bind = engine.plan.registry.OpDef.bind
    monkeypatch.setattr(engine.plan.registry.OpDef, "bind",
                        lambda self, attrs, specs: bound.append(dict(attrs)) or bind(
                            self, attrs, specs))
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [4], "dtype": "float64"},
        {"name": "u", "op": "placeholder", "shape": [3], "dtype": "float64"},
        {"name": "du", "op": "sum", "inputs": ["u"], "attrs": {"axis": 0}},
        {"name": "parts", "op": "split", "inputs": ["x"], "attrs": {"num_or_size_splits": 2}},
        {"name": "p0", "op": "sin", "inputs": ["parts:0"]},
        {"name": "d1", "op": "cos", "inputs": ["parts:1"]},
        {"name": "d2", "op": "add", "inputs": ["d1", "du"]}])
    plan = Plan(graph, [("p0", 0)])
    needed = engine.plan.upstream(graph.nodes, ["p0"])
    assert set(plan._step_nodes) == {n for n in needed if n != "x"} == {"parts", "p0"}
    assert len(plan.steps) == plan.node_count == 3  # the split, its output 0, the sine
    assert [f[0] for f in plan.feed_slots] == ["x"]
    assert bound == [dict(graph.by_name["parts"].attrs)]  # not the dead sum's attrs
    x = np.linspace(-1.0, 1.0, 4)
    for _ in range(3):  # the loop, then the generated function
        (value,) = plan.run({"x": x})
        assert np.array_equal(value, np.sin(x[:2]))


def test_a_long_plan_runs_its_columns_first_then_the_tuple_it_makes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan the loop always runs (above GENERATE_LIMIT) goes over its step columns,
    the dead ones masked, on its first run, and over the tuple of steps it makes then
    on the next: the same values each time, and the tuple is the live steps."""
    monkeypatch.setattr(engine.plan, "GENERATE_LIMIT", 0)
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [4], "dtype": "float64"},
        {"name": "d", "op": "cos", "inputs": ["x"]},
        {"name": "s", "op": "sin", "inputs": ["x"]},
        {"name": "y", "op": "mul", "inputs": ["s", "x"]},
        {"name": "z", "op": "exp", "inputs": ["y"]}])
    plan = Plan(graph, [("y", 0)])
    assert not plan.generates and plan._made is None
    x = np.linspace(-1.0, 1.0, 4)
    for _ in range(3):
        (value,) = plan.run({"x": x})
        assert np.array_equal(value, np.sin(x) * x)
    assert plan._made is not None and len(plan._made) == plan.node_count == 2
    assert plan._step_nodes == ("s", "y")


@pytest.mark.parametrize("seed", range(5))
def test_each_slot_is_freed_once_after_its_last_read(seed: int) -> None:
    """Random steps: a slot (not kept, not a leaf) is freed by the last step that reads it,
    by no other, and a step lists the slots it frees in the order it reads them."""
    rng = np.random.default_rng(seed)
    steps = [tuple(int(s) for s in rng.integers(0, 30, rng.integers(0, 4)))
             for _ in range(60)]
    keep, leaves = {1, 2}, {3, 4, 5}
    frees = engine.plan._frees(steps, keep, leaves)
    last = {s: i for i, ins in enumerate(steps) for s in ins}
    for i, (ins, freed) in enumerate(zip(steps, frees, strict=True)):
        want = [s for s in dict.fromkeys(ins) if last[s] == i and s not in keep | leaves]
        assert list(freed) == want


def test_the_generated_function_ignores_floating_point_errors_and_restores_the_state(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated function runs under errstate(all="ignore"): log(0) gives -inf without
    a warning, and the caller's state is what it was afterwards, after a failing run too."""
    nodes = [{"name": "x", "op": "placeholder", "shape": [2], "dtype": "float32"},
             {"name": "i", "op": "placeholder", "shape": [1], "dtype": "int64"},
             {"name": "y", "op": "log", "inputs": ["x"]},
             {"name": "z", "op": "gather", "inputs": ["y", "i"]}]
    plan = Plan(Graph.build(nodes), [("z", 0)])
    x, i = np.array([0.0, 1.0], np.float32), np.array([0])
    before = np.geterr()
    plan.run({"x": x, "i": i})
    plan.run({"x": x, "i": i})  # generated from here on

    def plain(*_: Any) -> None:
        raise AssertionError("the generated run went the plain way")

    with np.errstate(divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        with monkeypatch.context() as m:
            m.setattr(Plan, "_interpret", plain)
            assert plan.run({"x": x, "i": i})[0].tolist() == [-np.inf]
        with pytest.raises(ComputeError):
            plan.run({"x": x, "i": np.array([5])})
        assert np.geterr()["divide"] == "raise"
    assert plan._fn is not None and np.geterr() == before
