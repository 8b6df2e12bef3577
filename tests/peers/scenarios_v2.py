"""Scenarios for the v2 ops (OPS.md "v2: more ops"), chiefly at their kinks: ties, zeros,
NaN and infinite inputs, recorded in both libraries. These are the conventions-table rows
of the new ops."""
from __future__ import annotations

from typing import Any

import numpy as np

from .scenarios_v1 import TF_AG, TF_MG, TF_NG
from .wire import F64, const, grad_operation_case, gradients_case, op, ph

NAN, INF = np.nan, np.inf
KINK = "tensorflow/python/ops/math_grad_test.py"
MS_SRC = "mindspore ops bprop at the kink (tests/st/ops/*grad*)"


def _two(kind: str, a: Any, b: Any, lib: str, source: str, cid: str, **attrs: Any
         ) -> dict[str, Any]:
    dt = F64 if lib == "tf" else "float32"
    a, b = np.asarray(a, dt), np.asarray(b, dt)
    nodes = [ph("a", list(a.shape), dt), ph("b", list(b.shape), dt),
             op("z", kind, "a", "b", **attrs)]
    if lib == "tf":
        return gradients_case(cid, source, nodes, {"a": a, "b": b}, ["z"], ["a", "b"])
    return grad_operation_case(cid, source, nodes, [a, b], ["a", "b"], ["z"], get_all=True)


def _one(kind: str, x: Any, lib: str, source: str, cid: str, **attrs: Any) -> dict[str, Any]:
    dt = F64 if lib == "tf" else "float32"
    x = np.asarray(x, dt)
    nodes = [ph("x", list(x.shape), dt), op("y", kind, "x", **attrs)]
    if lib == "tf":
        return gradients_case(cid, source, nodes, {"x": x}, ["y"], ["x"])
    return grad_operation_case(cid, source, nodes, [x], ["x"], ["y"], get_all=True)


