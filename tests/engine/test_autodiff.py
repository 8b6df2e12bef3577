"""tf.gradients semantics (API.md section 3) through ``compute_gradients`` and ``gradients``."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import EngineError, Graph, compute_gradients, gradients, run


def _ph(name: str, shape: list[int], dtype: str = "float32") -> dict[str, Any]:
    return {"name": name, "op": "placeholder", "shape": shape, "dtype": dtype}


def _f32(*v: float) -> np.ndarray:
    return np.array(v, np.float32)


def _grads(graph: Graph, feeds: dict[str, Any], ys: list[str], xs: list[str],
           **kwargs: Any) -> list[np.ndarray | None]:
    return compute_gradients(graph, feeds, ys, xs, **kwargs).gradients


def _eq(got: Any, want: Any) -> None:
    assert got is not None
    np.testing.assert_array_equal(got, np.asarray(want, dtype=got.dtype))


# The docstring example of tf.gradients: b = 2a, grad(a + b, [a, b])
DOC = Graph.build([
    {"name": "a", "op": "constant", "value": 0.0},
    {"name": "two", "op": "constant", "value": 2.0},
    {"name": "b", "op": "mul", "inputs": ["two", "a"]},
    {"name": "y", "op": "add", "inputs": ["a", "b"]}])


def test_stop_gradients_docstring_example() -> None:
    _eq_all(_grads(DOC, {}, ["y"], ["a", "b"]), [3.0, 1.0])
    _eq_all(_grads(DOC, {}, ["y"], ["a", "b"], stop_gradients=["a", "b"]), [1.0, 1.0])
    _eq_all(_grads(DOC, {}, ["y"], ["a", "b"], stop_gradients=["b"]), [1.0, 1.0])
    _eq_all(_grads(DOC, {}, ["y"], ["a", "b"], stop_gradients=["a"]), [3.0, 1.0])


def _eq_all(got: list[Any], want: list[Any]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        _eq(g, w)


# x -> sq = x*x -> t = 3*sq ; y = sq + t
CHAIN = Graph.build([
    _ph("x", [2]), {"name": "three", "op": "constant", "value": 3.0},
    {"name": "sq", "op": "square", "inputs": ["x"]},
    {"name": "t", "op": "mul", "inputs": ["three", "sq"]},
    {"name": "y", "op": "add", "inputs": ["sq", "t"]}])
X = _f32(2.0, -1.0)


def test_intermediate_xs() -> None:
    gx, gsq, gt = _grads(CHAIN, {"x": X}, ["y"], ["x", "sq", "t"])
    _eq(gx, 8 * X)
    _eq(gsq, [4.0, 4.0])
    _eq(gt, [1.0, 1.0])


def test_stopped_node_receives_but_does_not_pass() -> None:
    gx, gsq = _grads(CHAIN, {"x": X}, ["y"], ["x", "sq"], stop_gradients=["t"])
    _eq(gx, 2 * X)
    _eq(gsq, [1.0, 1.0])
    gx, gsq = _grads(CHAIN, {"x": X}, ["y"], ["x", "sq"], stop_gradients=["sq"])
    assert gx is None
    _eq(gsq, [4.0, 4.0])


def test_stop_gradient_op() -> None:
    graph = Graph.build([_ph("x", [2]), {"name": "s", "op": "stop_gradient", "inputs": ["x"]},
                         {"name": "y", "op": "mul", "inputs": ["s", "x"]}])
    _eq(_grads(graph, {"x": X}, ["y"], ["x"])[0], X)


def test_null_grad_ys_entries_mean_ones() -> None:
    graph = Graph.build([_ph("x", [2]), {"name": "y1", "op": "exp", "inputs": ["x"]},
                         {"name": "y2", "op": "square", "inputs": ["x"]}])
    x = _f32(0.0, 1.0)
    (g,) = _grads(graph, {"x": x}, ["y1", "y2"], ["x"], grad_ys=[None, _f32(3.0, 5.0)])
    _eq(g, np.exp(x) + _f32(3.0, 5.0) * 2 * x)
    (g,) = _grads(graph, {"x": x}, ["y1", "y2"], ["x"], grad_ys=[None, None])
    _eq(g, np.exp(x) + 2 * x)


def test_x_that_is_also_a_y() -> None:
    gsq, gx = _grads(CHAIN, {"x": X}, ["sq", "y"], ["sq", "x"],
                     grad_ys=[_f32(10.0, 20.0), None])
    _eq(gsq, [14.0, 24.0])  # its own grad_y plus 4 through y
    _eq(gx, 2 * X * _f32(14.0, 24.0))


def test_y_listed_twice_counts_twice() -> None:
    (gx,) = _grads(CHAIN, {"x": X}, ["sq", "sq"], ["x"], grad_ys=[None, _f32(2.0, 3.0)])
    _eq(gx, 2 * X * _f32(3.0, 4.0))


def test_x_listed_twice_gets_it_twice() -> None:
    g1, g2 = _grads(CHAIN, {"x": X}, ["y"], ["x", "x"])
    _eq(g1, 8 * X)
    _eq(g2, 8 * X)


def test_single_names_for_ys_and_xs() -> None:
    result = gradients(CHAIN, "y", "x")
    assert len(result.grads) == 1 and result.grads[0] is not None


INT_NET = Graph.build([
    _ph("x", [3]), _ph("n", [3], "int32"),
    {"name": "nf", "op": "cast", "inputs": ["n"], "attrs": {"dtype": "float32"}},
    {"name": "y", "op": "mul", "inputs": ["x", "nf"]}])


def test_integer_xs() -> None:
    feeds = {"x": _f32(1.0, 2.0, 3.0), "n": np.array([4, 5, 6], np.int32)}
    gx, gn = _grads(INT_NET, feeds, ["y"], ["x", "n"])
    _eq(gx, [4.0, 5.0, 6.0])
    assert gn is None
    _, gn = _grads(INT_NET, feeds, ["y"], ["x", "n"], unconnected="zero")
    assert gn.dtype == np.int32 and gn.shape == (3,)
    np.testing.assert_array_equal(gn, [0, 0, 0])


def test_unconnected() -> None:
    graph = Graph.build([_ph("x", [2]), _ph("u", [3, 1], "float64"),
                         {"name": "y", "op": "exp", "inputs": ["x"]}])
    feeds = {"x": _f32(0.0, 0.0), "u": np.zeros((3, 1))}
    assert _grads(graph, feeds, ["y"], ["x", "u"])[1] is None
    gu = _grads(graph, feeds, ["y"], ["x", "u"], unconnected="zero")[1]
    assert gu.dtype == np.float64 and gu.shape == (3, 1) and not gu.any()
    with pytest.raises(EngineError) as info:
        _grads(graph, feeds, ["y"], ["x"], unconnected="sometimes")
    assert info.value.loc == ("unconnected",)


def test_aggregation_methods_agree() -> None:
    rng = np.random.default_rng(3)
    nodes: list[dict[str, Any]] = [_ph("x", [50])]
    terms = []
    for i in range(7):
        nodes += [{"name": f"c{i}", "op": "constant",
                   "value": rng.normal(size=50).astype(np.float32)},
                  {"name": f"t{i}", "op": "mul", "inputs": ["x", f"c{i}"]}]
        terms.append(f"t{i}")
    nodes.append({"name": "y", "op": "add_n", "inputs": terms})
    graph = Graph.build(nodes)
    x = rng.normal(size=50).astype(np.float32)
    want = sum(n["value"] for n in nodes if n["op"] == "constant")
    results = [_grads(graph, {"x": x}, ["y"], ["x"], aggregation=m)[0]
               for m in ("add_n", "experimental_tree", "experimental_accumulate_n")]
    for r in results:
        assert r.dtype == np.float32
        np.testing.assert_allclose(r, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(EngineError) as info:
        _grads(graph, {"x": x}, ["y"], ["x"], aggregation="sideways")
    assert info.value.loc == ("aggregation",)


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("bad", [np.ones(3, np.float32), np.ones(2, np.float64),
                                 np.ones((2, 1), np.float32)], ids=["shape", "dtype", "rank"])
def test_grad_ys_mismatch_names_the_index(bad: np.ndarray, index: int) -> None:
    graph = Graph.build([_ph("x", [2]), {"name": "y1", "op": "exp", "inputs": ["x"]},
                         {"name": "y2", "op": "sin", "inputs": ["x"]}])
    grad_ys: list[Any] = [None, None]
    grad_ys[index] = bad
    with pytest.raises(EngineError) as info:
        _grads(graph, {"x": _f32(1, 2)}, ["y1", "y2"], ["x"], grad_ys=grad_ys)
    assert info.value.loc == ("grad_ys", index)
    assert f"[{index}]" in str(info.value)


def test_grad_ys_count_mismatch() -> None:
    with pytest.raises(EngineError):
        _grads(CHAIN, {"x": X}, ["y"], ["x"], grad_ys=[None, None])


def test_unknown_names_are_refused() -> None:
    for kwargs, loc in (({"ys": ["nope"], "xs": ["x"]}, ("ys", 0)),
                        ({"ys": ["y"], "xs": ["x", "nope"]}, ("xs", 1))):
        with pytest.raises(EngineError) as info:
            compute_gradients(CHAIN, {"x": X}, **kwargs)
        assert info.value.loc == loc
    with pytest.raises(EngineError) as info:
        compute_gradients(CHAIN, {"x": X}, ["y"], ["x"], stop_gradients=["nope"])
    assert info.value.loc == ("stop_gradients", 0)


def test_gradients_are_graph_nodes_with_values() -> None:
    out = compute_gradients(CHAIN, {"x": X}, ["y"], ["x", "sq"], return_values=True,
                            return_graph=True)
    _eq(out.values[0], 4 * X * X)
    assert out.graph is not None and out.gradient_nodes is not None
    assert all(n.startswith("gradients/") for n in out.gradient_nodes)
    again = run(out.graph, out.gradient_nodes, {"x": X})
    _eq(again[0], 8 * X)
    # the returned graph round-trips through its description
    rebuilt = Graph.build(**out.graph.to_spec())
    _eq(run(rebuilt, [out.gradient_nodes[0]], {"x": X})[0], 8 * X)


def test_name_prefixes_gradient_nodes() -> None:
    out = compute_gradients(CHAIN, {"x": X}, ["y"], ["x"], name="grads_a", return_graph=True)
    assert out.gradient_nodes[0].startswith("grads_a/")


def test_feeds_are_checked() -> None:
    with pytest.raises(EngineError):
        compute_gradients(CHAIN, {"x": X, "nope": X}, ["y"], ["x"])
    with pytest.raises(EngineError):
        compute_gradients(CHAIN, {"x": X, "sq": X}, ["y"], ["x"])
    with pytest.raises(EngineError):
        compute_gradients(CHAIN, {}, ["y"], ["x"])
    with pytest.raises(EngineError):
        compute_gradients(CHAIN, {"x": _f32(1, 2, 3)}, ["y"], ["x"])


def test_variable_fed_overrides_value() -> None:
    graph = Graph.build([_ph("x", [2]), {"name": "w", "op": "variable", "value": [1.0, 2.0]},
                         {"name": "y", "op": "mul", "inputs": ["x", "w"]}])
    _eq(_grads(graph, {"x": X}, ["y"], ["x"])[0], [1.0, 2.0])
    _eq(_grads(graph, {"x": X, "w": _f32(5, 6)}, ["y"], ["x"])[0], [5.0, 6.0])


def test_gradient_through_unknown_dimensions() -> None:
    graph = Graph.build([_ph("x", [None, 3], "float64"),
                         {"name": "w", "op": "variable", "value": np.ones((1, 3))},
                         {"name": "p", "op": "mul", "inputs": ["x", "w"]},
                         {"name": "y", "op": "sum", "inputs": ["p"], "attrs": {"axis": 1}}])
    x = np.arange(12.0).reshape(4, 3)
    gx, gw = _grads(graph, {"x": x}, ["y"], ["x", "w"])
    np.testing.assert_array_equal(gx, np.ones((4, 3)))
    np.testing.assert_array_equal(gw, x.sum(axis=0, keepdims=True))


def test_compute_gradients_accepts_single_names() -> None:
    graph = Graph.build([_ph("xin", [2]), {"name": "yout", "op": "square", "inputs": ["xin"]}])
    out = compute_gradients(graph, {"xin": X}, "yout", "xin")
    _eq(out.gradients[0], 2 * X)


def test_a_lazy_context_makes_the_one_input_handle_a_rule_reads() -> None:
    """``c.b`` alone is a handle on the node's second input (its ref and spec), made
    without the others; once ``c.inputs`` is made, ``c.a`` and ``c.b`` are its handles."""
    from engine import GraphBuilder
    from engine.graph import Node
    from engine.ops.contexts import LazyVJPContext

    b = GraphBuilder()
    x, w = b.placeholder("x", [3], "float64"), b.placeholder("w", [], "float64")
    specs = (x.spec, w.spec)
    made: list[Any] = []

    def handle(ref: Any, spec: Any) -> Any:
        made.append((ref, spec))
        return b.tensor(ref)

    node = Node("m", "mul", (x.ref, w.ref), {}, (x.spec,))
    c = LazyVJPContext(node, handle, specs, (None,), "tensorflow", (True,), (True, True))
    assert c.b.ref == w.ref and made == [(w.ref, w.spec)]
    assert c.a.ref == x.ref and made[1:] == [(x.ref, x.spec)]
    ins = c.inputs
    assert c.a is ins[0] and c.b is ins[1]
