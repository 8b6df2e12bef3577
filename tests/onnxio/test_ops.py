"""Each lowering of the import table on a one-node ONNX model (made here with
onnx.helper): forward vs onnxruntime, VJP vs central differences, gradient graph exported
and run in onnxruntime. Also: the table's versions cover opsets 13-21 and the listing."""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import onnxio
from engine import compute_gradients, run
from onnxio.dtypes import TO_ONNX
from onnxio.import_ops import FIRST, LAST, TABLE, since_version, versions_in_range

from .helpers import as_float64, build, check_model, ort_run

rng = np.random.default_rng(7)


def f32(*shape: int, positive: bool = False) -> np.ndarray:
    a = rng.normal(size=shape).astype(np.float32)
    return np.abs(a) + 0.5 if positive else a


def i64(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def one_node(op: str, inputs: list[tuple[str, np.ndarray | None]], attrs: dict[str, Any],
             opset: int, n_out: int = 1) -> tuple[bytes, dict[str, np.ndarray]]:
    """Inputs named ``c*`` are initializers, others graph inputs; None an absent input."""
    feeds, graph_inputs, inits = {}, [], []
    for name, array in inputs:
        if array is None:
            continue
        if name.startswith("c"):
            inits.append(numpy_helper.from_array(array, name))
        else:
            feeds[name] = array
            graph_inputs.append(helper.make_tensor_value_info(
                name, TO_ONNX[array.dtype.name], list(array.shape)))
    outs = [f"out{k}" for k in range(n_out)]
    node = helper.make_node(op, [n if a is not None else "" for n, a in inputs], outs,
                            name=f"the_{op}", **attrs)
    graph = helper.make_graph([node], op, graph_inputs,
                              [helper.make_tensor_value_info(o, 0, None) for o in outs],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=8)
    model = onnx.shape_inference.infer_shapes(model)
    for out in model.graph.output:  # ops shape inference leaves untyped (GroupNormalization)
        if not out.type.tensor_type.elem_type and graph_inputs:
            out.type.tensor_type.elem_type = graph_inputs[0].type.tensor_type.elem_type
    return model.SerializeToString(), feeds


X = f32(2, 3, 5, 4)
CASES: dict[str, tuple[str, list, dict[str, Any], int, int]] = {
    # id: (op, inputs, attrs, opset, outputs)
    "softsign": ("Softsign", [("x", f32(3, 4))], {}, 13, 1),
    "hard_swish": ("HardSwish", [("x", 3 * f32(3, 4))], {}, 14, 1),
    "hard_sigmoid": ("HardSigmoid", [("x", f32(3, 4))], {"alpha": 0.3, "beta": 0.4}, 13, 1),
    "leaky_relu": ("LeakyRelu", [("x", f32(3, 4))], {"alpha": 0.2}, 16, 1),
    "elu": ("Elu", [("x", f32(3, 4))], {}, 13, 1),
    "elu_alpha": ("Elu", [("x", f32(3, 4))], {"alpha": 0.5}, 13, 1),
    "selu": ("Selu", [("x", f32(3, 4))], {}, 13, 1),
    "selu_alpha_gamma": ("Selu", [("x", f32(3, 4))], {"alpha": 2.0, "gamma": 0.5}, 13, 1),
    "softplus": ("Softplus", [("x", f32(3, 4))], {}, 13, 1),
    "clip": ("Clip", [("x", f32(3, 4)), ("cmin", np.float32(-0.5)),
                      ("cmax", np.float32(0.7))], {}, 13, 1),
    "sqrt": ("Sqrt", [("x", f32(3, 4, positive=True))], {}, 13, 1),
    "log": ("Log", [("x", f32(3, 4, positive=True))], {}, 13, 1),
    "reciprocal": ("Reciprocal", [("x", f32(3, 4, positive=True))], {}, 13, 1),
    "erf": ("Erf", [("x", f32(3, 4))], {}, 13, 1),
    "gelu_tanh": ("Gelu", [("x", f32(3, 4))], {"approximate": "tanh"}, 20, 1),
    "gelu_erf": ("Gelu", [("x", f32(3, 4))], {}, 21, 1),
    "pow_int_exponent": ("Pow", [("x", f32(3, 4)), ("c", np.int64(3))], {}, 15, 1),
    "pow_tensor": ("Pow", [("x", f32(3, 4, positive=True)), ("y", f32(4))], {}, 13, 1),
    "mean3": ("Mean", [("a", f32(3, 4)), ("b", f32(4)), ("c", f32(3, 1))], {}, 13, 1),
    "max3": ("Max", [("a", f32(3, 4)), ("b", f32(4)), ("c", f32(3, 1))], {}, 13, 1),
    "sum3": ("Sum", [("a", f32(3, 4)), ("b", f32(4)), ("c", f32(3, 1))], {}, 13, 1),
    "div": ("Div", [("a", f32(3, 4)), ("b", f32(3, 4, positive=True))], {}, 14, 1),
    "gemm": ("Gemm", [("a", f32(4, 3)), ("b", f32(4, 5)), ("c", f32(5))],
             {"alpha": 0.5, "beta": 2.0, "transA": 1}, 13, 1),
    "matmul_batched": ("MatMul", [("a", f32(2, 3, 4)), ("b", f32(4, 2))], {}, 13, 1),
    "einsum": ("Einsum", [("a", f32(3, 4)), ("b", f32(4, 2))],
               {"equation": "ij, jk -> ik"}, 13, 1),
    "softmax_axis0": ("Softmax", [("x", f32(3, 4))], {"axis": 0}, 13, 1),
    "log_softmax": ("LogSoftmax", [("x", f32(3, 4))], {"axis": 1}, 13, 1),
    "layer_norm": ("LayerNormalization", [("x", f32(2, 3, 4)), ("c", f32(3, 4)),
                                          ("c2", f32(3, 4))], {"axis": -2}, 17, 1),
    "layer_norm_scale_broadcast": ("LayerNormalization", [("x", f32(2, 3, 4)),
                                                          ("c", f32(4))], {"axis": 1}, 17, 1),
    "layer_norm_mean_inv_std_dev": ("LayerNormalization", [("x", f32(2, 3, 4)),
                                                           ("c", f32(4)), ("c2", f32(4))],
                                    {"axis": -1, "epsilon": 1e-3}, 17, 3),
    "instance_norm": ("InstanceNormalization", [("x", X), ("c", f32(3)), ("c2", f32(3))],
                      {"epsilon": 1e-3}, 13, 1),
    "group_norm_18": ("GroupNormalization", [("x", f32(2, 4, 3, 2)), ("c", f32(2)),
                                             ("c2", f32(2))], {"num_groups": 2}, 18, 1),
    "group_norm_21": ("GroupNormalization", [("x", f32(2, 6, 5)), ("c", f32(6)),
                                             ("c2", f32(6))], {"num_groups": 3,
                                                               "epsilon": 1e-3}, 21, 1),
    "depth_to_space_dcr": ("DepthToSpace", [("x", f32(2, 8, 2, 3))], {"blocksize": 2}, 13, 1),
    "depth_to_space_crd": ("DepthToSpace", [("x", f32(1, 8, 3, 2))],
                           {"blocksize": 2, "mode": "CRD"}, 13, 1),
    "space_to_depth": ("SpaceToDepth", [("x", f32(2, 3, 4, 6))], {"blocksize": 2}, 13, 1),
    "space_to_depth_28": ("SpaceToDepth", [("x", f32(2, 3, 4, 6))], {"blocksize": 2}, 28, 1),
    "space_to_depth_crd": ("SpaceToDepth", [("x", f32(2, 3, 4, 6))],
                           {"blocksize": 2, "mode": "CRD"}, 28, 1),
    "batch_norm": ("BatchNormalization", [("x", f32(2, 3, 5)), ("cs", f32(3)), ("cb", f32(3)),
                                          ("cm", f32(3)), ("cv", f32(3, positive=True))],
                   {"epsilon": 1e-3}, 15, 1),
    "conv_same_upper": ("Conv", [("x", X), ("cw", f32(2, 3, 3, 2))],
                        {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, 13, 1),
    "conv_same_lower": ("Conv", [("x", X), ("cw", f32(2, 3, 2, 2)), ("cb", f32(2))],
                        {"auto_pad": "SAME_LOWER", "strides": [2, 1]}, 13, 1),
    "conv_asym_pads": ("Conv", [("x", X), ("cw", f32(4, 3, 2, 3))],
                       {"pads": [0, 1, 2, 0], "strides": [1, 2]}, 13, 1),
    "conv_groups_dilated": ("Conv", [("x", f32(1, 4, 7, 6)), ("cw", f32(6, 2, 2, 2))],
                            {"group": 2, "dilations": [2, 2], "pads": [1, 1, 1, 1]}, 13, 1),
    "conv1d": ("Conv", [("x", f32(2, 3, 9)), ("cw", f32(2, 3, 3))],
               {"strides": [2], "pads": [1, 0]}, 13, 1),
    "conv_transpose": ("ConvTranspose", [("x", f32(2, 3, 4, 5)), ("cw", f32(3, 2, 3, 2)),
                                         ("cb", f32(2))], {"strides": [2, 1]}, 13, 1),
    "conv_transpose_pads": ("ConvTranspose", [("x", f32(1, 2, 4, 4)), ("cw", f32(2, 3, 3, 3))],
                            {"strides": [2, 2], "pads": [1, 0, 0, 2],
                             "output_padding": [1, 1], "dilations": [1, 2]}, 13, 1),
    "conv_transpose_groups": ("ConvTranspose", [("x", f32(1, 4, 3, 3)),
                                                ("cw", f32(4, 3, 2, 2))],
                              {"group": 2, "strides": [2, 2]}, 13, 1),
    "conv_transpose_output_shape": ("ConvTranspose", [("x", f32(1, 2, 3, 3)),
                                                      ("cw", f32(2, 2, 3, 3))],
                                    {"strides": [2, 2], "output_shape": [6, 7]}, 13, 1),
    "conv_transpose_same": ("ConvTranspose", [("x", f32(1, 2, 3, 4)), ("cw", f32(2, 1, 3, 2))],
                            {"strides": [2, 2], "auto_pad": "SAME_UPPER"}, 13, 1),
    "conv_transpose_1d": ("ConvTranspose", [("x", f32(2, 3, 5)), ("cw", f32(3, 2, 3))],
                          {"strides": [3], "pads": [1, 2], "output_padding": [2]}, 13, 1),
    "max_pool_dilated": ("MaxPool", [("x", X)], {"kernel_shape": [2, 2], "dilations": [2, 3],
                                                 "pads": [1, 0, 0, 1], "strides": [1, 2]},
                         13, 1),
    "avg_pool_dilated": ("AveragePool", [("x", X)], {"kernel_shape": [2, 2],
                                                     "dilations": [2, 2], "pads": [1, 1, 1, 1]},
                         19, 1),
    "avg_pool_dilated_count_pad": ("AveragePool", [("x", f32(2, 3, 7))],
                                   {"kernel_shape": [3], "dilations": [2], "pads": [2, 1],
                                    "count_include_pad": 1}, 19, 1),
    "conv3d": ("Conv", [("x", f32(2, 3, 4, 5, 4)), ("cw", f32(4, 3, 2, 3, 2)),
                        ("cb", f32(4))], {"strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 1]},
               13, 1),
    "conv3d_groups_dilated": ("Conv", [("x", f32(1, 4, 5, 4, 3)),
                                       ("cw", f32(2, 2, 2, 2, 2))],
                              {"group": 2, "dilations": [2, 1, 2],
                               "pads": [0, 1, 1, 1, 0, 1]}, 13, 1),
    "conv3d_same": ("Conv", [("x", f32(1, 2, 5, 4, 3)), ("cw", f32(3, 2, 2, 3, 2))],
                    {"auto_pad": "SAME_UPPER", "strides": [2, 1, 2]}, 13, 1),
    "max_pool3d": ("MaxPool", [("x", f32(2, 2, 4, 5, 3))],
                   {"kernel_shape": [2, 3, 2], "strides": [2, 1, 1], "pads": [1, 1, 0, 0, 1, 1]},
                   13, 1),
    "avg_pool3d_exclude_pad": ("AveragePool", [("x", f32(1, 2, 4, 4, 5))],
                               {"kernel_shape": [3, 2, 2], "pads": [1, 0, 1, 1, 1, 0],
                                "strides": [1, 2, 2]}, 19, 1),
    "avg_pool3d_same_dilated": ("AveragePool", [("x", f32(1, 2, 5, 4, 4))],
                                {"kernel_shape": [2, 2, 2], "dilations": [2, 1, 1],
                                 "auto_pad": "VALID", "count_include_pad": 1}, 19, 1),
    "max_pool_pads": ("MaxPool", [("x", X)],
                      {"kernel_shape": [3, 2], "pads": [1, 0, 1, 1], "strides": [2, 1]}, 13, 1),
    "max_pool_same": ("MaxPool", [("x", X)], {"kernel_shape": [2, 2], "strides": [2, 2],
                                              "auto_pad": "SAME_UPPER"}, 13, 1),
    "max_pool_ceil": ("MaxPool", [("x", X)], {"kernel_shape": [3, 2], "strides": [2, 2],
                                              "ceil_mode": 1}, 13, 1),
    "avg_pool_count_pad": ("AveragePool", [("x", X)],
                           {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1],
                            "count_include_pad": 1}, 13, 1),
    "avg_pool_exclude_pad": ("AveragePool", [("x", X)],
                             {"kernel_shape": [3, 2], "pads": [2, 0, 1, 1]}, 19, 1),
    "avg_pool_same": ("AveragePool", [("x", X)], {"kernel_shape": [3, 3], "strides": [2, 2],
                                                  "auto_pad": "SAME_UPPER"}, 13, 1),
    "avg_pool_1d": ("AveragePool", [("x", f32(2, 3, 8))], {"kernel_shape": [3]}, 13, 1),
    "global_max_pool": ("GlobalMaxPool", [("x", X)], {}, 13, 1),
    "reduce_mean_13": ("ReduceMean", [("x", X)], {"axes": [1, -1], "keepdims": 0}, 13, 1),
    "reduce_mean_18": ("ReduceMean", [("x", X), ("c", i64(1, -1))], {}, 18, 1),
    "reduce_sum_noop": ("ReduceSum", [("x", X), ("c", None)], {"noop_with_empty_axes": 1},
                        13, 1),
    "reduce_sum_all": ("ReduceSum", [("x", X)], {"keepdims": 0}, 13, 1),
    "reduce_l2": ("ReduceL2", [("x", X)], {"axes": [2]}, 13, 1),
    "reduce_sum_square": ("ReduceSumSquare", [("x", X), ("c", i64(0))], {}, 18, 1),
    "reduce_log_sum_exp": ("ReduceLogSumExp", [("x", X), ("c", i64(3))], {}, 18, 1),
    "reduce_max": ("ReduceMax", [("x", X), ("c", i64(2))], {"keepdims": 0}, 20, 1),
    "reduce_prod": ("ReduceProd", [("x", f32(3, 4))], {"axes": [1]}, 13, 1),
    "split_13": ("Split", [("x", f32(3, 5)), ("c", i64(1, 4))], {"axis": 1}, 13, 2),
    "split_18_uneven": ("Split", [("x", f32(7, 2))], {"num_outputs": 3}, 18, 3),
    "slice_steps": ("Slice", [("x", X), ("c1", i64(-1, 0)), ("c2", i64(-2**63, 9)),
                              ("c3", i64(-1, 1)), ("c4", i64(-2, 2))], {}, 13, 1),
    "gather_negative": ("Gather", [("x", f32(3, 4)), ("c", i64(-1, 0, 2))], {"axis": 1}, 13, 1),
    "gather_fed_indices": ("Gather", [("x", f32(4, 3)),
                                      ("ids", np.array([[3, -4], [1, 1]], np.int64))], {}, 13,
                           1),
    "gather_elements": ("GatherElements", [("x", f32(3, 4)),
                                           ("c", np.array([[0, -1], [2, 1], [1, 0]], np.int64))],
                        {"axis": 1}, 13, 1),
    "expand": ("Expand", [("x", f32(3, 1)), ("c", i64(2, 1, 4))], {}, 13, 1),
    "tile": ("Tile", [("x", f32(2, 3)), ("c", i64(2, 1))], {}, 13, 1),
    "pad_13": ("Pad", [("x", f32(2, 3)), ("c", i64(1, 0, 0, 2)), ("c2", np.float32(0.5))], {},
               13, 1),
    "pad_18_axes": ("Pad", [("x", f32(2, 3)), ("c", i64(2, 1)), ("c2", None),
                            ("c3", i64(-1))], {}, 18, 1),
    "pad_reflect": ("Pad", [("x", f32(3, 4)), ("c", i64(2, 1, 1, 3))], {"mode": "reflect"},
                    13, 1),
    "pad_edge_axes": ("Pad", [("x", f32(2, 3, 4)), ("c", i64(3, 2, 0, 1)), ("c2", None),
                              ("c3", i64(-1, 0))], {"mode": "edge"}, 18, 1),
    "pad_wrap": ("Pad", [("x", f32(3, 4)), ("c", i64(3, 0, 1, 4))], {"mode": "wrap"}, 19, 1),
    "mod_fmod": ("Mod", [("x", 3 * f32(3, 4)), ("c", np.float32(-1.3))], {"fmod": 1}, 13, 1),
    "mod_floor_float": ("Mod", [("x", 3 * f32(3, 4)), ("c", np.float32(-1.3))], {}, 28, 1),
    "mod_fmod_28": ("Mod", [("x", 3 * f32(3, 4)), ("c", np.float32(1.3))], {"fmod": 1}, 28,
                    1),
    "div_int": ("Div", [("x", np.array([[-7, 7, 6], [-6, 0, 5]], np.int64)),
                        ("y", np.array([2, -2, -4], np.int64))], {}, 14, 1),
    "div_int32": ("Div", [("x", np.array([-7, 7, -1], np.int32)),
                          ("c", np.int32(3))], {}, 14, 1),
    "mod_int": ("Mod", [("x", np.array([[-7, 5, 3], [8, -2, 0]], np.int64)),
                        ("y", np.array([3, -4, 2], np.int64))], {}, 13, 1),
    "reduce_max_bool": ("ReduceMax", [("x", np.array([[True, False, False], [False] * 3])),
                                      ("c", i64(1))], {}, 20, 1),
    "reduce_min_bool_all_axes": ("ReduceMin", [("x", np.array([[True, True], [True, False]]))],
                                 {"keepdims": 0}, 20, 1),
    "reduce_min_bool_rows": ("ReduceMin", [("x", np.array([[True, True], [True, False]])),
                                           ("c", i64(-1))], {}, 21, 1),
    "argmax": ("ArgMax", [("x", f32(3, 4, 5))], {"axis": -2}, 13, 1),
    "argmin_last": ("ArgMin", [("x", np.array([[1, 0, 0, 2], [3, 3, 1, 1]], np.float32))],
                    {"axis": 1, "keepdims": 0, "select_last_index": 1}, 13, 1),
    "resize_nearest_upsample": ("Resize", [("x", f32(1, 2, 3, 4)), ("c", None),
                                           ("c2", np.array([1, 1, 2, 3], np.float32))],
                                {"mode": "nearest", "nearest_mode": "floor",
                                 "coordinate_transformation_mode": "asymmetric"}, 13, 1),
    "resize_nearest_sizes": ("Resize", [("x", f32(1, 2, 5, 4)), ("c", None), ("c2", None),
                                        ("c3", i64(1, 2, 3, 7))], {}, 13, 1),
    "resize_linear_half_pixel": ("Resize", [("x", f32(2, 1, 3, 4)), ("c", None),
                                            ("c2", np.array([1, 1, 2, 1.5], np.float32))],
                                 {"mode": "linear"}, 13, 1),
    "resize_bilinear_torch": ("Resize", [("x", f32(1, 2, 4, 3)), ("c", None), ("c2", None),
                                         ("c3", i64(1, 2, 7, 1))],
                              {"mode": "linear",
                               "coordinate_transformation_mode": "pytorch_half_pixel"}, 13, 1),
    "resize_align_corners_axes": ("Resize", [("x", f32(2, 3, 5)), ("c", None), ("c2", None),
                                             ("c3", i64(9, 2))],
                                  {"mode": "linear", "axes": [2, 0],
                                   "coordinate_transformation_mode": "align_corners"}, 18, 1),
    "resize_symmetric_down": ("Resize", [("x", f32(1, 1, 6, 5)), ("c", None),
                                         ("c2", np.array([0.6, 0.5], np.float32))],
                              {"mode": "linear", "axes": [2, 3],
                               "coordinate_transformation_mode": "half_pixel_symmetric"},
                              19, 1),
    "resize_round_prefer_ceil": ("Resize", [("x", f32(1, 1, 4, 6)), ("c", None),
                                            ("c2", np.array([1, 1, 1.5, 0.5], np.float32))],
                                 {"nearest_mode": "round_prefer_ceil"}, 13, 1),
    "resize_cubic_upsample": ("Resize", [("x", f32(1, 2, 4, 5)), ("c", None),
                                         ("c2", np.array([1, 1, 1.7, 2.3], np.float32))],
                              {"mode": "cubic"}, 13, 1),
    "resize_cubic_exclude_outside": ("Resize", [("x", f32(2, 1, 5, 7)), ("c", None),
                                                ("c2", None), ("c3", i64(2, 1, 3, 11))],
                                     {"mode": "cubic", "cubic_coeff_a": -0.5,
                                      "exclude_outside": 1}, 13, 1),
    "resize_cubic_align_corners_axes": ("Resize", [("x", f32(2, 3, 4, 6)), ("c", None),
                                                   ("c2", None), ("c3", i64(4, 7))],
                                        {"mode": "cubic", "axes": [3, 2],
                                         "coordinate_transformation_mode": "align_corners"},
                                        18, 1),
    "resize_linear_antialias": ("Resize", [("x", f32(2, 1, 10, 9)), ("c", None),
                                           ("c2", np.array([1, 1, 0.35, 0.6], np.float32))],
                                {"mode": "linear", "antialias": 1}, 18, 1),
    "resize_cubic_antialias": ("Resize", [("x", f32(1, 2, 9, 10)), ("c", None), ("c2", None),
                                          ("c3", i64(3, 4))],
                               {"mode": "cubic", "antialias": 1, "axes": [2, 3],
                                "coordinate_transformation_mode": "half_pixel_symmetric"},
                               18, 1),
    "resize_cubic_antialias_exclude_outside": ("Resize", [("x", f32(1, 1, 10, 9)),
                                                          ("c", None),
                                                          ("c2", np.array([1, 1, 0.4, 0.6],
                                                                          np.float32))],
                                               {"mode": "cubic", "antialias": 1,
                                                "exclude_outside": 1,
                                                "cubic_coeff_a": -0.5}, 18, 1),
    "resize_not_larger": ("Resize", [("x", f32(1, 2, 6, 5)), ("c", None), ("c2", None),
                                     ("c3", i64(9, 4))],
                          {"mode": "linear", "axes": [2, 3],
                           "keep_aspect_ratio_policy": "not_larger"}, 18, 1),
    "resize_not_smaller": ("Resize", [("x", f32(1, 2, 6, 5)), ("c", None), ("c2", None),
                                      ("c3", i64(9, 4))],
                           {"mode": "cubic", "axes": [2, 3],
                            "keep_aspect_ratio_policy": "not_smaller"}, 18, 1),
    "resize_tf_crop_and_resize": ("Resize", [("x", f32(1, 1, 6, 5)),
                                             ("c", np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 1.3],
                                                            np.float32)),
                                             ("c2", np.array([1, 1, 0.8, 1.7], np.float32))],
                                  {"mode": "linear", "extrapolation_value": -2.0,
                                   "coordinate_transformation_mode": "tf_crop_and_resize"},
                                  13, 1),
    "resize_tf_crop_and_resize_nearest_axes": ("Resize", [("x", f32(2, 1, 6, 5)),
                                                          ("c", np.array([-0.2, 0.1, 0.9, 1.3],
                                                                         np.float32)),
                                                          ("c2", None), ("c3", i64(4, 7))],
                                               {"axes": [2, 3],
                                                "coordinate_transformation_mode":
                                                    "tf_crop_and_resize"}, 18, 1),
    "resize_tf_crop_and_resize_cubic_one": ("Resize", [("x", f32(1, 1, 6, 5)),
                                                       ("c", np.array([0.2, 0.1, 0.9, 0.7],
                                                                      np.float32)),
                                                       ("c2", None), ("c3", i64(1, 3))],
                                            {"mode": "cubic", "axes": [2, 3],
                                             "coordinate_transformation_mode":
                                                 "tf_crop_and_resize"}, 18, 1),
    "prelu": ("PRelu", [("x", X), ("c", f32(3, 1, 1))], {}, 16, 1),
    "mish": ("Mish", [("x", 2 * f32(3, 4))], {}, 18, 1),
    "celu": ("Celu", [("x", f32(3, 4))], {"alpha": 0.7}, 13, 1),
    "thresholded_relu": ("ThresholdedRelu", [("x", 2 * f32(3, 4))], {"alpha": 0.3}, 13, 1),
    "shrink": ("Shrink", [("x", 2 * f32(3, 4))], {"bias": 0.2, "lambd": 0.4}, 13, 1),
    "sinh": ("Sinh", [("x", f32(3, 4))], {}, 13, 1),
    "cosh": ("Cosh", [("x", f32(3, 4))], {}, 13, 1),
    "asinh": ("Asinh", [("x", 2 * f32(3, 4))], {}, 13, 1),
    "acosh": ("Acosh", [("x", f32(3, 4, positive=True) + 1)], {}, 13, 1),
    "atanh": ("Atanh", [("x", np.tanh(f32(3, 4)))], {}, 13, 1),
    "atan": ("Atan", [("x", 2 * f32(3, 4))], {}, 13, 1),
    "asin": ("Asin", [("x", 0.9 * np.tanh(f32(3, 4)))], {}, 13, 1),
    "acos": ("Acos", [("x", 0.9 * np.tanh(f32(3, 4)))], {}, 13, 1),
    "is_nan": ("IsNaN", [("x", np.array([1.0, np.nan, -np.inf], np.float32))], {}, 13, 1),
    "is_inf": ("IsInf", [("x", np.array([1.0, np.nan, -np.inf, np.inf], np.float32))],
               {"detect_positive": 0}, 20, 1),
    "xor": ("Xor", [("a", np.array([True, False, True])), ("b", np.array([[True], [False]]))],
            {}, 13, 1),
    "cumsum": ("CumSum", [("x", f32(3, 4)), ("c", np.int64(-1))], {}, 14, 1),
    "cumsum_exclusive_reverse": ("CumSum", [("x", f32(3, 4)), ("c", np.int32(0))],
                                 {"exclusive": 1, "reverse": 1}, 14, 1),
    "lp_norm_2": ("LpNormalization", [("x", f32(3, 4))], {"axis": 0}, 13, 1),
    "lp_norm_1": ("LpNormalization", [("x", f32(3, 4))], {"p": 1}, 13, 1),
    "scatter_nd": ("ScatterND", [("x", f32(4, 3, 2)), ("c", np.array([[1], [-1]], np.int64)),
                                 ("u", f32(2, 3, 2))], {}, 13, 1),
    "scatter_nd_add_repeats": ("ScatterND", [("x", f32(3, 4)),
                                             ("c", np.array([[0, 1], [2, 3], [0, 1]],
                                                            np.int64)),
                                             ("u", f32(3))], {"reduction": "add"}, 16, 1),
    "scatter_elements": ("ScatterElements", [("x", f32(3, 4)),
                                             ("c", np.array([[1, 0], [3, -1]], np.int64)),
                                             ("u", f32(2, 2))], {"axis": 1}, 18, 1),
    "scatter_nd_mul_repeats": ("ScatterND", [("x", f32(3, 4)),
                                             ("c", np.array([[0, 1], [2, 3], [0, 1]],
                                                            np.int64)),
                                             ("u", f32(3))], {"reduction": "mul"}, 16, 1),
    "scatter_nd_max_rows": ("ScatterND", [("x", f32(4, 3)),
                                          ("c", np.array([[1], [-1], [1]], np.int64)),
                                          ("u", f32(3, 3))], {"reduction": "max"}, 18, 1),
    "scatter_elements_min_repeats": ("ScatterElements",
                                     [("x", f32(3, 4)),
                                      ("c", np.array([[1, 1, 3], [0, 0, 0]], np.int64)),
                                      ("u", f32(2, 3))],
                                     {"axis": 1, "reduction": "min"}, 18, 1),
    "scatter_elements_max_axis0": ("ScatterElements",
                                   [("x", f32(3, 2)), ("c", np.array([[2, 0], [2, 2]], np.int64)),
                                    ("u", f32(2, 2))], {"reduction": "max"}, 18, 1),
    "scatter_elements_mul": ("ScatterElements",
                             [("x", f32(2, 4)), ("c", np.array([[3, -1, 0]], np.int64)),
                              ("u", f32(1, 3))], {"axis": 1, "reduction": "mul"}, 16, 1),
    "one_hot": ("OneHot", [("x", np.array([[0, 3], [-1, 2]], np.int64)), ("c", np.int64(4)),
                           ("c2", np.array([-1.0, 2.0], np.float32))], {"axis": 1}, 13, 1),
    "transpose": ("Transpose", [("x", X)], {"perm": [2, 0, 3, 1]}, 13, 1),
    "unsqueeze": ("Unsqueeze", [("x", f32(3, 4)), ("c", i64(0, -1))], {}, 13, 1),
    "squeeze": ("Squeeze", [("x", f32(3, 1, 4)), ("c", i64(1))], {}, 13, 1),
    "flatten": ("Flatten", [("x", X)], {"axis": 2}, 13, 1),
    "reshape_zero": ("Reshape", [("x", X), ("c", i64(0, -1, 4))], {}, 14, 1),
    "concat": ("Concat", [("a", f32(3, 2)), ("b", f32(3, 4))], {"axis": -1}, 13, 1),
    "where": ("Where", [("c", np.array([True, False, True])), ("a", f32(2, 3)),
                        ("b", f32(3))], {}, 16, 1),
    "trilu": ("Trilu", [("x", f32(2, 4, 3)), ("c", np.int64(1))], {"upper": 1}, 14, 1),
    "dropout": ("Dropout", [("x", f32(3, 4)), ("c", np.float32(0.3))], {}, 13, 1),
    "dropout_mask": ("Dropout", [("x", f32(3, 4)), ("c", np.float32(0.3)),
                                 ("c2", np.array(False))], {}, 13, 2),
    "cast_double": ("Cast", [("x", f32(3, 4))], {"to": onnx.TensorProto.DOUBLE}, 19, 1),
    "cast_like": ("CastLike", [("x", f32(3, 4)), ("c", np.zeros(1, np.float64))], {}, 15, 1),
    "cast_25": ("Cast", [("x", f32(3, 4))], {"to": onnx.TensorProto.DOUBLE}, 25, 1),
    "cast_like_25": ("CastLike", [("x", f32(3, 4)), ("c", np.zeros(1, np.float64))], {},
                     25, 1),
    "identity": ("Identity", [("x", f32(3, 4))], {}, 21, 1),
    "top_k": ("TopK", [("x", f32(3, 6, 2)), ("c", i64(3))], {"axis": 1}, 13, 2),
    "top_k_smallest_last_axis": ("TopK", [("x", f32(2, 5)), ("c", i64(5))],
                                 {"largest": 0, "sorted": 1}, 21, 2),
    "hardmax": ("Hardmax", [("x", f32(3, 4, 5))], {"axis": 1}, 13, 1),
    "float64_model": ("Gemm", [("a", f32(2, 3).astype(np.float64)),
                               ("b", f32(3, 4).astype(np.float64))], {"transB": 0}, 13, 1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lowering(case: str) -> None:
    op, inputs, attrs, opset, n_out = CASES[case]
    model, feeds = one_node(op, inputs, attrs, opset, n_out)
    check_model(model, feeds)


def test_cases_cover_most_of_the_table() -> None:
    covered = {op for op, *_ in CASES.values()}
    assert len(covered) >= 50


def test_versions_cover_opsets_13_to_21() -> None:
    for op_type, entry in TABLE.items():
        for opset in range(FIRST, LAST + 1):
            version = since_version(op_type, opset)
            assert version == 0 or version in entry.versions, (op_type, opset)
        in_range = set(versions_in_range(op_type))
        later = set(entry.versions) - in_range  # declared by hand, each a real version
        assert in_range <= set(entry.versions), op_type
        assert all(v > LAST and since_version(op_type, v) == v for v in later), op_type


def test_a_later_opset_is_taken_where_the_op_is_unchanged() -> None:
    model, feeds = one_node("Relu", [("x", f32(3, 4))], {}, 23)
    assert since_version("Relu", 23) == 14
    check_model(model, feeds)


def test_supported_ops_listing() -> None:
    listing = onnxio.supported_ops()
    by_type = {e["op_type"]: e for e in listing}
    assert len(by_type) == len(listing) == len(TABLE)
    for op in ("Conv", "BatchNormalization", "LayerNormalization", "Gemm", "Softmax",
               "Reshape", "Split", "Slice", "Gather", "GatherElements", "Where", "Expand",
               "ReduceMean", "Shape", "Constant", "ConstantOfShape", "Gelu", "Erf",
               "ConvTranspose", "Resize", "InstanceNormalization", "ScatterND", "Mish",
               "ArgMax", "Mod", "DepthToSpace"):
        assert op in by_type, op
    assert by_type["Split"]["versions"] == [13, 18]
    assert by_type["Range"]["folded_only"] is True
    assert all(isinstance(e["lowering"], str) and e["lowering"] for e in listing)


def test_pads_computed_from_the_input_shape_fold_once_the_shape_is_known() -> None:
    """torch's F.pad exports its pads as a shape computation: Pad takes them once the
    feed's shape makes them known (here [1, 1, 2, 2] from a symbolic [N, 4])."""
    x = f32(3, 4)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Div", ["s", "s"], ["ones"]),
             helper.make_node("Sub", ["c56", "s"], ["ends"]),
             helper.make_node("Concat", ["ones", "ends"], ["pads"], axis=0),
             helper.make_node("Pad", ["x", "pads"], ["y"], name="the_pad", mode="reflect")]
    graph = helper.make_graph(
        nodes, "pad_of_shape",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(i64(5, 6), "c56")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              ir_version=8).SerializeToString()
    with pytest.raises(onnxio.OnnxError, match="static input shapes"):
        onnxio.to_description(model)  # the shape computation cannot fold over N
    out = check_model(model, {"x": x}, shapes={"x": [3, 4]})
    assert out["values"]["y"].shape == (3 + 1 + 2, 4 + 1 + 2)


def test_a_dilated_same_pool_follows_the_spec_where_onnxruntime_does_not() -> None:
    """auto_pad SAME_UPPER with dilations: the spec (and onnx's reference evaluator and
    shape inference) give ceil(in / stride) rows; onnxruntime 1.x gives fewer, so this
    case is checked against the reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    model, feeds = one_node("MaxPool", [("x", X)], {"kernel_shape": [2, 2], "dilations": [2, 1],
                                                    "auto_pad": "SAME_UPPER"}, 13)
    graph, description = build(model)
    got = run(graph, description["outputs"], feeds)[0]
    want = ReferenceEvaluator(onnx.load_from_string(model)).run(None, feeds)[0]
    assert got.shape == X.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_a_bool_reduction_over_no_elements_is_any_or_all(op: str) -> None:
    """ReduceMax / ReduceMin of bool over an empty axis: False / True, as any and all (and
    ONNX's reference evaluator; onnxruntime refuses empty reductions)."""
    from onnx.reference import ReferenceEvaluator

    x = np.zeros((2, 0, 3), bool)
    model, feeds = one_node(op, [("x", x), ("c", i64(1))], {"keepdims": 0}, 20)
    graph, description = build(model)
    got = run(graph, description["outputs"], feeds)[0]
    want = ReferenceEvaluator(onnx.load_from_string(model)).run(None, feeds)[0]
    assert got.dtype == want.dtype == np.bool_ and got.shape == want.shape == (2, 3)
    np.testing.assert_array_equal(got, want)
    assert got.all() == (op == "ReduceMin")


@pytest.mark.parametrize("op", ["Cast", "CastLike"])
def test_round_mode_changes_no_cast_to_a_type_of_ours(op: str) -> None:
    """Cast-24's round_mode applies to casts to float8e8m0 only: a cast to float16 with it
    answers as ONNX's reference evaluator's Cast does (onnxruntime refuses the attribute
    there, the evaluator's CastLike does not take it); a round_mode ONNX does not define
    is refused naming it."""
    from onnx.reference import ReferenceEvaluator

    x = np.array([0.1, -2.7, 65519.0, 1e-8, np.inf], np.float32)
    to = {"to": onnx.TensorProto.FLOAT16}
    reference, feeds = one_node("Cast", [("x", x)], {**to, "round_mode": "down"}, 24)
    want = ReferenceEvaluator(onnx.load_from_string(reference)).run(None, feeds)[0]
    inputs = [("x", x)] + ([("c", np.zeros(1, np.float16))] if op == "CastLike" else [])
    attrs = to if op == "Cast" else {}
    model, _ = one_node(op, inputs, {**attrs, "round_mode": "down"}, 24)
    graph, description = build(model)
    got = run(graph, description["outputs"], feeds)[0]
    assert got.dtype == want.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    model, _ = one_node(op, inputs, {**attrs, "round_mode": "sideways"}, 24)
    with pytest.raises(onnxio.OnnxError, match="round_mode 'sideways'"):
        build(model)


@pytest.mark.parametrize("op", ["LayerNormalization", "BatchNormalization"])
def test_a_normalization_whose_output_the_gradient_reads_is_exported(op: str) -> None:
    """y = norm(x); z = y * y: z's gradient reads y, so the exported gradient graph holds
    the layer_norm / batch_norm node itself."""
    x = f32(2, 3, 4)
    params = ([f32(4), f32(4)] if op == "LayerNormalization"
              else [f32(3), f32(3), f32(3), f32(3, positive=True)])
    names = [f"c{i}" for i in range(len(params))]
    nodes = [helper.make_node(op, ["x", *names], ["y"], epsilon=1e-3),
             helper.make_node("Mul", ["y", "y"], ["z"])]
    graph = helper.make_graph(
        nodes, "norm_squared", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                              [2, 3, 4])],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(a, n) for a, n in zip(params, names)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=8).SerializeToString()
    out = check_model(model, {"x": x})
    ours = {"LayerNormalization": "layer_norm", "BatchNormalization": "batch_norm"}[op]
    assert ours in {n.op for n in out["graph"].nodes}


