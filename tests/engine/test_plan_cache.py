"""Plans are cached by content: a repeated request pays only for the arithmetic."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine.api
from engine import Graph, cache_stats, compute_grad_operation, compute_gradients, configure_caches


def _description(scale: float = 2.0) -> list[dict[str, Any]]:
    return [{"name": "x", "op": "placeholder", "shape": [3], "dtype": "float32"},
            {"name": "w", "op": "variable", "value": [1.0, 2.0, 3.0]},
            {"name": "k", "op": "constant", "value": scale},
            {"name": "p", "op": "Mul", "inputs": ["x", "w"]},
            {"name": "q", "op": "mul", "inputs": ["p", "k"]},
            {"name": "y", "op": "tanh", "inputs": ["q"]}]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls that differentiate and plan (tf.gradients and GradOperation)."""
    calls = [0, 0]
    make, plan_go = engine.api._make_program, engine.api._plan_grad_operation

    def counting_make(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return make(*args, **kwargs)

    def counting_go(*args: Any, **kwargs: Any) -> Any:
        calls[1] += 1
        return plan_go(*args, **kwargs)

    monkeypatch.setattr(engine.api, "_make_program", counting_make)
    monkeypatch.setattr(engine.api, "_plan_grad_operation", counting_go)
    configure_caches(clear=True)
    return calls


def test_equal_graph_with_new_feeds_is_a_hit(counted: list[int]) -> None:
    x1 = np.array([0.1, 0.2, 0.3], np.float32)
    x2 = np.array([-1.0, 0.5, 2.0], np.float32)
    first = compute_gradients(Graph.build(_description()), {"x": x1}, ["y"], ["x", "w"])
    before = cache_stats()["programs"]
    rebuilt = _description()
    rebuilt[3]["op"] = "multiply"  # another spelling of the same op
    second = compute_gradients(Graph.build(rebuilt), {"x": x2}, ["y"], ["x", "w"])
    assert counted[0] == 1
    assert not first.cache_hit and second.cache_hit
    after = cache_stats()["programs"]
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"]
    w = np.array([1.0, 2.0, 3.0], np.float32)
    t = np.tanh(2 * x2 * w)
    np.testing.assert_allclose(second.gradients[0], (1 - t * t) * 2 * w, rtol=1e-6)
    np.testing.assert_allclose(second.gradients[1], (1 - t * t) * 2 * x2, rtol=1e-6)


def test_new_grad_ys_values_reuse_the_plan(counted: list[int]) -> None:
    graph = Graph.build(_description())
    x = np.array([0.1, 0.2, 0.3], np.float32)
    a = compute_gradients(graph, {"x": x}, ["y"], ["x"], [np.ones(3, np.float32)])
    b = compute_gradients(graph, {"x": x}, ["y"], ["x"], [np.full(3, 2.0, np.float32)])
    assert counted[0] == 1 and b.cache_hit
    np.testing.assert_allclose(b.gradients[0], 2 * a.gradients[0], rtol=1e-6)


def test_different_content_is_a_miss(counted: list[int]) -> None:
    x = np.array([0.1, 0.2, 0.3], np.float32)
    a = compute_gradients(Graph.build(_description(2.0)), {"x": x}, ["y"], ["x"])
    b = compute_gradients(Graph.build(_description(3.0)), {"x": x}, ["y"], ["x"])
    assert counted[0] == 2 and not b.cache_hit
    assert not np.array_equal(a.gradients[0], b.gradients[0])
    compute_gradients(Graph.build(_description(2.0)), {"x": x}, ["y"], ["x"],
                      dialect="mindspore")
    compute_gradients(Graph.build(_description(2.0)), {"x": x}, ["y"], ["w"])
    assert counted[0] == 4


def test_grad_operation_is_cached(counted: list[int]) -> None:
    x1 = np.array([0.1, 0.2, 0.3], np.float32)
    first, hit1 = compute_grad_operation(Graph.build(_description()), [x1], get_all=True)
    second, hit2 = compute_grad_operation(Graph.build(_description()), [2 * x1], get_all=True)
    assert counted[1] == 1 and not hit1 and hit2
    assert not np.array_equal(first[0], second[0])
    compute_grad_operation(Graph.build(_description()), [x1], get_by_list=True)
    assert counted[1] == 2


def test_graph_key_ignores_spelling_but_not_values() -> None:
    a = Graph.build(_description())
    b = _description()
    b[3]["op"] = "MUL"
    assert a.key == Graph.build(b).key
    c = _description()
    c[1]["value"] = [1.0, 2.0, 3.5]
    assert a.key != Graph.build(c).key
    d = _description()
    d[1]["trainable"] = False
    assert a.key != Graph.build(d).key


def test_the_cache_is_bounded_by_total_weight_too() -> None:
    from engine.cache import LRUCache

    cache: LRUCache[list[int]] = LRUCache(10, max_weight=5, weigh=len)
    for key, size in (("a", 2), ("b", 2), ("c", 2)):
        cache.get_or_make(key, lambda n=size: [0] * n)
    assert len(cache) == 2 and cache.weight == 4  # "a" went to make room for "c"
    _, hit = cache.get_or_make("a", lambda: [0, 0])
    assert not hit
    _, hit = cache.get_or_make("huge", lambda: [0] * 9)  # over the whole budget: not kept
    assert not hit and "huge" not in [k for k in cache._data]
    assert cache.get_or_make("huge", lambda: [0] * 9)[1] is False


def test_storing_a_held_key_again_replaces_its_weight() -> None:
    from engine.cache import LRUCache

    cache: LRUCache[list[int]] = LRUCache(10, max_weight=5, weigh=len)
    for _ in range(4):  # the same key, stored again and again: one entry of weight 2
        cache.put("a", [1, 2])
    assert cache.weight == 2
    cache.put("a", [1, 2, 3])
    cache.put("b", [1, 2])  # 3 + 2 fits the budget of 5: nothing evicted
    assert cache.weight == 5 and cache.get("a") == [1, 2, 3] and cache.get("b") == [1, 2]


def test_a_repeated_call_still_checks_what_it_is_given(counted: list[int]) -> None:
    """The repeated-call shortcut (no name resolved again) still refuses a feed that is
    not a node and a seed of the wrong shape, and answers with the new values."""
    g = Graph.build(_description())
    x = np.array([0.1, 0.2, 0.3], np.float32)
    seed = np.ones(3, np.float32)
    for _ in range(2):
        out = compute_gradients(g, {"x": x}, "y", ["x"], [seed], return_values=True)
    assert counted[0] == 1 and out.cache_hit and cache_stats()["calls"]["hits"] >= 1
    t = np.tanh(2 * x * np.array([1.0, 2.0, 3.0], np.float32))
    np.testing.assert_allclose(out.values[0], t, rtol=1e-6)
    again = compute_gradients(g, {"x": 2 * x}, "y", ["x"], [3 * seed], return_values=True)
    w = np.array([1, 2, 3])
    np.testing.assert_allclose(again.gradients[0], 3 * (1 - np.tanh(4 * x * w) ** 2) * 2 * w,
                               rtol=1e-4)
    with pytest.raises(engine.EngineError, match="not a node"):
        compute_gradients(g, {"x": x, "nope": x}, "y", ["x"], [seed], return_values=True)
    with pytest.raises(engine.EngineError, match="only placeholders and variables") as info:
        compute_gradients(g, {"x": x, "p": x}, "y", ["x"], [seed], return_values=True)
    assert info.value.loc == ("feeds", "p")
    fed_w = compute_gradients(g, {"x": x, "w": 2 * w.astype(np.float32)}, "y", ["x"], [seed],
                              return_values=True)  # a variable may be fed
    np.testing.assert_allclose(fed_w.values[0], np.tanh(4 * x * w), rtol=1e-6)
    with pytest.raises(engine.EngineError, match="grad_ys"):
        compute_gradients(g, {"x": x}, "y", ["x"], [np.ones(2, np.float32)],
                          return_values=True)
    assert counted[0] == 1


def test_a_dynamic_graph_is_planned_per_fed_shape(counted: list[int]) -> None:
    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [None], "dtype": "float64"},
                     {"name": "y", "op": "sum", "inputs": ["x"]}])
    for n in (2, 3, 2):
        (grad,) = compute_gradients(g, {"x": np.arange(n, dtype=np.float64)}, "y", "x").gradients
        assert grad.shape == (n,)
    assert counted[0] == 2


