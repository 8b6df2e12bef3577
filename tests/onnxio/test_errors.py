"""What onnxio refuses, each time with one OnnxError naming the ONNX node and op_type and
saying what is supported; and ONNX value names with ':' used as they are."""
from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxio
from engine import Graph, GraphBuilder, compute_gradients, run
from onnxio import OnnxError
from onnxio.import_ops import TABLE, read_as, since_version

from .helpers import build, check_model
from .test_ops import f32, one_node


def _refused(model: bytes, **kwargs) -> OnnxError:
    with pytest.raises(OnnxError) as info:
        onnxio.to_description(model, **kwargs)
    return info.value


def _graph_model(nodes, inputs, outputs, inits=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8).SerializeToString()


def _vi(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


@pytest.mark.parametrize("data", [b"definitely not protobuf", b"\xff\xff\xff\xff"])
def test_malformed_protobuf(data: bytes) -> None:
    err = _refused(data)
    assert "malformed" in str(err)


def test_not_bytes_and_no_graph() -> None:
    assert "bytes" in str(_refused("text"))  # type: ignore[arg-type]
    assert "no graph" in str(_refused(onnx.ModelProto(ir_version=8).SerializeToString()))


def test_opset_below_13() -> None:
    model, _ = one_node("Relu", [("x", f32(2))], {}, 12)
    err = _refused(model)
    assert "opset 12" in str(err) and "13" in str(err)


def test_unsupported_op_names_node_and_op_type() -> None:
    model, _ = one_node("Unique", [("x", f32(2, 3))], {}, 13)
    err = _refused(model)
    assert (err.node, err.op_type) == ("the_Unique", "Unique")
    assert "not supported" in err.message and "/onnx/ops" in err.message


def test_an_op_changed_after_opset_21_beyond_its_types_is_refused_at_that_opset() -> None:
    latest = onnx.defs.onnx_opset_version()
    found = [(op, o) for op in ("Relu", "Cast", "Reshape", "Pad", "Range")
             for o in range(22, latest + 1)
             if read_as(op, since_version(op, o), TABLE[op].versions) is None]
    if not found:
        pytest.skip("this onnx knows no op version after opset 21")
    op, opset = found[0]
    inputs = {"Relu": [("x", f32(2))], "Cast": [("x", f32(2))],
              "Reshape": [("x", f32(2)), ("c", np.array([2], np.int64))],
              "Pad": [("x", f32(2)), ("c", np.array([1, 1], np.int64))],
              "Range": [("c0", np.float32(0)), ("c1", np.float32(3)), ("c2", np.float32(1))]
              }[op]
    attrs = {"to": TensorProto.DOUBLE} if op == "Cast" else {}
    model, _ = one_node(op, inputs, attrs, opset)
    err = _refused(model)
    assert err.op_type == op and "version" in err.message and "supported versions" in err.message


@pytest.mark.parametrize("op, inputs, attrs, words", [
    ("MaxPool", [("x", f32(1, 1, 3, 3))], {"kernel_shape": [2, 2], "dilations": [3, 3]},
     "larger than the padded input"),
    ("Mod", [("x", f32(3)), ("y", f32(3))], {}, "before opset 28 (fmod 1)"),
    ("ScatterND", [("x", f32(3)), ("i", np.array([[0]], np.int64)), ("u", f32(1))], {},
     "known at import"),
    ("ScatterElements", [("x", f32(3)), ("c", np.array([0], np.int64)), ("u", f32(1))],
     {"reduction": "mean"}, "(none, add, mul, max, min)"),
    ("Resize", [("x", f32(1, 1, 2, 2)), ("c", None), ("c2", np.full(4, 2, np.float32))],
     {"mode": "area"}, "(nearest, linear, cubic)"),
    ("Resize", [("x", np.ones((1, 1, 2, 2), np.int32)), ("c", None),
                ("c2", np.full(4, 2, np.float32))], {"mode": "cubic"},
     "needs a floating input, not int32"),
    ("Resize", [("x", f32(1, 1, 2, 2)), ("c", None), ("c2", np.full(4, 0.5, np.float32))],
     {"antialias": 1}, "not nearest"),
    ("Resize", [("x", f32(1, 1, 2, 2)), ("c", None), ("c2", np.full(4, 2, np.float32))],
     {"coordinate_transformation_mode": "tf_crop_and_resize"}, "needs roi of 8 numbers"),
    ("Resize", [("x", f32(1, 1, 2, 2)), ("c", None), ("c2", None),
                ("c3", np.full(4, 2, np.int64))], {"keep_aspect_ratio_policy": "fill"},
     "keep_aspect_ratio_policy 'fill'"),
    ("Resize", [("x", f32(1, 1, 2, 2)), ("c", None), ("c2", np.full(4, 2, np.float32)),
                ("c3", np.full(4, 2, np.int64))], {}, "exactly one of scales and sizes"),
    ("ConvTranspose", [("x", f32(1, 1, 3, 3)), ("cw", f32(1, 1, 2, 2))],
     {"output_shape": [9, 9]}, "larger than"),
    ("Gelu", [("x", f32(3))], {"approximate": "cubic"}, "approximate"),
    ("Celu", [("x", f32(3))], {"alpha": 0.0}, "alpha 0"),
    ("Pad", [("x", f32(3)), ("c", np.array([1, 1], np.int64))], {"mode": "wrap"},
     "'wrap' is not supported"),
    ("Pad", [("x", f32(3)), ("c", np.array([3, 0], np.int64))], {"mode": "reflect"},
     "at most 2"),
    ("BatchNormalization", [("x", f32(2, 3)), ("c1", f32(3)), ("c2", f32(3)), ("c3", f32(3)),
                            ("c4", f32(3) ** 2)], {"training_mode": 1}, "inference"),
    ("ConvTranspose", [("x", f32(1, 1, 3, 3, 3)), ("cw", f32(1, 1, 2, 2, 2))], {},
     "rank 3 or 4"),
    ("Cast", [("x", f32(3))], {"to": TensorProto.UINT8}, "UINT8"),
    ("ReduceMax", [("x", np.array([True, False]))], {}, "bool input is taken from version 20"),
])
def test_unsupported_attribute_or_form(op, inputs, attrs, words) -> None:
    model, _ = one_node(op, inputs, attrs, 18 if op != "Gelu" else 20)
    err = _refused(model)
    assert (err.node, err.op_type) == (f"the_{op}", op)
    assert words in err.message, err.message


def test_an_attribute_the_lowering_does_not_read() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], name="r", frobnicate=1)
    err = _refused(_graph_model([node], [_vi("x", [2])], [_vi("y", [2])]))
    assert (err.node, err.op_type) == ("r", "Relu") and "frobnicate" in err.message