@pytest.mark.parametrize("case", ["resize_linear_half_pixel", "resize_tf_crop_and_resize",
                                  "pad_13", "one_hot", "clip"])
def test_a_float_initializer_read_only_at_import_is_a_constant(case: str) -> None:
    """Resize's scales and roi, Pad's constant_value, OneHot's values: the graph is built from
    their stored value, so they are constants (feeding one could change nothing); Clip's
    bounds are tensors of the graph and stay trainable variables."""
    op, inputs, attrs, opset, n_out = CASES[case]
    model, _ = one_node(op, inputs, attrs, opset, n_out)
    _, description = build(model)
    kinds = {n["name"]: n["op"] for n in description["nodes"]}
    floats = [name for name, a in inputs if name.startswith("c") and a is not None
              and a.dtype.kind == "f"]
    assert floats
    want = "variable" if op == "Clip" else "constant"
    assert {kinds[name] for name in floats} == {want}


def _two_nodes(first: Any, then: str, feeds: dict[str, np.ndarray],
               inits: dict[str, np.ndarray], opset: int = 13) -> bytes:
    """``first`` (a node writing "y"), then ``then``(y, x) or ``then``(y, y) as "z"."""
    second = helper.make_node(then, ["y", "x" if then == "Mul" and "x" in feeds else "y"],
                              ["z"])
    graph = helper.make_graph(
        [first, second], "two",
        [helper.make_tensor_value_info(k, TO_ONNX[v.dtype.name], list(v.shape))
         for k, v in feeds.items()],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8).SerializeToString()