def test_a_remembered_call_whose_program_went_is_planned_again(counted: list[int]) -> None:
    """A remembered call holds its program weakly: once the program cache has let it go
    (evicted, or cleared), the call goes the long way and plans again, for the gradients
    of the new feeds, and a hit counts in both caches only while both hold it."""
    g = Graph.build(_description())
    x = np.array([0.1, 0.2, 0.3], np.float32)
    for _ in range(2):
        compute_gradients(g, {"x": x}, ["y"], ["x"])
    calls, programs = cache_stats()["calls"]["hits"], cache_stats()["programs"]["hits"]
    compute_gradients(g, {"x": x}, ["y"], ["x"])
    assert counted[0] == 1 and cache_stats()["calls"]["hits"] == calls + 1
    assert cache_stats()["programs"]["hits"] == programs + 1
    engine.api._PROGRAMS.clear()  # the programs only: the calls still remember theirs
    assert len(engine.api._CALLS) == 1
    out = compute_gradients(g, {"x": 2 * x}, ["y"], ["x"])
    assert counted[0] == 2 and not out.cache_hit
    t = np.tanh(2 * 2 * x * np.array([1.0, 2.0, 3.0], np.float32))
    np.testing.assert_allclose(out.gradients[0], (1 - t * t) * 2 * np.array([1, 2, 3]),
                               rtol=1e-6)
    assert compute_gradients(g, {"x": x}, ["y"], ["x"]).cache_hit and counted[0] == 2


