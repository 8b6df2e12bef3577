"""A plan runs as one generated function; it must give what the step loop gives."""
from __future__ import annotations

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
    looped = plan._interpret(_slots(plan, x))
    for g, want, once in zip(generated, looped, first, strict=True):
        np.testing.assert_array_equal(g, want)
        np.testing.assert_array_equal(g, once)
    assert not any(np.shares_memory(g, x) for g in generated)


def _slots(plan: Plan, x: np.ndarray) -> list[Any]:
    slots = list(plan._initial)
    for name, slot, *_ in plan._feeds:
        if name == "x":
            slots[slot] = x
    return slots


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