def test_exported_gradient_graphs_that_read_one_hot_argmax_mod_and_atan2() -> None:
    """Each forward node is read by the gradient (z = y * x, or y * y), so the exported
    gradient graph holds one_hot, argmax, floor_mod, atan2 themselves."""
    labels = np.array([[0, 3, -1], [2, 1, 0]], np.int64)
    cases = [
        (helper.make_node("OneHot", ["labels", "c_depth", "c_values"], ["y"], axis=-1),
         {"labels": labels, "x": f32(2, 3, 4)},
         {"c_depth": np.int64(4), "c_values": np.array([0.0, 1.0], np.float32)}),
        (helper.make_node("Cast", ["i"], ["y"], to=onnx.TensorProto.FLOAT), None, None),
        (helper.make_node("Mod", ["x", "c"], ["y"], fmod=1), {"x": 3 * f32(3, 4)},
         {"c": np.float32(-1.3)}),
        (helper.make_node("Acos", ["x"], ["y"]), {"x": 0.9 * np.tanh(f32(3, 4))}, {}),
    ]
    for first, feeds, inits in cases:
        if feeds is None:  # ArgMax, cast to float, times x
            x = f32(3, 4)
            nodes = [helper.make_node("ArgMax", ["x"], ["i"], axis=1), first,
                     helper.make_node("Mul", ["y", "x"], ["z"])]
            graph = helper.make_graph(
                nodes, "argmax", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                [3, 4])],
                [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                      ir_version=8).SerializeToString()
            feeds = {"x": x}
        else:
            model = _two_nodes(first, "Mul", feeds, inits)
        check_model(model, feeds)


