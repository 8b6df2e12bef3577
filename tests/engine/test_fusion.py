"""Fusion (engine/fusion.py): which steps fuse, and fused plans answering as unfused ones."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import ComputeError, Graph, Plan, fusion, gradients

from .fusion_check import assert_same, fused_and_unfused

needs_numba = pytest.mark.skipif(not fusion.enabled(), reason="numba is not installed")


def _chain(shape: list[int], dtype: str, n: int = 12) -> list[dict[str, Any]]:
    """x -> tanh, * k, + s (a fed scalar), sin, repeating, then a sum (W4 in small)."""
    nodes: list[dict[str, Any]] = [
        {"name": "x", "op": "placeholder", "shape": shape, "dtype": dtype},
        {"name": "s", "op": "placeholder", "shape": [], "dtype": dtype},
        {"name": "k", "op": "constant", "value": 3 if "int" in dtype else 1.01, "dtype": dtype}]
    prev = "x"
    for i in range(n):
        op = ("tanh", "mul", "add", "sin")[i % 4]
        ins = {"mul": [prev, "k"], "add": [prev, "s"]}.get(op, [prev])
        nodes.append({"name": f"n{i}", "op": op, "inputs": ins})
        prev = f"n{i}"
    return [*nodes, {"name": "y", "op": "sum", "inputs": [prev]}]


def _grad_plan(nodes: list[dict[str, Any]]) -> tuple[Graph, list[Any]]:
    result = gradients(Graph.build(nodes), ["y"], ["x", "s"])
    return result.graph, [*result.grads, ("y", 0)]


@needs_numba
@pytest.mark.parametrize("shape", [[16], [4, 3], [], [1]])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_chain_and_its_gradient_fuse_and_agree(shape: list[int], dtype: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    graph, fetches = _grad_plan(_chain(shape, dtype))
    rng = np.random.default_rng(0)
    feeds = {"x": rng.normal(size=shape).astype(dtype), "s": np.asarray(0.1, dtype)}
    plain, fused, kernels = fused_and_unfused(graph, fetches, feeds, monkeypatch)
    assert kernels >= 1
    assert all(np.asarray(f).dtype == dtype for f in fused)  # float32 stays float32
    assert_same(plain, fused, f"{dtype}{shape}")


@needs_numba
def test_runs_fuse_by_themselves_after_some_runs() -> None:
    graph, fetches = _grad_plan(_chain([16], "float32"))
    plan = Plan(graph, fetches)
    feeds = {"x": np.linspace(-1, 1, 16, dtype=np.float32), "s": np.float32(0.1)}
    first = plan.run(feeds)
    for _ in range(fusion.FUSE_AFTER):
        plan.run(feeds)
    fusion.wait()
    got = plan.run(feeds)
    assert any(isinstance(s[0], fusion.Kernel) for s in plan._fn.steps)
    assert_same(first, got, "after FUSE_AFTER runs")


@needs_numba
def test_strided_and_read_only_feeds_are_read_right(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, fetches = _grad_plan(_chain([8], "float64"))
    wide = np.linspace(-2, 2, 16)
    ro = np.linspace(-1, 1, 8)
    ro.setflags(write=False)
    for x in (wide[::2], ro):
        plain, fused, _ = fused_and_unfused(graph, fetches, {"x": x, "s": np.float64(0.3)},
                                            monkeypatch)
        assert_same(plain, fused, "a view")


@needs_numba
def test_what_does_not_fuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integers, arrays above SMALL_LIMIT, unknown shapes: the plan stays numpy calls."""
    monkeypatch.setattr(fusion, "SMALL_LIMIT", 64)
    cases = [(_chain([16], "int32"), {"x": np.arange(16, dtype=np.int32)}),
             (_chain([fusion.SMALL_LIMIT + 1], "float32"),
              {"x": np.zeros(fusion.SMALL_LIMIT + 1, np.float32)}),
             (_chain([None], "float64"), {"x": np.zeros(5)})]
    for nodes, feeds in cases:
        if nodes[0]["dtype"] == "int32":  # integer ops without sin/tanh: add and mul
            nodes = [n if n["op"] not in ("tanh", "sin") else {**n, "op": "neg"}
                     for n in nodes]
        feeds["s"] = np.asarray(1, feeds["x"].dtype)
        graph = Graph.build(nodes)
        plain, fused, kernels = fused_and_unfused(graph, [("y", 0)], feeds, monkeypatch)
        assert kernels == 0, nodes[0]
        assert_same(plain, fused, str(nodes[0]))