def _kinks(lib: str) -> list[dict[str, Any]]:
    p = f"v2-{lib}"
    ms = lib == "ms"
    src = (lambda t: MS_SRC) if ms else (lambda t: f"{KINK} {t}")
    out = [
        _two("div_no_nan", [-3, -2, -1, 0, 1, 2, NAN], [0, 0, 0, 0, 0, 0, 0], lib,
             src("DivNoNanGradientTest.testGradientWithDenominatorIsZero"),
             f"{p}-div-no-nan-zero-denominator"),
        _two("div_no_nan", [-3, 0, 2], [2, 4, -1], lib,
             src("DivNoNanGradientTest.testBasicGradient"), f"{p}-div-no-nan-basic"),
        _two("mul_no_nan", [0, 1, NAN, INF, -INF], [0, 0, 0, 0, 0], lib,
             src("MulNoNanGradientTest.testGradientWithRhsIsZero"), f"{p}-mul-no-nan-rhs-zero"),
        _two("mul_no_nan", [-3, 0, 2], [2, 4, -1], lib,
             src("MulNoNanGradientTest.testBasicGradient"), f"{p}-mul-no-nan-basic"),
        _two("xlogy", [0.1, 0.0, 0.1, 0.0, NAN, 1.0], [3.1, 3.1, 0.0, 0.0, 0.0, -1.0], lib,
             src("XlogyTest.testNonZeroValuesGrad/testZeroXGrad/testZeroYGrad/testZeroXYGrad"),
             f"{p}-xlogy-zeros"),
        _two("xdivy", [0.1, 0.0, 0.1, 0.0, NAN], [3.1, 3.1, 0.0, 0.0, 0.0], lib,
             src("XdivyTest.testNonZeroValuesGrad/testZeroXGrad/testZeroYGrad/testZeroXYGrad"),
             f"{p}-xdivy-zeros"),
        _two("floor_mod", [131.0, 34.0, -7.5, 5.0], [17.0, 17.0, 2.0, -3.0], lib,
             src("FloorModGradientTest.testFloorModGradient"), f"{p}-floor-mod"),
        _two("floor_div", [7.0, -7.5, 6.0], [2.0, 2.0, 3.0], lib,
             src("(FloorDiv is not differentiable)"), f"{p}-floor-div"),
        _one("leaky_relu", [-2.0, 0.0, 3.0, NAN], lib, src("(leaky_relu at 0)") if ms else
             f"{TF_NG} LeakyReluTest (gradient at 0)", f"{p}-leaky-relu-kink", alpha=0.2),
        _one("silu", [-1.0, 0.0, 2.0, -800.0, NAN], lib, src("(silu)") if ms else
             f"{TF_NG} SwishTest (gradient)", f"{p}-silu"),
        _one("cumsum", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], lib, src("CumsumTest.testGradient")
             if ms else "tensorflow/python/kernel_tests/math_ops/scan_ops_test.py "
             "CumsumTest.testGradientReverseExclusive", f"{p}-cumsum-reverse-exclusive",
             axis=1, exclusive=True, reverse=True),
        _one("cumprod", [[1.0, 0.0, 3.0], [2.0, 0.0, 0.0], [2.0, 3.0, 4.0]], lib,
             src("CumprodTest") if ms else "tensorflow/python/kernel_tests/math_ops/"
             "scan_ops_test.py CumprodTest.testGradient (with zeros)", f"{p}-cumprod-zeros",
             axis=1),
        _one("cumprod", [[1.0, 2.0, 3.0], [2.0, 0.5, 4.0]], lib,
             src("CumprodTest") if ms else "tensorflow/python/kernel_tests/math_ops/"
             "scan_ops_test.py CumprodTest.testGradientExclusiveReverse",
             f"{p}-cumprod-exclusive-reverse", axis=1, exclusive=True, reverse=True),
        _one("reverse", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], lib,
             src("(reverse)") if ms else "tensorflow/python/kernel_tests/array_ops/"
             "array_ops_test.py ReverseV2Test.testReverse1DimAuto (gradient)",
             f"{p}-reverse", axis=[1]),
    ]
    dt = F64 if not ms else "float32"
    data = np.array([[1.0, 5.0], [5.0, 2.0], [3.0, 2.0], [NAN, 0.0]], dt)
    for kind in ("unsorted_segment_sum", "unsorted_segment_max", "unsorted_segment_min"):
        nodes = [ph("x", [4, 2], dt), const("ids", [0, 0, 2, -1], "int32"),
                 op("s", kind, "x", "ids", num_segments=4)]
        cid = f"{p}-{kind.replace('_', '-')}-ties-empty-negative"
        s = src(kind) if ms else f"{TF_MG} SegmentMinOrMaxGradientTest (ties, unsorted)"
        if ms:
            out.append(grad_operation_case(cid, s, nodes, [data], ["x"], ["s"], get_all=True))
        else:
            out.append(gradients_case(cid, s, nodes, {"x": data}, ["s"], ["x"]))
    cb = [ph("t", [5], dt), ph("lo", [], dt), ph("hi", [], dt),
          op("c", "clip_by_value", "t", "lo", "hi")]
    tv = np.array([-1.0, 0.0, 0.5, 1.0, 2.0], dt)
    cid = f"{p}-clip-by-value-at-bounds"
    if ms:
        out.append(grad_operation_case(cid, src("clip_by_value"), cb,
                                       [tv, np.array(0.0, dt), np.array(1.0, dt)],
                                       ["t", "lo", "hi"], ["c"], get_all=True))
    else:
        out.append(gradients_case(cid, "tensorflow/python/kernel_tests/math_ops/"
                                  "clip_ops_test.py ClipTest.testClipByValueGradient", cb,
                                  {"t": tv, "lo": 0.0, "hi": 1.0}, ["c"], ["t", "lo", "hi"]))
    return out


