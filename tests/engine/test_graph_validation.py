"""Graph.build refuses every malformed graph before anything runs, naming node and path."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import Graph, GraphError, LimitError, run


def _ph(name: str, shape: list[Any], dtype: str = "float32") -> dict[str, Any]:
    return {"name": name, "op": "placeholder", "shape": shape, "dtype": dtype}


def _refused(nodes: list[dict[str, Any]], **kwargs: Any) -> GraphError:
    with pytest.raises(GraphError) as info:
        Graph.build(nodes, **kwargs)
    return info.value


BASE = [_ph("x", [2, 3]), _ph("y", [2, 3])]

CASES: dict[str, tuple[list[dict[str, Any]], str | None, tuple[Any, ...], str]] = {
    # name: (nodes, node at fault, loc, a word the message must hold)
    "unknown op": ([*BASE, {"name": "z", "op": "frobnicate", "inputs": ["x"]}],
                   "z", ("nodes", 2, "op"), "frobnicate"),
    "unknown attr": ([*BASE, {"name": "z", "op": "sum", "inputs": ["x"],
                              "attrs": {"axis": 0, "keepdimz": True}}],
                     "z", ("nodes", 2, "attrs", "keepdimz"), "keepdimz"),
    "bad attr value": ([*BASE, {"name": "z", "op": "sum", "inputs": ["x"],
                                "attrs": {"axis": "rows"}}],
                       "z", ("nodes", 2, "attrs", "axis"), "axis"),
    "missing input node": ([*BASE, {"name": "z", "op": "add", "inputs": ["x", "nope"]}],
                           "z", ("nodes", 2, "inputs", 1), "nope"),
    "duplicate name": ([*BASE, {"name": "x", "op": "exp", "inputs": ["y"]}],
                       "x", ("nodes", 2, "name"), "duplicate"),
    "cycle": ([*BASE, {"name": "a", "op": "add", "inputs": ["x", "b"]},
               {"name": "b", "op": "exp", "inputs": ["a"]}],
              "a", ("nodes", 2, "inputs"), "cycle"),
    "self loop": ([*BASE, {"name": "a", "op": "exp", "inputs": ["a"]}],
                  "a", ("nodes", 2, "inputs"), "cycle"),
    "too few inputs": ([*BASE, {"name": "z", "op": "add", "inputs": ["x"]}],
                       "z", ("nodes", 2, "inputs"), "2"),
    "too many inputs": ([*BASE, {"name": "z", "op": "exp", "inputs": ["x", "y"]}],
                        "z", ("nodes", 2, "inputs"), "1"),
    "add_n of nothing": ([*BASE, {"name": "z", "op": "add_n", "inputs": []}],
                         "z", ("nodes", 2, "inputs"), "at least 1"),
    "shapes do not broadcast": ([_ph("x", [2, 3]), _ph("y", [3, 2]),
                                 {"name": "z", "op": "mul", "inputs": ["x", "y"]}],
                                "z", ("nodes", 2), "broadcast"),
    "where shapes": ([_ph("c", [4], "bool"), _ph("x", [3]), _ph("y", [3]),
                      {"name": "z", "op": "where", "inputs": ["c", "x", "y"]}],
                     "z", ("nodes", 3), "broadcast"),
    "matmul inner dims": ([_ph("a", [2, 3]), _ph("b", [2, 3]),
                           {"name": "z", "op": "matmul", "inputs": ["a", "b"]}],
                          "z", ("nodes", 2), "inner"),
    "dtype mismatch": ([_ph("x", [3]), _ph("n", [3], "float64"),
                        {"name": "z", "op": "add", "inputs": ["x", "n"]}],
                       "z", ("nodes", 2, "inputs", 1), "cast"),
    "int into a float op": ([_ph("n", [3], "int32"),
                             {"name": "z", "op": "exp", "inputs": ["n"]}],
                            "z", ("nodes", 1, "inputs", 0), "cast"),
    "logical op on floats": ([*BASE, {"name": "z", "op": "logical_and",
                                      "inputs": ["x", "y"]}],
                             "z", ("nodes", 2, "inputs", 0), "bool"),
    "where condition not bool": ([*BASE, {"name": "z", "op": "where",
                                          "inputs": ["x", "x", "y"]}],
                                 "z", ("nodes", 2, "inputs", 0), "bool"),
    "negative dimension": ([_ph("x", [2, -3])], "x", ("nodes", 0, "shape", 1), "negative"),
    "placeholder without shape": ([{"name": "x", "op": "placeholder"}],
                                  "x", ("nodes", 0, "shape"), "shape"),
    "bad initializer kind": ([{"name": "w", "op": "variable", "shape": [2],
                               "initializer": {"kind": "magic"}}],
                             "w", ("nodes", 0, "initializer", "kind"), "kind"),
    "bad initializer field": ([{"name": "w", "op": "variable", "shape": [2],
                                "initializer": {"kind": "normal", "sigma": 2}}],
                              "w", ("nodes", 0, "initializer", "sigma"), "sigma"),
    "bad initializer seed": ([{"name": "w", "op": "variable", "shape": [2],
                               "initializer": {"kind": "uniform", "seed": -1}}],
                             "w", ("nodes", 0, "initializer", "seed"), "seed"),
    "initializer not an object": ([{"name": "w", "op": "variable", "shape": [2],
                                    "initializer": "zeros"}],
                                  "w", ("nodes", 0, "initializer"), "initializer"),
    "initializer without shape": ([{"name": "w", "op": "variable",
                                    "initializer": {"kind": "zeros"}}],
                                  "w", ("nodes", 0, "shape"), "shape"),
    "variable without value": ([{"name": "w", "op": "variable"}],
                               "w", ("nodes", 0, "value"), "value"),
    "ragged value": ([{"name": "k", "op": "constant", "value": [[1, 2], [3]]}],
                     "k", ("nodes", 0, "value"), "rectangular"),
    "value against shape": ([{"name": "k", "op": "constant", "value": [1, 2],
                              "shape": [3]}], "k", ("nodes", 0, "value"), "shape"),
    "unknown dtype": ([_ph("x", [2], "complex64")], "x", ("nodes", 0, "dtype"), "dtype"),
    "unknown node field": ([{**_ph("x", [2]), "colour": "red"}],
                           "x", ("nodes", 0, "colour"), "colour"),
    "where branches differ": ([_ph("c", [3], "bool"), _ph("a", [3]), _ph("b", [3], "float64"),
                               {"name": "z", "op": "where", "inputs": ["c", "a", "b"]}],
                              "z", ("nodes", 3, "inputs", 2), "cast"),
    "int value out of range": ([{"name": "k", "op": "constant", "value": [2 ** 40],
                                 "dtype": "int32"}], "k", ("nodes", 0, "value"), "range"),
    "fraction for an int": ([{"name": "k", "op": "constant", "value": [1, 1.5],
                              "dtype": "int64"}], "k", ("nodes", 0, "value"), "int64"),
    "two for a bool": ([{"name": "k", "op": "constant", "value": [0, 2], "dtype": "bool"}],
                       "k", ("nodes", 0, "value"), "bool"),
    "random initializer for ints": ([{"name": "w", "op": "variable", "shape": [2],
                                      "dtype": "int32", "initializer": {"kind": "normal"}}],
                                    "w", ("nodes", 0, "initializer"), "floating"),
    "fractional constant initializer for ints": (
        [{"name": "w", "op": "variable", "shape": [2], "dtype": "int32",
          "initializer": {"kind": "constant", "value": 0.5}}],
        "w", ("nodes", 0, "initializer", "value"), "int32"),
    "reduction axis out of range": ([*BASE, {"name": "z", "op": "sum", "inputs": ["x"],
                                             "attrs": {"axis": 2}}],
                                    "z", ("nodes", 2), "axis"),
    "attrs on a leaf": ([{**_ph("x", [2]), "attrs": {"axis": 0}}],
                        "x", ("nodes", 0, "attrs"), "attrs"),
    "shape on a computing node": ([*BASE, {"name": "z", "op": "exp", "inputs": ["x"],
                                           "shape": [2, 3]}],
                                  "z", ("nodes", 2, "shape"), "shape"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_with_node_and_path(case: str) -> None:
    nodes, node, loc, word = CASES[case]
    err = _refused(nodes)
    assert err.node == node, (err.node, str(err))
    assert err.loc == loc, (err.loc, str(err))
    assert word.lower() in err.message.lower(), err.message
    assert isinstance(err, GraphError) and not isinstance(err, LimitError)


def test_dtype_mismatch_suggests_cast() -> None:
    err = _refused(CASES["dtype mismatch"][0])
    assert "float32" in err.message and "float64" in err.message and "cast" in err.message


@pytest.mark.parametrize("dims", [[-1, 3], [None, 3]])
def test_minus_one_and_null_mean_unknown(dims: list[Any]) -> None:
    graph = Graph.build([_ph("x", dims), {"name": "y", "op": "exp", "inputs": ["x"]}])
    assert graph.node("y").spec.shape == (None, 3)
    x = np.zeros((5, 3), np.float32)
    np.testing.assert_array_equal(run(graph, ["y"], {"x": x})[0], np.ones((5, 3)))


@pytest.mark.parametrize("spelling", ["MatMul", "matmul", "mat_mul", "MATMUL", "Mat_Mul"])
def test_op_names_ignore_case_and_underscores(spelling: str) -> None:
    graph = Graph.build([_ph("a", [2, 3]), _ph("b", [3, 2]),
                         {"name": "z", "op": spelling, "inputs": ["a", "b"]}])
    assert graph.node("z").op == "matmul"


@pytest.mark.parametrize("spelling", ["reduce_sum", "ReduceSum", "sum", "REDUCE_SUM",
                                      "reducesum"])
def test_reduce_spellings(spelling: str) -> None:
    graph = Graph.build([_ph("a", [2, 3]), {"name": "z", "op": spelling, "inputs": ["a"]}])
    assert graph.node("z").op == "sum"


@pytest.mark.parametrize("spelling, op", [
    ("ReduceMean", "mean"), ("ReduceMax", "max"), ("Select", "where"), ("SelectV2", "where"),
    ("Subtract", "sub"), ("Multiply", "mul"), ("RealDiv", "div"), ("truediv", "div"),
    ("AddN", "add_n"), ("parameter", "variable"), ("Parameter", "variable")])
def test_documented_aliases(spelling: str, op: str) -> None:
    from engine.ops.registry import lookup

    found = lookup(spelling)
    assert found is not None and found.name == op


def test_nodes_may_come_in_any_order() -> None:
    graph = Graph.build([{"name": "z", "op": "add", "inputs": ["x", "y"]}, *BASE],
                        outputs=["z"])
    assert [n.name for n in graph.nodes][-1] == "z"


def test_outputs_and_inputs_are_checked() -> None:
    assert _refused(BASE, outputs=["nope"]).loc == ("outputs", 0)
    assert _refused(BASE, inputs=["x", "nope"]).loc == ("inputs", 1)
    nodes = [*BASE, {"name": "k", "op": "constant", "value": 1.0}]
    assert _refused(nodes, inputs=["k"]).loc == ("inputs", 0)
    assert _refused(BASE, inputs=["x", "x"]).loc == ("inputs", 1)


def test_defaults_for_inputs_and_outputs() -> None:
    graph = Graph.build([_ph("b", [2]), {"name": "k", "op": "constant", "value": [1.0, 2.0]},
                         _ph("a", [2]), {"name": "s", "op": "add", "inputs": ["a", "b"]},
                         {"name": "t", "op": "mul", "inputs": ["s", "k"]}])
    assert graph.inputs == ("b", "a")
    assert graph.outputs == (("t", 0),)


def test_leaf_without_dtype_is_float32() -> None:
    graph = Graph.build([{"name": "x", "op": "placeholder", "shape": [2]},
                         {"name": "k", "op": "constant", "value": [1, 2]},
                         {"name": "w", "op": "variable", "value": 3}])
    assert {n.spec.dtype for n in graph.nodes} == {"float32"}


@pytest.mark.parametrize("kind, extra", [("zeros", {}), ("ones", {}),
                                         ("constant", {"value": 2.5}),
                                         ("normal", {"mean": 1.0, "stddev": 0.1}),
                                         ("uniform", {"minval": -1.0, "maxval": 3.0}),
                                         ("glorot_uniform", {})])
def test_initializers_are_seeded_and_shaped(kind: str, extra: dict[str, Any]) -> None:
    def build(seed: int) -> np.ndarray:
        node = {"name": "w", "op": "variable", "shape": [40, 30], "dtype": "float64",
                "initializer": {"kind": kind, "seed": seed, **extra}}
        return Graph.build([node]).node("w").value

    a, b, c = build(1), build(1), build(2)
    assert a.shape == (40, 30) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    if kind in ("zeros", "ones", "constant"):
        np.testing.assert_array_equal(a, np.full((40, 30), {"zeros": 0.0, "ones": 1.0}
                                                 .get(kind, 2.5)))
        return
    assert not np.array_equal(a, c)
    if kind == "normal":
        assert abs(a.mean() - 1.0) < 0.02 and abs(a.std() - 0.1) < 0.02
    if kind == "uniform":
        assert a.min() >= -1.0 and a.max() <= 3.0 and abs(a.mean() - 1.0) < 0.15
    if kind == "glorot_uniform":
        limit = np.sqrt(6.0 / 70)
        assert np.abs(a).max() <= limit and np.abs(a).max() > 0.9 * limit


def test_exact_values_for_integer_and_bool_leaves() -> None:
    graph = Graph.build([
        {"name": "i", "op": "constant", "value": [1.0, -2.0, 3], "dtype": "int32"},
        {"name": "b", "op": "constant", "value": [1, 0, True], "dtype": "bool"},
        {"name": "w", "op": "variable", "shape": [2], "dtype": "int64",
         "initializer": {"kind": "constant", "value": 7}},
        {"name": "e", "op": "variable", "shape": [0, 2],
         "initializer": {"kind": "glorot_uniform", "seed": 0}}])
    np.testing.assert_array_equal(graph.node("i").value, [1, -2, 3])
    np.testing.assert_array_equal(graph.node("b").value, [True, False, True])
    np.testing.assert_array_equal(graph.node("w").value, [7, 7])
    assert graph.node("e").value.shape == (0, 2)


def test_a_null_attr_means_its_default() -> None:
    g = Graph.build([{"name": "x", "op": "placeholder", "shape": [2, 3], "dtype": "float64"},
                     {"name": "s", "op": "sum", "inputs": ["x"],
                      "attrs": {"axis": 1, "keepdims": None}}])
    assert g.node("s").spec.shape == (2,)


def test_div_takes_floats_only_and_says_cast() -> None:
    with pytest.raises(GraphError) as err:
        Graph.build([{"name": "a", "op": "placeholder", "shape": [2], "dtype": "int32"},
                     {"name": "q", "op": "div", "inputs": ["a", "a"]}])
    assert err.value.node == "q"
    assert "cast" in str(err.value)


def test_a_scalar_value_fills_a_declared_shape() -> None:
    g = Graph.build([{"name": "c", "op": "constant", "value": 2.5, "shape": [2, 3]},
                     {"name": "y", "op": "identity", "inputs": ["c"]}])
    (y,) = run(g, ["y"])
    np.testing.assert_array_equal(y, np.full((2, 3), 2.5, np.float32))
    with pytest.raises(GraphError) as err:
        Graph.build([{"name": "c", "op": "constant", "value": [1.0, 2.0], "shape": [2, 3]}])
    assert err.value.loc == ("nodes", 0, "value")


def test_a_build_fault_before_a_head_fault_is_reported_as_the_judged_path_reports_it() -> None:
    """The one-pass build of an in-order description stops at node 2's shape fault, but
    the fault reported is node 3's unknown op, as when every head is read first."""
    nodes = [*BASE, {"name": "z", "op": "matmul", "inputs": ["x", "y"]},
             {"name": "w", "op": "frobnicate", "inputs": ["x"]}]
    err = _refused(nodes)
    assert (err.node, err.loc) == ("w", ("nodes", 3, "op"))


def test_one_pass_and_judged_builds_make_the_same_graph() -> None:
    """An in-order description (one pass) and the same nodes out of order (read, ordered,
    then built) give the same nodes, inputs and outputs."""
    nodes = [*BASE, {"name": "s", "op": "add", "inputs": ["x", "y"]},
             {"name": "m", "op": "sum", "inputs": ["s"], "attrs": {"axis": 0}},
             {"name": "c", "op": "constant", "value": [1.0, 2.0, 3.0]},
             {"name": "z", "op": "Mul", "inputs": ["m", "c"]}]
    shuffled = [nodes[5], nodes[2], nodes[0], nodes[4], nodes[3], nodes[1]]
    one = Graph.build(nodes, outputs=["z"])
    judged = Graph.build(shuffled, outputs=["z"])
    assert [n.name for n in one.nodes] == ["x", "y", "s", "m", "c", "z"]
    assert one.inputs == ("x", "y") and judged.inputs == ("x", "y")
    same = {n.name: (n.op, n.inputs, dict(n.attrs), n.outputs) for n in judged.nodes}
    assert {n.name: (n.op, n.inputs, dict(n.attrs), n.outputs) for n in one.nodes} == same