@needs_numba
def test_a_diamond_through_an_unfused_step_keeps_its_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """a = tanh(x); b = reverse(a) (not fusible); c = a * b: a and c must not fuse together
    (b reads a and c reads b), yet both fuse."""
    nodes = [{"name": "x", "op": "placeholder", "shape": [6], "dtype": "float64"},
             {"name": "a", "op": "tanh", "inputs": ["x"]},
             {"name": "b", "op": "reverse", "inputs": ["a"], "attrs": {"axis": [0]}},
             {"name": "c", "op": "mul", "inputs": ["a", "b"]},
             {"name": "d", "op": "sin", "inputs": ["c"]}]
    x = np.linspace(-1, 2, 6)
    plain, fused, kernels = fused_and_unfused(Graph.build(nodes), [("d", 0)], {"x": x},
                                              monkeypatch)
    assert kernels == 2
    assert_same(plain, fused, "diamond")
    np.testing.assert_allclose(fused[0], np.sin(np.tanh(x) * np.tanh(x)[::-1]))


@needs_numba
def test_a_failure_after_fusion_still_names_its_node(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = [{"name": "t", "op": "placeholder", "shape": [4, 3], "dtype": "float32"},
             {"name": "i", "op": "placeholder", "shape": [3], "dtype": "int64"},
             {"name": "u", "op": "tanh", "inputs": ["t"]},
             {"name": "v", "op": "sin", "inputs": ["u"]},
             {"name": "g", "op": "gather", "inputs": ["v", "i"]},
             {"name": "y", "op": "exp", "inputs": ["g"]}]
    monkeypatch.setattr(fusion, "MIN_GROUP", 1)
    plan = Plan(Graph.build(nodes), [("y", 0)])
    assert plan.fuse() == 2
    table = np.ones((4, 3), np.float32)
    np.testing.assert_allclose(plan.run({"t": table, "i": np.array([0, 1, 2])})[0],
                               np.exp(np.sin(np.tanh(table[:3]))), rtol=1e-6)
    with pytest.raises(ComputeError) as info:
        plan.run({"t": table, "i": np.array([0, 9, 1])})
    assert info.value.node == "g"


@needs_numba
def test_switched_off_nothing_fuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fusion, "_ENABLED", False)
    graph, fetches = _grad_plan(_chain([16], "float64"))
    assert Plan(graph, fetches).fuse() == 0


@needs_numba
def test_kernels_are_found_again_on_disk(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel is written once under its source's hash; numba's cache sits beside it."""
    monkeypatch.setenv("GRADSERVE_FUSION_CACHE", str(tmp_path))
    monkeypatch.setattr(fusion, "_LOADED", {})
    graph, fetches = _grad_plan(_chain([5], "float64", n=9))
    assert Plan(graph, fetches).fuse() >= 1
    written = sorted(p.name for p in tmp_path.glob("k*.py"))
    assert written
    monkeypatch.setattr(fusion, "_LOADED", {})
    assert Plan(graph, fetches).fuse() >= 1
    assert sorted(p.name for p in tmp_path.glob("k*.py")) == written
    assert any(tmp_path.glob("__pycache__/*.nbi"))


def _fake_kernel(folder: Path, key: str, size: int, used: float) -> list[Path]:
    """A cached kernel's three files (source, numba's index and code) of ``size`` bytes
    each, its source last used at ``used``."""
    files = [folder / f"k{key}.py", folder / "__pycache__" / f"k{key}.kernel-5.py311.nbi",
             folder / "__pycache__" / f"k{key}.kernel-5.py311.1.nbc"]
    for f in files:
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"#" * size)
    os.utime(files[0], (used, used))
    return files


def test_the_cache_keeps_the_kernels_used_last_within_its_bytes(tmp_path: Path) -> None:
    now = time.time()
    made = {key: _fake_kernel(tmp_path, key, 100, now - age)
            for key, age in (("new", 0), ("mid", 10), ("old", 20))}
    orphan = tmp_path / "__pycache__" / "kgone.kernel-5.py311.nbi"  # its source is gone
    orphan.write_bytes(b"#")
    assert fusion.prune(tmp_path, limit=700) == 2  # new and mid fit (600 bytes)
    assert sorted(tmp_path.rglob("k*")) == sorted(made["new"] + made["mid"])
    assert fusion.prune(tmp_path, limit=700) == 0
    assert fusion.prune(tmp_path, limit=299) == 2  # not even the newest fits
    assert not any(tmp_path.rglob("k*"))


@needs_numba
def test_a_process_prunes_the_cache_at_its_first_kernel_and_keeps_what_it_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first kernel a process loads prunes the folder (a stale kernel over the limit
    goes) and touches its own source, so a kernel in use is the last to go."""
    monkeypatch.setenv("GRADSERVE_FUSION_CACHE", str(tmp_path))
    monkeypatch.setattr(fusion, "CACHE_BYTES", 1 << 20)
    stale = _fake_kernel(tmp_path, "0" * 24, 1 << 19, time.time() - 86400)
    graph, fetches = _grad_plan(_chain([5], "float64", n=9))
    written: list[Path] = []
    for _ in range(2):  # written, then found again by a new process (as if)
        for source in written:
            os.utime(source, (1.0, 1.0))  # used long ago, unless loaded again
        monkeypatch.setattr(fusion, "_LOADED", {})
        monkeypatch.setattr(fusion, "_PRUNED", set())
        assert Plan(graph, fetches).fuse() >= 1
        assert not any(f.exists() for f in stale)
        written = list(tmp_path.glob("k*.py"))
        assert written
    assert all(source.stat().st_mtime > 1.0 for source in written)


