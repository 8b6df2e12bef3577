"""Shape and indexing ops: forward values against plain numpy, build-time refusals naming
node and loc, run-time errors, unknown dims, second order through the internal gradient
helpers, and the MindSpore dialect on a few forms. The VJP of every attr form
(``op_forms.SHAPE_FORMS``) is an example of the every-op sweep."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import ComputeError, Graph, GraphError, compute_gradients, run
from engine.ops import registry

from .gradcheck import check_second_order, check_vjp, one_op_graph, rand
from .op_forms import IDX, IDX_2D, SHAPE_FORMS


@pytest.mark.parametrize("name", ["gather-repeated", "concat-neg-axis", "split-neg-size",
                                  "strided-reverse", "tile-3d"])
def test_vjp_mindspore_dialect(name: str) -> None:
    op, arrays, attrs, out = SHAPE_FORMS[name]
    check_vjp(op, arrays, attrs, out=out, wrt=[0], dialect="mindspore")


def _value(op: str, arrays: list[np.ndarray], attrs: dict[str, Any], out: int = 0) -> np.ndarray:
    graph, y, names = one_op_graph(op, arrays, attrs, out)
    return run(graph, [y], dict(zip(names, arrays, strict=True)))[0]


A = np.arange(30.0).reshape(5, 6)
B = np.arange(24).reshape(2, 3, 4).astype(np.int32)
FORWARD: dict[str, tuple[str, list[np.ndarray], dict[str, Any], int, np.ndarray]] = {
    "concat": ("concat", [A, A[:2]], {"axis": 0}, 0, np.concatenate([A, A[:2]])),
    "stack": ("stack", [A, -A], {"axis": -1}, 0, np.stack([A, -A], axis=-1)),
    "split-last": ("split", [A], {"num_or_size_splits": [1, -1, 2], "axis": 1}, 2, A[:, 4:]),
    "split-count": ("split", [A], {"num_or_size_splits": 3, "axis": -1}, 1, A[:, 2:4]),
    "slice": ("slice", [A], {"begin": [1, 2], "size": [-1, 3]}, 0, A[1:, 2:5]),
    "strided-null-neg": ("strided_slice", [A], {"begin": [None, 4], "end": [None, None],
                                                 "strides": [-2, -3]}, 0, A[::-2, 4::-3]),
    "strided-shorter": ("strided_slice", [B], {"begin": [1], "end": [2]}, 0, B[1:2]),
    "strided-shrink": ("strided_slice", [B], {"begin": [0, -1], "end": [2, 0],
                                              "shrink_axis_mask": 2}, 0, B[0:2, -1]),
    "strided-clamps": ("strided_slice", [A], {"begin": [-100], "end": [100]}, 0, A),
    "gather-int-params": ("gather", [B, IDX_2D[:, :1] % 3], {"axis": 1}, 0,
                          np.take(B, IDX_2D[:, :1] % 3, axis=1)),
    "gather-axis-neg": ("gather", [A, IDX], {"axis": -1}, 0, A[:, IDX]),
    "pad": ("pad", [B], {"paddings": [[0, 1], [2, 0], [1, 1]], "constant_values": 7}, 0,
            np.pad(B, [[0, 1], [2, 0], [1, 1]], constant_values=7)),
    "tile": ("tile", [B], {"multiples": [1, 2, 1]}, 0, np.tile(B, [1, 2, 1])),
    "reshape": ("reshape", [A], {"shape": [-1, 10]}, 0, A.reshape(3, 10)),
    "transpose": ("transpose", [B], {}, 0, B.T),
    "expand-dims": ("expand_dims", [A], {"axis": 1}, 0, A[:, None]),
    "squeeze": ("squeeze", [A[None, :, None]], {"axis": [0, 2]}, 0, A),
}


@pytest.mark.parametrize("case", FORWARD.values(), ids=FORWARD.keys())
def test_forward_matches_numpy(case) -> None:
    op, arrays, attrs, out, want = case
    got = _value(op, arrays, attrs, out)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_float32_stays_float32() -> None:
    x = rand(4, 3).astype(np.float32)
    for op, attrs in [("pad", {"paddings": [[1, 1], [0, 0]], "constant_values": 0.5}),
                      ("gather", {}), ("tile", {"multiples": [2, 1]})]:
        inputs = [x, IDX] if op == "gather" else [x]
        assert _value(op, inputs, attrs).dtype == np.float32, op


# -- refusals at build time --------------------------------------------------------------


def _placeholders(*shapes, dtype: str = "float32") -> list[dict[str, Any]]:
    return [{"name": f"in{i}", "op": "placeholder", "shape": list(s), "dtype": dtype}
            for i, s in enumerate(shapes)]


def _one_op(op: str, shapes: list[list[int | None]], attrs: dict[str, Any],
            dtypes: list[str] | None = None) -> list[dict[str, Any]]:
    dtypes = dtypes or ["float32"] * len(shapes)
    nodes = [p for i, s in enumerate(shapes) for p in _placeholders(s, dtype=dtypes[i])]
    for i, n in enumerate(nodes):
        n["name"] = f"in{i}"
    return [*nodes, {"name": "y", "op": op, "inputs": [n["name"] for n in nodes],
                     "attrs": attrs}]


BAD = {
    "concat-bad-axis": ("concat", [[2, 3], [2, 3]], {"axis": 2}, None),
    "concat-rank-mismatch": ("concat", [[2, 3], [2, 3, 1]], {"axis": 0}, ("inputs", 1)),
    "concat-off-axis-mismatch": ("concat", [[2, 3], [4, 3]], {"axis": 1}, ("inputs", 1)),
    "concat-scalars": ("concat", [[], []], {"axis": 0}, ("inputs", 0)),
    "concat-dtypes": ("concat", [[2], [2]], {}, ("inputs", 1), ["float32", "float64"]),
    "stack-shape-mismatch": ("stack", [[2, 3], [3, 2]], {}, ("inputs", 1)),
    "stack-bad-axis": ("stack", [[2, 3], [2, 3]], {"axis": 3}, None),
    "split-not-divisible": ("split", [[5, 2]], {"num_or_size_splits": 2}, None),
    "split-sizes-sum": ("split", [[5, 2]], {"num_or_size_splits": [2, 2]}, None),
    "split-sizes-too-big": ("split", [[5, 2]], {"num_or_size_splits": [4, -1, 2]}, None),
    "split-two-neg": ("split", [[5, 2]], {"num_or_size_splits": [-1, -1]},
                      ("attrs", "num_or_size_splits")),
    "split-zero-count": ("split", [[5, 2]], {"num_or_size_splits": 0},
                         ("attrs", "num_or_size_splits")),
    "split-bad-axis": ("split", [[5, 2]], {"num_or_size_splits": 1, "axis": -3}, None),
    "slice-past-end": ("slice", [[4, 5]], {"begin": [3, 0], "size": [2, -1]}, None),
    "slice-rank": ("slice", [[4, 5]], {"begin": [0], "size": [1]}, None),
    "slice-neg-begin": ("slice", [[4, 5]], {"begin": [-1, 0], "size": [1, 1]}, None),
    "strided-zero-stride": ("strided_slice", [[4]], {"begin": [0], "end": [4],
                                                     "strides": [0]}, None),
    "strided-too-long": ("strided_slice", [[4]], {"begin": [0, 0], "end": [1, 1]}, None),
    "strided-lengths": ("strided_slice", [[4, 4]], {"begin": [0, 0], "end": [1]}, None),
    "strided-shrink-range": ("strided_slice", [[4]], {"begin": [4], "end": [5],
                                                      "shrink_axis_mask": 1}, None),
    "strided-unknown-attr": ("strided_slice", [[4]], {"begin": [0], "end": [1],
                                                      "ellipsis_mask": 1},
                             ("attrs", "ellipsis_mask")),
    "strided-new-axis": ("strided_slice", [[4]], {"begin": [0], "end": [1],
                                                  "new_axis_mask": 1},
                         ("attrs", "new_axis_mask")),
    "gather-batch-dims-past-axis": ("gather", [[4, 3], [2]], {"batch_dims": 1}, None,
                                    ["float32", "int32"]),
    "gather-batch-dims-shapes": ("gather", [[2, 3], [3, 1]], {"axis": 1, "batch_dims": 1},
                                 ("inputs", 1), ["float32", "int32"]),
    "gather-batch-dims-rank": ("gather", [[2, 3], [2]], {"axis": 1, "batch_dims": 2}, None,
                               ["float32", "int32"]),
    "gather-float-indices": ("gather", [[4, 3], [2]], {}, ("inputs", 1),
                             ["float32", "float32"]),
    "gather-bad-axis": ("gather", [[4, 3], [2]], {"axis": 2}, None, ["float32", "int32"]),
    "gather-scalar-params": ("gather", [[], [2]], {}, ("inputs", 0), ["float32", "int64"]),
    "pad-negative": ("pad", [[2, 3]], {"paddings": [[0, -1], [1, 1]]}, ("attrs", "paddings")),
    "pad-rank": ("pad", [[2, 3]], {"paddings": [[1, 1]]}, None),
    "pad-not-pairs": ("pad", [[2, 3]], {"paddings": [[1, 1, 1], [0, 0]]},
                      ("attrs", "paddings")),
    "pad-reflect": ("pad", [[2, 3]], {"paddings": [[1, 1], [0, 0]], "mode": "REFLECT"},
                    ("attrs", "mode")),
    "tile-rank": ("tile", [[2, 3]], {"multiples": [2]}, None),
    "tile-negative": ("tile", [[2, 3]], {"multiples": [2, -1]}, ("attrs", "multiples")),
    "reshape-size": ("reshape", [[2, 3]], {"shape": [4, -1]}, None),
    "transpose-not-perm": ("transpose", [[2, 3]], {"perm": [0, 0]}, None),
    "squeeze-not-one": ("squeeze", [[2, 3]], {"axis": 0}, None),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_refused_at_build_naming_node_and_loc(case) -> None:
    op, shapes, attrs, where, *dtypes = case
    nodes = _one_op(op, shapes, attrs, dtypes[0] if dtypes else None)
    with pytest.raises(GraphError) as info:
        Graph.build(nodes)
    err = info.value
    assert err.node == "y"
    assert err.loc == ("nodes", len(nodes) - 1, *(where or ()))


# -- unknown dimensions and run-time errors -----------------------------------------------


def test_unknown_dims_infer() -> None:
    def spec(op, shapes, attrs, dtypes=None, out=0):
        return Graph.build(_one_op(op, shapes, attrs, dtypes)).node("y").outputs[out].shape

    assert spec("concat", [[None, 3], [2, None]], {"axis": 0}) == (None, 3)
    assert spec("concat", [[2, None], [2, 4]], {"axis": 1}) == (2, None)
    assert spec("stack", [[None, 3], [2, None]], {"axis": 1}) == (2, 2, 3)
    assert spec("split", [[None, 6]], {"num_or_size_splits": [2, -1]}, out=1) == (None, 6)
    assert spec("split", [[None, 6]], {"num_or_size_splits": 3, "axis": 1}) == (None, 2)
    assert spec("slice", [[None, 6]], {"begin": [1, 1], "size": [2, -1]}) == (2, 5)
    assert spec("strided_slice", [[None, 6]], {"begin": [1, 1], "end": [3, 2]}) == (None, 1)
    assert spec("gather", [[None, 4], [2, None]], {"axis": -1},
                ["float32", "int32"]) == (None, 2, None)
    assert spec("pad", [[None, 2]], {"paddings": [[1, 1], [1, 0]]}) == (None, 3)
    assert spec("tile", [[None, 2]], {"multiples": [0, 2]}) == (0, 4)


def _grad_with_unknown_dims(op: str, shapes, attrs, arrays) -> None:
    """Gradients through the run-time-shaped helpers equal those of the static graph."""
    static = _one_op(op, [list(a.shape) for a in arrays], attrs, ["float64"] * len(arrays))
    dynamic = _one_op(op, shapes, attrs, ["float64"] * len(arrays))
    feeds = {f"in{i}": a for i, a in enumerate(arrays)}
    xs = list(feeds)
    want = compute_gradients(Graph.build(static), feeds, ["y"], xs).gradients
    got = compute_gradients(Graph.build(dynamic), feeds, ["y"], xs).gradients
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_gradients_with_unknown_dims() -> None:
    _grad_with_unknown_dims("concat", [[None, 3], [None, 3]], {"axis": 0},
                            [rand(2, 3), rand(4, 3, seed=1)])
    _grad_with_unknown_dims("strided_slice", [[None, None]],
                            {"begin": [None, 1], "end": [None, None], "strides": [-1, 2]},
                            [rand(4, 5)])
    _grad_with_unknown_dims("tile", [[None, 2]], {"multiples": [3, 2]}, [rand(3, 2)])
    _grad_with_unknown_dims("pad", [[None]], {"paddings": [[2, 1]]}, [rand(4)])
    _grad_with_unknown_dims("split", [[None, 2]], {"num_or_size_splits": 2}, [rand(4, 2)])


def _run_nodes(nodes, feeds):
    return run(Graph.build(nodes), ["y"], feeds)


@pytest.mark.parametrize("bad", [4, -1])
def test_gather_out_of_range_is_a_run_time_error(bad: int) -> None:
    nodes = _one_op("gather", [[4, 3], [3]], {}, ["float32", "int64"])
    with pytest.raises(ComputeError) as info:
        _run_nodes(nodes, {"in0": rand(4, 3).astype(np.float32), "in1": np.array([0, bad, 1])})
    assert info.value.node == "y"
    assert f"indices[1] = {bad} is not in [0, 4)" in info.value.message


def test_shapes_known_only_when_fed_are_checked_before_running() -> None:
    """Fed shapes specialize the graph first, so these are graph errors naming the node."""
    cases = [(_one_op("split", [[None]], {"num_or_size_splits": [2, 2]}), rand(5)),
             (_one_op("split", [[None]], {"num_or_size_splits": 2}), rand(5)),
             (_one_op("slice", [[None]], {"begin": [2], "size": [4]}), rand(5))]
    for nodes, x in cases:
        with pytest.raises(GraphError) as info:
            _run_nodes(nodes, {"in0": x.astype(np.float32)})
        assert info.value.node == "y"


# -- second order, helpers, the acceptance case --------------------------------------------


def _cubed_sum(x_shape, node: dict[str, Any], extra=()) -> list[dict[str, Any]]:
    """x -> node -> sum(t**3): a graph with a nonzero Hessian through ``node``."""
    return [{"name": "x", "op": "placeholder", "shape": list(x_shape), "dtype": "float64"},
            *extra, node,
            {"name": "t2", "op": "mul", "inputs": ["t", "t"]},
            {"name": "t3", "op": "mul", "inputs": ["t2", "t"]},
            {"name": "y", "op": "sum", "inputs": ["t3"]}]


def test_second_order_through_gather() -> None:
    idx = {"name": "i", "op": "constant", "value": IDX_2D, "dtype": "int32"}
    nodes = _cubed_sum([4, 3], {"name": "t", "op": "gather", "inputs": ["x", "i"]}, [idx])
    check_second_order(nodes, {"x": rand(4, 3)}, "y", "x")


def test_second_order_through_strided_slice() -> None:
    node = {"name": "t", "op": "strided_slice", "inputs": ["x"],
            "attrs": {"begin": [None, -1], "end": [None, 0], "strides": [-2, -1]}}
    check_second_order(_cubed_sum([5, 4], node), {"x": rand(5, 4)}, "y", "x")


@pytest.mark.parametrize("node", [
    {"op": "concat", "inputs": ["x", "x"], "attrs": {"axis": -1}},
    {"op": "tile", "inputs": ["x"], "attrs": {"multiples": [2, 1]}},
    {"op": "pad", "inputs": ["x"], "attrs": {"paddings": [[1, 0], [0, 2]]}},
    {"op": "stack", "inputs": ["x", "x"], "attrs": {"axis": 1}},
], ids=lambda n: n["op"])
def test_second_order_through_other_helpers(node) -> None:
    check_second_order(_cubed_sum([3, 2], {"name": "t", **node}), {"x": rand(3, 2)}, "y", "x")


def test_helpers_are_registered_and_documented_internal() -> None:
    for name in ("strided_slice_grad", "gather_grad", "split_like", "tile_grad"):
        op = registry.get(name)
        assert op.vjp is not None and op.doc.startswith("Internal"), name


def test_gradient_graph_posts_back() -> None:
    """A returned gradient graph (helper ops, null begin entries) builds and runs again."""
    nodes = [*_placeholders([5, 4], [3], dtype="float64"),
             {"name": "s", "op": "strided_slice", "inputs": ["in0"],
              "attrs": {"begin": [None, 1], "end": [None, None], "strides": [-1, 2]}},
             {"name": "i", "op": "cast", "inputs": ["in1"], "attrs": {"dtype": "int32"}},
             {"name": "y", "op": "gather", "inputs": ["s", "i"]}]
    feeds = {"in0": rand(5, 4), "in1": np.array([4.0, 0.0, 4.0])}
    first = compute_gradients(Graph.build(nodes), feeds, ["y"], ["in0"], return_graph=True)
    spec = first.graph.to_spec()
    again = Graph.build(spec["nodes"], spec["inputs"], spec["outputs"])
    ops = {n.op for n in again.nodes}
    assert {"strided_slice_grad", "gather_grad"} <= ops
    (value,) = run(again, [first.gradient_nodes[0]], feeds)
    np.testing.assert_array_equal(value, first.gradients[0])


# -- one index (a loop's row each iteration): compared as an int, nothing to add up ----------

def _bound(op: str, attrs: dict[str, Any], arrays: list[np.ndarray]) -> Any:
    """The op's forward bound as a plan binds it, for these arrays' shapes and dtypes."""
    from engine.ops.registry import TensorSpec

    opdef = registry.get(op)
    specs = tuple(TensorSpec(a.shape, a.dtype.name) for a in arrays)
    return opdef.bind(opdef.parse_attrs(attrs), specs)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_gather_and_its_gradient_at_one_index_are_numpy_s(axis: int) -> None:
    params = rand(4, 3, 5)
    i = np.asarray(2, np.int32)
    got = _bound("gather", {"axis": axis}, [params, i])(params, i)
    want = np.take(params, i, axis=axis)
    assert got.shape == want.shape and not np.shares_memory(got, params)
    np.testing.assert_array_equal(got, want)
    g = -np.abs(rand(*want.shape))
    g.flat[0] = -0.0  # np.add.at into zeros gives +0.0 there
    out = _bound("gather_grad", {"axis": axis}, [g, i, params])(g, i, params)
    expect = np.zeros(params.shape, np.float64)
    np.add.at(expect, (slice(None),) * (axis % 3) + (np.array([2]),),
              np.expand_dims(g, axis % 3))
    np.testing.assert_array_equal(out, expect)
    assert (np.signbit(out) == np.signbit(expect)).all()  # assigning g would keep -0.0


@pytest.mark.parametrize("bad", [4, -1])
def test_one_index_out_of_range_is_named_as_any(bad: int) -> None:
    params, i = rand(4, 3), np.asarray(bad, np.int64)
    for op, arrays in (("gather", [params, i]), ("gather_grad", [params[0], i, params])):
        with pytest.raises(ValueError, match=fr"indices\[\] = {bad} is not in \[0, 4\)"):
            _bound(op, {}, arrays)(*arrays)


@pytest.mark.parametrize(("have", "want"), [((2, 4), (4,)), ((2, 3, 4), (3, 1)),
                                            ((2, 4), (2, 4)), ((1, 4), (4,)), ((5,), ()),
                                            ((2, 3, 4), (1, 4))])
def test_sum_to_a_static_shape_is_the_run_time_sum(have: tuple[int, ...],
                                                   want: tuple[int, ...]) -> None:
    from engine.ops.broadcasting import _sum_to_shape

    t = rand(*have)
    got = _bound("sum_to_shape", {"shape": list(want)}, [t])(t)
    assert type(got) is np.ndarray and got.shape == want
    np.testing.assert_array_equal(got, _sum_to_shape(t, want))