def test_an_integer_div_truncates_toward_zero_and_its_gradient_graph_exports() -> None:
    """z = x * float(n / 2 toward zero), n = argmax(x) - 3 (negative, so floor would
    differ): the forward against onnxruntime, and the exported gradient graph reads the
    quotient (truncate_div)."""
    nodes = [helper.make_node("ArgMax", ["x"], ["i"], axis=1, keepdims=0),
             helper.make_node("Sub", ["i", "c_three"], ["n"]),
             helper.make_node("Div", ["n", "c_two"], ["q"]),
             helper.make_node("Cast", ["q"], ["y"], to=onnx.TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["y", "c_axis"], ["u"]),
             helper.make_node("Mul", ["u", "x"], ["z"])]
    inits = {"c_three": np.int64(3), "c_two": np.int64(2), "c_axis": i64(1)}
    graph = helper.make_graph(
        nodes, "div", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [6, 4])],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                              ir_version=8).SerializeToString()
    x = np.eye(6, 4, dtype=np.float32)[[0, 1, 2, 3, 1, 0]] + 0.1 * f32(6, 4)
    out = check_model(model, {"x": x})
    quotient = out["values"]["z"][:, 0] / x[:, 0]
    np.testing.assert_allclose(quotient, [-1, -1, 0, 0, -1, -1], rtol=1e-5)  # -3/2, -1/2