def test_the_cache_keeps_the_exact_least_recently_used_order() -> None:
    """Random gets, makes, puts and linked gets on two small caches (keys rebuilt for each
    call, as a request's are), against a plain model of LRU: the same order, the same
    values and the same hit counts after every step, the newest entry's shortcut (no move
    when it is last already) included."""
    import random
    import weakref
    from collections import OrderedDict

    from engine.cache import LRUCache

    class Value:  # weakly referable, as a program is
        def __init__(self, n: int) -> None:
            self.n = n

    class Entry:
        def __init__(self, key: tuple[str, int]) -> None:
            self.key = key

    rng = random.Random(7)
    target: LRUCache[Value] = LRUCache(4, max_weight=6, weigh=lambda v: v.n % 3)
    calls: LRUCache[Any] = LRUCache(5)
    model_t: OrderedDict[Any, Value] = OrderedDict()
    model_c: OrderedDict[Any, Any] = OrderedDict()
    hits = [0, 0]

    def store(model: OrderedDict[Any, Any], cache: LRUCache[Any], key: Any, value: Any) -> None:
        model[key] = value
        while len(model) > cache.maxsize or (
                cache.max_weight is not None
                and sum(cache.weigh(v) for v in model.values()) > cache.max_weight):
            model.popitem(last=False)

    for _ in range(3000):
        op, k = rng.choice(["make", "get", "put", "link", "remember"]), rng.randrange(7)
        tkey, ckey = ("t", k), ("c", k)  # new tuples each time: equal, not identical
        if op == "make":
            value, hit = target.get_or_make(tkey, lambda k=k: Value(k))
            assert hit == (tkey in model_t)
            if hit:
                hits[0] += 1
                model_t.move_to_end(tkey)
                assert value is model_t[tkey]
            else:
                store(model_t, target, tkey, value)
        elif op == "get":
            got = target.get(tkey)
            assert got is model_t.get(tkey)
            if got is not None:
                hits[0] += 1
                model_t.move_to_end(tkey)
        elif op == "put" and tkey not in model_t:  # (a put over a held key counts its
            value = Value(k)                        # weight twice: not what this tests)
            target.put(tkey, value)
            store(model_t, target, tkey, value)
        elif op == "remember" and tkey in model_t:
            entry = Entry(rng.choice([tkey, ("t", k)]))
            calls.put(ckey, (entry, weakref.ref(model_t[tkey])))
            store(model_c, calls, ckey, (entry, model_t[tkey]))
        elif op == "link":
            got = calls.get_linked(ckey, target)
            held = model_c.get(ckey)
            alive = held is not None and held[0].key in model_t
            assert (got is not None) == alive
            if alive:
                hits[0] += 1
                hits[1] += 1
                model_t.move_to_end(held[0].key)
                model_c.move_to_end(ckey)
                assert got[0] is held[0] and got[1] is held[1]
        assert list(target._data) == list(model_t) and list(calls._data) == list(model_c)
        assert [target.hits, calls.hits] == hits
        if rng.random() < 0.01:
            target.clear()
            model_t.clear()