def _tf_only() -> list[dict[str, Any]]:
    rng = np.random.default_rng(17)
    x2 = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = [
        _two("xlog1py", [0.1, 0.0, 0.1, 0.0], [3.1, 3.1, -1.0, -1.0], "tf",
             f"{KINK} Xlog1pyTest.testNonZeroValuesGrad/testZeroXGrad/testNegOneYGrad/"
             "testZeroXNegOneYGrad", "v2-tf-xlog1py-kinks"),
        _one("reduce_euclidean_norm", [0.0, -0.0], "tf", f"{KINK} EuclideanNormGradientTest."
             "testZeros", "v2-tf-euclidean-norm-zeros"),
        _one("reduce_euclidean_norm", [1.0, -0.0], "tf", f"{KINK} EuclideanNormGradientTest."
             "testNegativeZero", "v2-tf-euclidean-norm-negative-zero"),
        _one("reduce_euclidean_norm", [[-3.0, 5.0], [7.0, 11.0]], "tf", f"{KINK} "
             "EuclideanNormGradientTest.test2D_2", "v2-tf-euclidean-norm-axis-0", axis=0),
        _one("matrix_diag", [[1.0, 2.0], [3.0, 4.0]], "tf", "tensorflow/python/kernel_tests/"
             "linalg/matrix_diag_op_test.py MatrixDiagGradTest.testMatrixDiagGrad",
             "v2-tf-matrix-diag"),
        _one("matrix_diag_part", rng.standard_normal((2, 3, 3)), "tf", "tensorflow/python/"
             "kernel_tests/linalg/matrix_diag_op_test.py MatrixDiagPartGradTest."
             "testMatrixDiagPartGrad", "v2-tf-matrix-diag-part"),
    ]
    for cid, test, x, idx, axis, bd in (
            ("v2-tf-gather-batch-dims", "test_gather_v2_batch_dims", x2, [[1, 0], [0, 0]], 1, 1),
            ("v2-tf-gather-2batch-dims", "test_gather_v2_2batch_dims", x2[None],
             [[[1, 0], [0, 0]]], 2, 2),
            ("v2-tf-gather-batch-dims-with-axis", "test_gather_v2_batch_dims_with_axis",
             np.array([[[1.0, 2.0]], [[3.0, 4.0]]]), [[0], [0]], 2, 1)):
        out.append(gradients_case(cid, f"{TF_AG} ArrayGradTest.{test}",
                                  [ph("x", list(x.shape)), const("i", idx, "int32"),
                                   op("g", "gather", "x", "i", axis=axis, batch_dims=bd),
                                   op("q", "square", "g")], {"x": x}, ["q"], ["x"]))
    logits = rng.standard_normal((3, 4))
    out.append(gradients_case(
        "v2-tf-sparse-xent", "tensorflow/python/kernel_tests/nn_ops/"
        "sparse_xent_op_test_base.py SparseXentOpTestBase.testGradient",
        [ph("labels", [3], "int32"), ph("logits", [3, 4]),
         op("x", "sparse_softmax_cross_entropy_with_logits", "labels", "logits"),
         const("w", [1.0, 2.0, 3.0]), op("l", "mul", "x", "w")],
        {"labels": np.array([3, 0, 1], np.int32), "logits": logits}, ["l"], ["logits"],
        then={"ys": [{"gradient": 0}], "xs": ["logits"], "grad_ys": [np.ones((3, 4)).tolist()]}))
    out.append(gradients_case(
        "v2-tf-one-hot", "tensorflow/python/kernel_tests/array_ops/one_hot_op_test.py "
        "(no gradient to indices; on/off values)",
        [ph("i", [3], "int32"), ph("x", [3, 4]), op("h", "one_hot", "i", depth=4, on_value=2.0,
                                                     off_value=-1.0, dtype="float64"),
         op("y", "mul", "h", "x")],
        {"i": np.array([0, 3, -1], np.int32), "x": rng.standard_normal((3, 4))}, ["y"],
        ["x"]))
    x = rng.standard_normal((2, 5, 5, 2))
    w = rng.standard_normal((3, 3, 2, 2))
    out.append(gradients_case(
        "v2-tf-depthwise-conv2d-same-s2", "tensorflow/python/kernel_tests/nn_ops/"
        "depthwise_conv_op_base.py DepthwiseConv2DBase.testDepthwiseConv2DInputGrad",
        [ph("x", [2, 5, 5, 2]), ph("w", [3, 3, 2, 2]),
         op("c", "depthwise_conv2d", "x", "w", strides=[2, 2], padding="SAME"),
         op("q", "square", "c"), op("l", "sum", "q")], {"x": x, "w": w}, ["l"], ["x", "w"]))
    y = rng.standard_normal((2, 3, 3, 4))
    f = rng.standard_normal((3, 3, 2, 4))
    out.append(gradients_case(
        "v2-tf-conv2d-transpose-same-s2", "tensorflow/python/kernel_tests/nn_ops/"
        "conv2d_transpose_test.py Conv2DTransposeTest.testGradient",
        [ph("y", [2, 3, 3, 4]), ph("f", [3, 3, 2, 4]),
         op("c", "conv2d_transpose", "y", "f", output_shape=[2, 6, 6, 2], strides=[2, 2],
            padding="SAME"), op("q", "square", "c"), op("l", "sum", "q")],
        {"y": y, "f": f}, ["l"], ["y", "f"]))
    xx = rng.standard_normal((4, 3))
    out.append(gradients_case(
        "v2-tf-argmax-argmin-no-gradient", "tensorflow/python/kernel_tests/math_ops/"
        "argmax_op_test.py (ArgMax/ArgMin are not differentiable)",
        [ph("x", [4, 3]), op("am", "argmax", "x", axis=0), op("an", "argmin", "x", axis=1),
         op("c", "cast", "am", dtype="float64"), op("d", "cast", "an", dtype="float64"),
         op("s", "sum", "d"), op("xc", "mul", "x", "c", ), op("l", "add", "xc", "s")],
        {"x": xx}, ["l"], ["x"]))
    out.append(gradients_case(
        "v2-tf-range", "tensorflow/python/kernel_tests/math_ops/range_op_test.py (range "
        "times x)", [ph("x", [4]), op("r", "range", start=0.5, limit=2.5, delta=0.5,
                                      dtype="float64"), op("y", "mul", "x", "r")],
        {"x": [1.0, 2.0, 3.0, 4.0]}, ["y"], ["x"]))
    bn = [ph("x", [4, 3]), ph("scale", [3]), ph("offset", [3]), ph("mean", [3]),
          ph("variance", [3]),
          op("y", "batch_norm", "x", "scale", "offset", "mean", "variance", epsilon=1e-3),
          op("q", "square", "y"), op("l", "sum", "q")]
    out.append(gradients_case(
        "v2-tf-batch-norm-inference", "tensorflow/python/ops/nn_batchnorm_test.py "
        "BatchNormalizationTest.testBatchNormGradImpl (inference form)", bn,
        {"x": xx, "scale": [1.0, 2.0, 0.5], "offset": [0.1, -0.2, 0.0],
         "mean": [0.2, 0.0, -0.1], "variance": [1.0, 0.0, 2.0]}, ["l"],
        ["x", "scale", "offset", "mean", "variance"]))
    ln = [ph("x", [4, 3]), ph("gamma", [3]), ph("beta", [3]),
          op("y", "layer_norm", "x", "gamma", "beta", axis=-1, epsilon=1e-3),
          const("w", rng.standard_normal((4, 3))), op("q", "mul", "y", "w"), op("l", "sum", "q")]
    xx2 = xx.copy()
    xx2[1] = 2.0  # a constant row: zero variance
    out.append(gradients_case(
        "v2-tf-layer-norm", "keras LayerNormalization as TensorFlow computes it "
        "(tf.nn.moments + batch_normalization); a constant row has zero variance", ln,
        {"x": xx2, "gamma": [1.0, 2.0, 0.5], "beta": [0.1, -0.2, 0.0]}, ["l"],
        ["x", "gamma", "beta"]))
    return out


def v2_scenarios(lib: str) -> dict[str, list[dict[str, Any]]]:
    if lib == "tf":
        return {"v2_ops_tf_kinks": _kinks("tf"), "v2_ops_tf": _tf_only()}
    return {"v2_ops_ms_kinks": _kinks("ms")}