def test_unsupported_dtype_of_an_input() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    err = _refused(_graph_model([node], [_vi("x", [2], TensorProto.UINT8)], [_vi("y", [2])]))
    assert err.node == "x" and "UINT8" in err.message and "float32" in err.message


def test_a_name_not_in_the_model() -> None:
    node = helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")
    err = _refused(_graph_model([node], [_vi("x", [2])], [_vi("y", [2])]))
    assert (err.node, err.op_type) == ("adder", "Add") and "ghost" in err.message
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    err = _refused(_graph_model([node], [_vi("x", [2])], [_vi("z", [2])]))
    assert err.node == "z" and "not computed" in err.message


def test_another_domain() -> None:
    node = helper.make_node("FusedGemm", ["x", "x"], ["y"], name="f", domain="com.microsoft")
    graph = helper.make_graph([node], "g", [_vi("x", [2, 2])], [_vi("y", [2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    err = _refused(model.SerializeToString())
    assert (err.node, err.op_type) == ("f", "FusedGemm") and "domain" in err.message


def test_a_second_output_that_is_not_given() -> None:
    node = helper.make_node("MaxPool", ["x"], ["y", "idx"], name="mp", kernel_shape=[2, 2])
    err = _refused(_graph_model([node], [_vi("x", [1, 1, 4, 4])],
                                [_vi("y", None), _vi("idx", None, TensorProto.INT64)]))
    assert err.node == "mp" and "idx" in err.message


def _reshape_by_other_input() -> bytes:
    """Reshape x to the (symbolic) shape of another input: only a shape hint can fold it."""
    nodes = [helper.make_node("Shape", ["like"], ["s"], name="shape_of_like"),
             helper.make_node("Reshape", ["x", "s"], ["y"], name="the_reshape")]
    return _graph_model(nodes, [_vi("x", ["n", 6]), _vi("like", ["a", "b"])],
                        [_vi("y", None)])


_I64 = TensorProto.INT64
# id: (op_type, its inputs' shapes (a str: a symbolic dim), attributes, the refusal's words)
_NEEDS_STATIC = {
    "size": ("Size", [["n", 3]], {}, r"Size needs static sizes of axis 0 of \[\?, 3\]"),
    "trilu": ("Trilu", [[2, "n"]], {}, r"Trilu needs static sizes of axis 1 of \[2, \?\]"),
    "top_k": ("TopK", [[2, "n"], [1]], {}, r"TopK needs static sizes of axis 1 of \[2, \?\]"),
    "gather_elements": ("GatherElements", [["n", 3], [2, 3]], {},
                        r"GatherElements needs static sizes of axis 0 of \[\?, 3\]"),
    "arg_max": ("ArgMax", [[2, "n"]], {"axis": 1, "select_last_index": 1},
                r"select_last_index needs static sizes of axis 1 of \[2, \?\]"),
    "depth_to_space": ("DepthToSpace", [[1, "c", 2, 2]], {"blocksize": 2},
                       r"DepthToSpace needs static sizes of axis 1 of \[1, \?, 2, 2\]"),
    "same_lower": ("MaxPool", [[1, 1, "h", "w"]], {"kernel_shape": [2, 2],
                                                   "auto_pad": "SAME_LOWER"},
                   r"SAME_LOWER needs static sizes of axes 2, 3 of \[1, 1, \?, \?\]"),
}


@pytest.mark.parametrize("case", list(_NEEDS_STATIC))
def test_a_lowering_that_needs_static_sizes_names_the_node_and_the_axes(case: str) -> None:
    """One wording for every such refusal (Ctx.static): what needs them, which axes are
    symbolic, of what shape; the error names the ONNX node and its op_type."""
    op, shapes, attrs, words = _NEEDS_STATIC[case]
    names = [f"in{k}" for k in range(len(shapes))]
    inputs = [_vi(n, s, _I64 if k else TensorProto.FLOAT)
              for k, (n, s) in enumerate(zip(names, shapes))]
    outputs = [_vi("y", None, _I64 if op == "Size" or op == "ArgMax" else TensorProto.FLOAT)]
    if op == "TopK":
        outputs.append(_vi("indices", None, _I64))
    node = helper.make_node(op, names, [o.name for o in outputs], name="the_node", **attrs)
    err = _refused(_graph_model([node], inputs, outputs))
    assert (err.node, err.op_type) == ("the_node", op)
    assert re.search(words, err.message), err.message
    assert err.message.endswith("; give static input shapes")


def test_symbolic_shapes_that_cannot_fold_name_the_node_and_a_hint_folds_them() -> None:
    err = _refused(_reshape_by_other_input())
    assert (err.node, err.op_type) == ("the_reshape", "Reshape")
    assert "static input shapes" in err.message
    model = _reshape_by_other_input()
    x, like = f32(2, 6), f32(3, 4)
    graph, _ = build(model, shapes={"x": [2, 6], "like": [3, 4]})
    (y,) = run(graph, ["y"], {"x": x, "like": like})
    np.testing.assert_array_equal(y, x.reshape(3, 4))
    with pytest.raises(OnnxError, match="not a graph input"):
        onnxio.to_description(model, shapes={"nope": [1]})
    with pytest.raises(OnnxError, match="declared"):
        onnxio.to_description(model, shapes={"x": [2, 7]})


def test_names_with_colons_are_the_value_names() -> None:
    """TensorFlow-style 'dense/BiasAdd:0' and torch-style 'onnx::Mul_1' mean those values,
    also next to a multi-output node whose outputs are read as name:k."""
    w = numpy_helper.from_array(f32(3, 3), "onnx::MatMul_1")
    nodes = [helper.make_node("MatMul", ["input:0", "onnx::MatMul_1"], ["dense/BiasAdd:0"],
                              name="dense"),
             helper.make_node("Split", ["dense/BiasAdd:0"], ["parts:0", "parts:1"], axis=1,
                              num_outputs=2, name="split"),
             helper.make_node("Mul", ["parts:1", "parts:1"], ["out:0"], name="square")]
    model = _graph_model(nodes, [_vi("input:0", [2, 3])], [_vi("out:0", None)], [w],
                         opset=18)
    graph, description = build(model)
    x = f32(2, 3)
    dense, second, out = run(graph, ["dense/BiasAdd:0", "parts:1", "out:0"], {"input:0": x})
    expected = x @ numpy_helper.to_array(w)
    np.testing.assert_allclose(dense, expected, rtol=1e-6)
    np.testing.assert_allclose(second, expected[:, 2:], rtol=1e-6)
    np.testing.assert_allclose(out, expected[:, 2:] ** 2, rtol=1e-6)
    grads = compute_gradients(graph, {"input:0": x}, ["out:0"], ["input:0", "onnx::MatMul_1"])
    assert [g.shape for g in grads.gradients] == [(2, 3), (3, 3)]
    assert "onnx::MatMul_1" in {n["name"] for n in description["nodes"]}
    check_model(model, {"input:0": x})


def test_export_refuses_an_op_without_onnx_form() -> None:
    b = GraphBuilder()
    x = b.placeholder("x", [3])
    y = b.emit("xlogy", [x, x])
    graph: Graph = b.finish(outputs=[y])
    with pytest.raises(OnnxError) as info:
        onnxio.to_onnx(graph, [y.name])
    assert info.value.op_type == "xlogy" and info.value.node == y.name


def test_initializers_listed_as_inputs_are_variables_and_feeding_overrides_them() -> None:
    """keep_initializers_as_inputs exports list weights among the graph inputs."""
    w = f32(3, 2)
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    model = _graph_model([node], [_vi("x", [2, 3]), _vi("w", [3, 2])], [_vi("y", [2, 2])],
                         [numpy_helper.from_array(w, "w")])
    graph, description = build(model)
    assert description["inputs"] == ["x"]
    assert graph.node("w").op == "variable" and graph.node("w").trainable
    x, other = f32(2, 3), f32(3, 2)
    (y,) = run(graph, ["y"], {"x": x})
    np.testing.assert_allclose(y, x @ w, rtol=1e-6)
    (y,) = run(graph, ["y"], {"x": x, "w": other})
    np.testing.assert_allclose(y, x @ other, rtol=1e-6)
    check_model(model, {"x": x})


def _fed_axes(shape: list[int]) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("axes", TensorProto.INT64, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]
                             ).SerializeToString()


def test_an_input_needed_known_names_itself_and_is_bound_only_to_a_fitting_feed() -> None:
    model = _fed_axes([1])
    with pytest.raises(onnxio.OnnxError, match="axes") as caught:
        onnxio.to_description(model)
    assert caught.value.needs == "axes"
    description, bound = onnxio.bound_description(
        model, lambda name, dtype: np.array([1], dtype) if name == "axes" else None)
    assert list(bound) == ["axes"] and "axes" in description["inputs"]
    with pytest.raises(onnxio.OnnxError, match=r"shape \[2\].*declared \[1\]") as wrong:
        onnxio.bound_description(model, lambda name, dtype: np.array([0, 1], dtype))
    assert wrong.value.fed and wrong.value.node == "axes"
    with pytest.raises(onnxio.OnnxError, match="axes"):  # nothing fed: the refusal stands
        onnxio.bound_description(model, lambda name, dtype: None)


def test_an_integer_input_a_needed_value_is_computed_from_is_bound() -> None:
    """axes computed from a fed int32 (a Cast of it): the int32 input is bound, and the
    graph answers numpy's sum along the fed axis."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["a"], ["axes"], to=TensorProto.INT64),
         helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("a", TensorProto.INT32, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(onnxio.OnnxError) as caught:
        onnxio.to_description(model.SerializeToString())
    assert caught.value.needs == "a"
    feeds = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([1], np.int32)}
    description, bound = onnxio.bound_description(model.SerializeToString(),
                                                  lambda name, dtype: feeds.get(name))
    assert list(bound) == ["a"]
    (y,) = run(Graph.from_description(description), ["y"], feeds)
    np.testing.assert_array_equal(y, feeds["x"].sum(axis=1))