def test_the_service_does_not_call_the_engines_variables_typos() -> None:
    from service.__main__ import unknown_variables

    assert unknown_variables(dict.fromkeys(fusion.ENVIRONMENT, "0")) == []
    assert unknown_variables({"GRADSERVE_FUSON": "0"})  # a typo still warns


@needs_numba
def test_a_long_group_is_cut_into_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fusion, "MAX_GROUP", 5)
    graph, fetches = _grad_plan(_chain([16], "float64", n=12))
    feeds = {"x": np.linspace(-1, 1, 16), "s": np.float64(0.2)}
    plain, fused, kernels = fused_and_unfused(graph, fetches, feeds, monkeypatch)
    assert kernels >= 5
    assert_same(plain, fused, "cut in pieces of 5")


def test_a_costly_op_fuses_only_on_small_arrays() -> None:
    """tanh costs ~20 ns an element more in a scalar loop than numpy's SIMD kernel: worth
    a saved call at 16 elements, not at 64; a multiply is worth it at any size."""
    f32 = np.dtype(np.float32)
    for n, tanh_fuses in ((16, True), (64, False)):
        specs = {0: ((n,), f32), 1: ((n,), f32), 2: ((), f32)}
        assert (fusion.fusible(np.tanh, (0,), 1, specs) is not None) == tanh_fuses
        assert fusion.fusible(np.multiply, (0, 2), 1, specs) == ((n,), f32)
    assert fusion.fusible(np.tanh, (0,), 1, {0: ((16,), f32), 1: ((16,), np.dtype("f8"))}) \
        is None  # the dtypes differ


@needs_numba
def test_a_costly_op_joins_a_group_whose_saved_calls_pay_for_it() -> None:
    """tanh on [64] does not pay for its own call, but a chain of 40 with its gradient
    saves enough calls to carry it: one kernel; three tanh alone stay numpy."""
    long = Plan(*_grad_plan(_chain([64], "float32", n=40)))
    assert long.fuse() == 1
    nodes = [{"name": "x", "op": "placeholder", "shape": [64], "dtype": "float32"},
             *({"name": f"t{i}", "op": "tanh", "inputs": [f"t{i - 1}" if i else "x"]}
               for i in range(3))]
    assert Plan(Graph.build(nodes), [("t2", 0)]).fuse() == 0


@needs_numba
def test_past_the_kernel_budget_new_plans_stay_unfused(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, fetches = _grad_plan(_chain([16], "float64"))
    Plan(graph, fetches).fuse()  # compiled (or loaded) before the budget is lowered
    monkeypatch.setattr(fusion, "MAX_KERNELS", len(fusion._LOADED))
    assert Plan(graph, fetches).fuse() >= 1  # the same kernels: no new code
    other, fetches2 = _grad_plan(_chain([16], "float64", n=13))
    plan = Plan(other, fetches2)
    assert plan.fuse() == 0
    feeds = {"x": np.linspace(-1, 1, 16), "s": np.float64(0.5)}
    assert_same(Plan(other, fetches2).run(feeds), plan.run(feeds), "unfused past the budget")