def _if_model(cond_nodes: list[Any], cond: str) -> bytes:
    """y = If(cond) then tanh(x) * w else -x; the branches read x and w of the outer graph."""
    out = lambda name: helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
    then = helper.make_graph([helper.make_node("Tanh", ["x"], ["t0"]),
                              helper.make_node("Mul", ["t0", "cw"], ["t"])], "then", [],
                             [out("t")])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [out("e")])
    nodes = [*cond_nodes, helper.make_node("If", [cond], ["y"], name="the_if",
                                           then_branch=then, else_branch=other)]
    graph = helper.make_graph(
        nodes, "if", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [out("y")], initializer=[numpy_helper.from_array(f32(3), "cw"),
                                 numpy_helper.from_array(i64(2), "c2")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


@pytest.mark.parametrize("rows, branch", [(2, "Tanh"), (5, "Neg")])
def test_an_if_on_static_shapes_inlines_the_branch_it_picks(rows: int, branch: str) -> None:
    """TorchScript's If on a shape test: the condition folds, the chosen branch (which
    reads the outer x and weight) is inlined, and the result is differentiated."""
    cond = [helper.make_node("Constant", [], ["c0"], value=numpy_helper.from_array(
                np.int64(0))),
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Gather", ["s", "c0"], ["n"], axis=0),
            helper.make_node("Equal", ["n", "c2"], ["is"])]  # x.size(0) == 2
    model = _if_model(cond, "is")
    if rows != 2:  # the same test against another constant: the else branch
        model_proto = onnx.load_from_string(model)
        model_proto.graph.initializer[1].CopyFrom(numpy_helper.from_array(i64(rows), "c2"))
        model = model_proto.SerializeToString()
    out = check_model(model, {"x": f32(2, 3)})
    assert branch.lower() in {n.op for n in out["graph"].nodes}


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_an_if_on_values_is_a_cond_reading_the_outer_values(sign: float) -> None:
    """If(sum(x) > 0): known only at run time, so a cond whose branches take the outer x
    and w as operands; each branch is taken by one feed, and differentiated."""
    model = _if_model([helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
                       helper.make_node("Greater", ["total", "cw0"], ["big"])], "big")
    proto = onnx.load_from_string(model)
    proto.graph.initializer.append(numpy_helper.from_array(np.float32(0), "cw0"))
    model = proto.SerializeToString()
    x = np.abs(f32(2, 3)) * sign
    out = check_model(model, {"x": x})
    assert "cond" in {n.op for n in out["graph"].nodes}
    assert out["gradients"]["cw"] is not None


def _if_with_a_branch_initializer(cond_nodes: list[Any], cond: str) -> bytes:
    """y = If(cond) then tanh(x) * cw * bw else -x, bw the then branch's own initializer."""
    out = lambda name: helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
    then = helper.make_graph([helper.make_node("Tanh", ["x"], ["t0"]),
                              helper.make_node("Mul", ["t0", "cw"], ["t1"]),
                              helper.make_node("Mul", ["t1", "bw"], ["t"])], "then", [],
                             [out("t")], initializer=[numpy_helper.from_array(f32(3), "bw")])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [out("e")])
    nodes = [*cond_nodes, helper.make_node("If", [cond], ["y"], name="the_if",
                                           then_branch=then, else_branch=other)]
    graph = helper.make_graph(
        nodes, "if", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [out("y")], initializer=[numpy_helper.from_array(f32(3), "cw")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


def test_a_branch_initializer_is_a_constant_whether_the_if_is_inlined_or_not() -> None:
    """The then branch's own initializer bw, under a condition known at import (x's
    rows == 2: the branch inlined) and under one known at run time (sum(x) > 0: a cond):
    the model's variables are the same either way, the outer cw and never bw
    (docs/api.md), and both answer as onnxruntime does."""
    const = lambda name, value: helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(value))
    on_shape = [const("c0", np.int64(0)), const("c2", np.int64(2)),
                helper.make_node("Shape", ["x"], ["s"]),
                helper.make_node("Gather", ["s", "c0"], ["n"], axis=0),
                helper.make_node("Equal", ["n", "c2"], ["is"])]
    on_values = [const("zero", np.float32(0)),
                 helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
                 helper.make_node("Greater", ["total", "zero"], ["is"])]
    x = np.abs(f32(2, 3))  # both conditions true: the then branch
    for cond_nodes, op in ((on_shape, "mul"), (on_values, "cond")):
        model = _if_with_a_branch_initializer(cond_nodes, "is")
        description = onnxio.to_description(model)
        assert op in {n["op"] for n in description["nodes"]}
        assert ("cond" in {n["op"] for n in description["nodes"]}) == (op == "cond")
        assert [n["name"] for n in description["nodes"] if n["op"] == "variable"] == ["cw"]
        graph, _ = build(model)
        (y,) = run(graph, ["y"], {"x": x})
        np.testing.assert_allclose(y, ort_run(model, {"x": x})[0], rtol=1e-6)


def test_top_k_breaks_ties_by_the_lower_index_and_sends_the_gradient_there() -> None:
    """Ties (where central differences say nothing): ONNX picks the lower index first, as
    onnxruntime does; the VJP puts each value's cotangent at the index it came from."""
    x = np.array([[1, 3, 3, 0, 3], [2, 2, 2, 2, 2]], np.float32)
    model, feeds = one_node("TopK", [("x", x), ("c", i64(4))], {}, 19, 2)
    graph, description = build(model)
    values, indices = run(graph, description["outputs"], feeds)
    want_values, want_indices = ort_run(model, feeds)
    np.testing.assert_array_equal(values, want_values)
    np.testing.assert_array_equal(indices, want_indices)
    assert indices.tolist() == [[1, 2, 4, 0], [0, 1, 2, 3]]
    g = rng.normal(size=values.shape).astype(np.float32)
    (grad,) = compute_gradients(graph, feeds, ["out0"], ["x"], grad_ys=[g]).gradients
    want = np.zeros_like(x)
    np.put_along_axis(want, indices, g, axis=1)
    np.testing.assert_allclose(grad, want)


def test_top_k_with_k_from_a_feed_is_refused_naming_it() -> None:
    model, _ = one_node("TopK", [("x", f32(2, 5)), ("k", i64(2))], {}, 13, 2)
    with pytest.raises(onnxio.OnnxError, match="K") as err:
        onnxio.to_description(model)
    assert (err.value.node, err.value.op_type) == ("the_TopK", "TopK")


def _loop_model(cond_out: list[Any], scan: bool, trip: np.ndarray | None = None) -> bytes:
    """h = Loop(M = 4, cond = true, h0) with body h' = tanh(h * w + x) + 0.1 i, reading
    the outer x and w; ``cond_out`` computes the body's condition "c1" from h' and "c";
    ``scan`` adds a scan output 2 h'. ``trip`` None: M is a graph input (refused)."""
    T = onnx.TensorProto
    vi = lambda name, t=T.FLOAT, shape=None: helper.make_tensor_value_info(name, t, shape)
    body_nodes = [helper.make_node("Mul", ["h", "w"], ["hw"]),
                  helper.make_node("Add", ["hw", "x"], ["pre"]),
                  helper.make_node("Tanh", ["pre"], ["th"]),
                  helper.make_node("Cast", ["i"], ["fi"], to=T.FLOAT),
                  helper.make_node("Mul", ["fi", "tenth"], ["ti"]),
                  helper.make_node("Add", ["th", "ti"], ["h1"]), *cond_out]
    outs = [vi("c1", T.BOOL, []), vi("h1")]
    if scan:
        body_nodes.append(helper.make_node("Mul", ["h1", "two"], ["y"]))
        outs.append(vi("y"))
    body = helper.make_graph(body_nodes, "body", [vi("i", T.INT64, []), vi("c", T.BOOL, []),
                                                  vi("h")], outs)
    inits = [numpy_helper.from_array(f32(3), "w"), numpy_helper.from_array(f32(3), "h0"),
             numpy_helper.from_array(np.float32(0.1), "tenth"),
             numpy_helper.from_array(np.float32(2), "two"),
             numpy_helper.from_array(np.float32(1.5), "limit"),
             numpy_helper.from_array(np.array(True), "go")]
    inputs = [vi("x", T.FLOAT, [3])]
    if trip is None:
        inputs.append(vi("m", T.INT64, []))
    else:
        inits.append(numpy_helper.from_array(trip, "m"))
    loop = helper.make_node("Loop", ["m", "go", "h0"], ["hN", *(["ys"] if scan else [])],
                            name="the_loop", body=body)
    graph = helper.make_graph([loop], "loop", inputs,
                              [vi("hN"), *([vi("ys")] if scan else [])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


_PASS_ON = [helper.make_node("Identity", ["c"], ["c1"])]
_STOP_AT = [helper.make_node("ReduceSum", ["h1"], ["s"], keepdims=0),
            helper.make_node("Less", ["s", "limit"], ["c1"])]  # stop once sum(h) >= 1.5


@pytest.mark.parametrize("cond_out, scan", [(_PASS_ON, True), (_PASS_ON, False),
                                            (_STOP_AT, False)])
def test_a_loop_is_a_while_loop_reading_the_outer_values(cond_out: list[Any],
                                                          scan: bool) -> None:
    """torch's for-loop (M, a condition passed on, a scan output) and a loop that stops
    on its values: forward vs onnxruntime, gradients to x, w and h0 by central differences."""
    model = _loop_model(cond_out, scan, np.int64(4))
    x = f32(3) + (1.0 if cond_out is _STOP_AT else 0.0)  # stops within the 4 iterations
    out = check_model(model, {"x": x})
    assert "while_loop" in {n.op for n in out["graph"].nodes}
    assert {"x", "w", "h0"} <= set(out["gradients"])


def test_scan_outputs_of_a_loop_that_may_stop_early_are_refused_naming_it() -> None:
    with pytest.raises(onnxio.OnnxError, match="scan outputs") as err:
        onnxio.to_description(_loop_model(_STOP_AT, True, np.int64(4)))
    assert (err.value.node, err.value.op_type) == ("the_loop", "Loop")


def test_a_loop_whose_trip_count_is_fed_is_refused_naming_it() -> None:
    with pytest.raises(onnxio.OnnxError, match="trip count") as err:
        onnxio.to_description(_loop_model(_PASS_ON, False))
    assert (err.value.node, err.value.op_type) == ("the_loop", "Loop")


@pytest.mark.parametrize("m", [2**31 - 1, 2**63 - 1])
def test_a_loop_with_an_exporters_no_bound_is_refused_at_import_naming_it(m: int) -> None:
    """torch writes INT64_MAX for a while loop: a 422 naming the ONNX node, not a work
    limit (a 413 naming an internal node) once shapes are known."""
    with pytest.raises(onnxio.OnnxError, match="no bound") as err:
        onnxio.to_description(_loop_model(_STOP_AT, False, np.int64(m)))
    assert (err.value.node, err.value.op_type) == ("the_loop", "Loop")


def _nested_model(inner_op: str = "Neg") -> bytes:
    """A Loop (M = 3) whose body holds an If on the carried value's sum (shaped [1], as
    exporters write it), its branches reading the outer graph's w and the body's h:
    h' = If(sum(h) > 0) then h * w else <inner_op>(h) - w."""
    T = onnx.TensorProto
    vi = lambda name, t=T.FLOAT, shape=None: helper.make_tensor_value_info(name, t, shape)
    then = helper.make_graph([helper.make_node("Mul", ["h", "w"], ["a"])], "then", [],
                             [vi("a")])
    other = helper.make_graph([helper.make_node(inner_op, ["h"], ["nh"], name="the_inner"),
                               helper.make_node("Sub", ["nh", "w"], ["b"])], "else", [],
                              [vi("b")])
    body = helper.make_graph(
        [helper.make_node("ReduceSum", ["h", "one"], ["s"], keepdims=1),
         helper.make_node("Greater", ["s", "zero"], ["pos"]),
         helper.make_node("If", ["pos"], ["h1"], name="the_if", then_branch=then,
                          else_branch=other),
         helper.make_node("Identity", ["c"], ["c1"])],
        "body", [vi("i", T.INT64, []), vi("c", T.BOOL, []), vi("h")],
        [vi("c1", T.BOOL, []), vi("h1")])
    inits = [numpy_helper.from_array(np.float32([0.5, -1.5, 0.75]), "w"),
             numpy_helper.from_array(i64(3), "m"), numpy_helper.from_array(i64(0), "one"),
             numpy_helper.from_array(np.float32([0]), "zero"),
             numpy_helper.from_array(np.array(True), "go")]
    graph = helper.make_graph(
        [helper.make_node("Loop", ["m", "go", "x"], ["hN"], name="the_loop", body=body)],
        "nested", [vi("x", T.FLOAT, [3])], [vi("hN")], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


@pytest.mark.parametrize("x", [[1.0, 0.5, 0.25], [-1.0, 0.5, -0.25], [0.2, -0.9, 0.3]])
def test_an_if_in_a_loop_body_reads_both_enclosing_graphs(x: list[float]) -> None:
    """Nested subgraphs: the If's branches read the body's h and the model's w (passed
    through the loop as an invariant, then into the cond as an operand); feeds that take
    different branches over the iterations; exported back as a Loop holding an If."""
    out = check_model(_nested_model(), {"x": np.float32(x)})
    assert "while_loop" in {n.op for n in out["graph"].nodes}


def test_an_unsupported_op_inside_a_branch_is_refused_naming_that_node() -> None:
    with pytest.raises(onnxio.OnnxError, match="not supported") as err:
        onnxio.to_description(_nested_model("Unique"))
    assert (err.value.node, err.value.op_type) == ("the_inner", "Unique")


@pytest.mark.parametrize("cond_out, scan", [(_PASS_ON, True), (_STOP_AT, False)])
def test_an_imported_loop_differentiates_twice(cond_out: list[Any], scan: bool) -> None:
    """Second derivatives through the Loop (the gradient graph's stacked and backward
    while_loops differentiated again): d/dx <d hN/dx^T u, v> by float64 central
    differences of the first gradient."""
    description = onnxio.to_description(_loop_model(cond_out, scan, np.int64(4)))
    graph = as_float64(description)
    x = np.array([0.3, 0.9, -0.4]) + (1.0 if cond_out is _STOP_AT else 0.0)
    first = compute_gradients(graph, {"x": x}, ["hN"], ["x"], return_graph=True)
    (gx,) = first.gradient_nodes
    v = rng.normal(size=3)
    (second,) = compute_gradients(first.graph, {"x": x}, [gx], ["x"], grad_ys=[v]).gradients
    along = lambda p: float(run(first.graph, [gx], {"x": p})[0] @ v)
    h = 1e-6
    numeric = [(along(x + h * e) - along(x - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(second, numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(second).max() > 1e-3  # tanh: the loop is not linear in x


def test_top_k_over_a_symbolic_axis_is_refused_naming_it() -> None:
    model, _ = one_node("TopK", [("x", f32(2, 5)), ("c", i64(2))], {}, 13, 2)
    proto = onnx.load_from_string(model)
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "n"
    with pytest.raises(onnxio.OnnxError, match="static size") as err:
        onnxio.to_description(proto.SerializeToString())
    assert (err.value.node, err.value.op_type) == ("the_TopK", "TopK")


def test_an_if_on_more_than_one_value_is_refused_naming_it() -> None:
    model = _if_model([helper.make_node("Greater", ["x", "cw"], ["many"])], "many")
    with pytest.raises(onnxio.OnnxError, match="one value") as err:
        onnxio.to_description(model)
    assert (err.value.node, err.value.op_type) == ("the_if", "If")
