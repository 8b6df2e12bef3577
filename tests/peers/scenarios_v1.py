"""Scenarios ported from the peers' own tests, on the ops of the v1 catalogue.

Each scenario is a request in our wire format; ``record.py`` answers it with the real
library. The ``source`` of each names the original test (file, class.method) it ports;
inputs are seeded numpy, float64 where the original allows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .wire import const, grad_operation_case, gradients_case, op, ph, var

TF_GT = "tensorflow/python/ops/gradients_test.py"
TF_MG = "tensorflow/python/ops/math_grad_test.py"
TF_NG = "tensorflow/python/ops/nn_grad_test.py"
TF_AG = "tensorflow/python/ops/array_grad_test.py"
TF_RED = "tensorflow/python/kernel_tests/math_ops/reduction_ops_test.py"
TF_POOL = "tensorflow/python/kernel_tests/nn_ops/pooling_ops_test.py"
TF_XENT = "tensorflow/python/kernel_tests/nn_ops/xent_op_test_base.py"
MS_PY = "mindspore tests/st/gradient/test_grad_pynative.py"
MS_GR = "mindspore tests/st/gradient/test_grad_graph.py"
MS_RT = "mindspore tests/st/gradient/test_grad_return_type.py"
MG = "karpathy/micrograd test/test_engine.py"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _unary(cid: str, source: str, kind: str, x: Any, **attrs: Any) -> dict[str, Any]:
    x = np.asarray(x, np.float64)
    return gradients_case(cid, source, [ph("x", list(x.shape)), op("y", kind, "x", **attrs)],
                          {"x": x}, ["y"], ["x"])


def _binary(cid: str, source: str, kind: str, a: Any, b: Any, **fields: Any
            ) -> dict[str, Any]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nodes = [ph("a", list(a.shape)), ph("b", list(b.shape)), op("z", kind, "a", "b")]
    return gradients_case(cid, source, nodes, {"a": a, "b": b}, ["z"], ["a", "b"], **fields)


# -- TensorFlow dialect --------------------------------------------------------------------

def tf_gradients_test() -> list[dict[str, Any]]:
    s = TF_GT
    out = [
        gradients_case("tf-gt-boundary-continue", f"{s} GradientsTest.testBoundaryContinue",
                       [ph("x", []), const("c2", 2.0), const("c3", 3.0),
                        op("y", "mul", "x", "c2"), op("z", "mul", "y", "c3")],
                       {"x": 1.0}, ["z"], ["x", "y"]),
        gradients_case("tf-gt-boundary-stop", f"{s} GradientsTest.testBoundaryStop",
                       [ph("c", []), op("x", "identity", "c"), const("one", 1.0),
                        op("y", "add", "x", "one"), op("z", "add", "y", "one")],
                       {"c": 1.0}, ["z"], ["x"]),
        gradients_case("tf-gt-unused-output-split", f"{s} GradientsTest.testUnusedOutput",
                       [ph("w", [2, 2]), ph("x", [2, 2]), op("wx", "matmul", "w", "x"),
                        op("sp", "split", "wx", num_or_size_splits=2, axis=0),
                        op("c", "sum", "sp:1")],
                       {"w": np.ones((2, 2)), "x": np.ones((2, 2))}, ["c"], ["w"]),
        gradients_case("tf-gt-dependent-ys", f"{s} GradientsTest.testDependentYs",
                       [ph("x", []), op("y", "square", "x"), op("y1", "square", "y"),
                        op("y2", "square", "y1")], {"x": 3.0}, ["y", "y2"], ["x"]),
        gradients_case("tf-gt-dependent-ys-identity", f"{s} GradientsTest.testDependentYs",
                       [ph("x", []), op("y", "square", "x"), op("y1", "square", "y"),
                        op("y2", "square", "y1"), op("z", "identity", "y"),
                        op("z2", "identity", "y2")], {"x": 3.0}, ["z", "z2"], ["x"]),
        gradients_case("tf-gt-partial-derivatives", f"{s} GradientsTest.testPartialDerivatives",
                       [ph("x", []), op("y", "identity", "x"), op("z", "add", "x", "y")],
                       {"x": 1.0}, ["z"], ["x", "y"], stop_gradients=["x", "y"]),
        gradients_case("tf-gt-stop-gradient-op", f"{s} StopGradientTest.testStopGradient",
                       [ph("inp", [4, 3]), op("out", "stop_gradient", "inp")],
                       {"inp": np.ones((4, 3))}, ["out"], ["inp"]),
        gradients_case("tf-gt-unconnected-zeros",
                       f"{s} GradientsTest.testUnconnectedGradientsZerosUnconnectedGradients",
                       [ph("x", [3]), ph("y", [3]), op("z", "identity", "x")],
                       {"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]}, ["z"], ["y"],
                       unconnected_gradients="zero"),
        gradients_case("tf-gt-unconnected-none",
                       f"{s} GradientsTest.testUnconnectedGradientsNoneUnconnectedGradients",
                       [ph("x", [3]), ph("y", [3]), op("z", "identity", "x")],
                       {"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]}, ["z"], ["y"]),
    ]
    ten = [ph("x", []), const("c2", 2.0), op("y", "mul", "x", "c2")]
    prev = "y"
    for i in range(9):
        ten.append(op(f"s{i}", "add", prev, "y"))
        prev = f"s{i}"
    for method, name in (("add_n", "AddN"), ("experimental_tree", "Tree"),
                         ("experimental_accumulate_n", "AccumulateN")):
        out.append(gradients_case(f"tf-gt-aggregation-{method}",
                                  f"{s} GradientsTest.testAggregationMethod{name}",
                                  ten, {"x": 1.0}, [prev], ["x", "y"],
                                  aggregation_method=method))
    rng = _rng(123)
    m = rng.standard_normal((4, 4))
    v, x = rng.standard_normal((4, 1)), rng.standard_normal((4, 1))
    # Hessian-vector product of x^T A x, as the original: grad of (grad . v)
    hvp = [ph("x", [4, 1]), const("A", m), const("v", v), op("Ax", "matmul", "A", "x"),
           op("xt", "transpose", "x"), op("xAx", "matmul", "xt", "Ax")]
    out.append(gradients_case("tf-gt-hessian-vector-product",
                              f"{s} HessianVectorProductTest.testHessianVectorProduct",
                              hvp, {"x": x}, ["xAx"], ["x"],
                              then={"ys": [{"gradient": 0}], "xs": ["x"],
                                    "grad_ys": [v.tolist()]}))
    return out


def tf_math_grad_test() -> list[dict[str, Any]]:
    s = TF_MG
    rng = _rng(7)
    out = [
        _binary("tf-mg-squared-difference-1232-32", f"{s} SquaredDifferenceOpTest.testGrad",
                "squared_difference", rng.standard_normal((1, 2, 3, 2)),
                rng.standard_normal((3, 2))),
        _binary("tf-mg-squared-difference-24-324", f"{s} SquaredDifferenceOpTest.testGrad",
                "squared_difference", rng.standard_normal((2, 4)),
                rng.standard_normal((3, 2, 4))),
    ]
    v = rng.standard_normal((3, 3))
    out.append(_unary("tf-mg-abs-biased", f"{s} AbsOpTest.testComplexAbs (float32 part)",
                      "abs", v + np.sign(v) * 0.1))
    out.append(_unary("tf-mg-abs-near-zero", f"{s} AbsOpTest.testComplexAbs (bias=0, sigma=0.1)",
                      "abs", np.array([[0.0, -0.05, 0.03], [0.1, -0.0, 0.2], [-0.3, 0.0, 1e-9]])))
    for kind, cls in (("min", "testMinGradient"), ("max", "testMaxGradient")):
        out.append(gradients_case(
            f"tf-mg-{kind}-of-concat-ties", f"{s} MinOrMaxGradientTest.{cls}",
            [ph("inputs", [1]), op("c", "concat", "inputs", "inputs", axis=0),
             op("o", kind, "c")], {"inputs": [1.0]}, ["o"], ["inputs"]))
    out.append(gradients_case("tf-mg-maximum-const", f"{s} MaximumOrMinimumGradientTest."
                              "testMaximumGradient",
                              [ph("x", [4]), const("t", 3.0), op("o", "maximum", "x", "t")],
                              {"x": [1.0, 2.0, 3.0, 4.0]}, ["o"], ["x"]))
    out.append(gradients_case("tf-mg-minimum-const", f"{s} MaximumOrMinimumGradientTest."
                              "testMinimumGradient",
                              [ph("x", [4]), const("t", 2.0), op("o", "minimum", "x", "t")],
                              {"x": [1.0, 2.0, 3.0, 4.0]}, ["o"], ["x"]))
    out.append(_unary("tf-mg-prod-all", f"{s} ProdGradientTest.testProdGradient", "prod",
                      [[1.0, 2.0], [3.0, 4.0]]))
    out.append(_unary("tf-mg-prod-negative-axis",
                      f"{s} ProdGradientTest.testProdGradientForNegativeAxis", "prod",
                      [[1.0, 2.0], [3.0, 4.0]], axis=-1))
    out.append(gradients_case("tf-mg-pow-zero-grad", f"{s} PowGradTest."
                              "test_zero_grad_tf_gradients",
                              [ph("x", [3]), const("two", 2.0), op("p", "pow", "x", "two")],
                              {"x": [-1.0, 0.0, 1.0]}, ["p"], ["x"]))
    return out


def tf_nn_grad_test() -> list[dict[str, Any]]:
    s = TF_NG
    x0 = np.array([[-3.5, -1.5, 2, 4], [4.5, 7.5, 8.5, 11]])
    kinks = np.array([[-1.0, 0.0, 3.0, 6.0], [6.0, 0.0, 7.0, 5.0]])
    out = []
    for tag, x in (("interior", x0), ("kinks", kinks)):
        out.append(gradients_case(
            f"tf-ng-relu6-gradgrad-{tag}", f"{s} Relu6OpTest.testRelu6GradGrad",
            [ph("x", [2, 4]), op("r", "relu6", "x")], {"x": x}, ["r"], ["x"],
            then={"ys": [{"gradient": 0}], "xs": ["x"]}))
    inputs = np.array([[-2, -1, 1, 3], [5, 7, 8, 9]], np.float64)
    dummy = np.array([[3, 1, -1, -2], [9, 8, 7, 6]], np.float64)
    out.append(gradients_case(
        "tf-ng-elu-gradgrad-wrt-inputs", f"{s} EluGradOpTest.testEluGradGradWRTinputs",
        [ph("x", [2, 4]), op("e", "elu", "x")],
        {"x": inputs}, ["e"], ["x"], grad_ys=[dummy.tolist()],
        then={"ys": [{"gradient": 0}], "xs": ["x"]}))
    out.append(gradients_case(
        "tf-ng-relu-gradgrad", f"{s} ReluTest (relu grad of grad, cf. Relu6OpTest)",
        [ph("x", [2, 4]), op("r", "relu", "x")], {"x": inputs - 1.0}, ["r"], ["x"],
        then={"ys": [{"gradient": 0}], "xs": ["x"]}))
    rng = _rng(11)
    x = rng.standard_normal((2, 5, 5, 3))
    w = rng.standard_normal((3, 3, 3, 2))
    out.append(gradients_case(
        "tf-ng-conv2d-gradgrad", f"{s} Conv2dOpTest.testChannelsLast (second order)",
        [ph("x", [2, 5, 5, 3]), ph("w", [3, 3, 3, 2]),
         op("c", "conv2d", "x", "w", strides=[1, 1], padding="SAME"), op("q", "square", "c"),
         op("l", "sum", "q")], {"x": x, "w": w}, ["l"], ["x", "w"],
        then={"ys": [{"gradient": 0}], "xs": ["w"]}))
    logits = rng.standard_normal((3, 4))
    out.append(gradients_case(
        "tf-ng-softmax-gradgrad", f"{s} SoftmaxOpTest.testSoftmaxGradGradExtendType",
        [ph("x", [3, 4]), op("s", "softmax", "x"), op("q", "square", "s"), op("l", "sum", "q")],
        {"x": logits}, ["l"], ["x"], then={"ys": [{"gradient": 0}], "xs": ["x"]}))
    return out


def tf_array_grad_test() -> list[dict[str, Any]]:
    s = TF_AG
    x1 = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    x2 = np.array([[1.0, 2.0], [3.0, 4.0]])

    def gather(cid: str, test: str, x: np.ndarray, idx: Any, **attrs: Any) -> dict[str, Any]:
        idx = np.asarray(idx, np.int32)
        return gradients_case(
            cid, f"{s} ArrayGradTest.{test}",
            [ph("x", list(x.shape)), const("i", idx, "int32"), op("g", "gather", "x", "i", **attrs),
             const("w", np.arange(1.0, 1.0 + idx.size * (x.size // x.shape[attrs.get("axis", 0)]))
                   .reshape(_gather_shape(x.shape, idx.shape, attrs.get("axis", 0), attrs.get(
                       "batch_dims", 0))) / 7.0),
             op("gw", "mul", "g", "w")], {"x": x}, ["gw"], ["x"])

    return [
        gather("tf-ag-gather-v2-simple", "test_gather_v2_simple", x1, [2, 0, 2, 4]),
        gather("tf-ag-gather-v2-more-index-dims", "test_gather_v2_more_index_dims", x1,
               [[2, 0], [2, 4]]),
        gather("tf-ag-gather-v2-more-param-dims", "test_gather_v2_more_param_dims", x2, [1, 0]),
        gather("tf-ag-gather-v2-axis", "test_gather_v2_axis", x2, [1, 0], axis=1),
        gradients_case("tf-ag-broadcast-to", f"{s} ArrayGradTest.test_broadcast_to",
                       [ph("x", [3]), op("b", "broadcast_to", "x", shape=[2, 3]),
                        const("w", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), op("y", "mul", "b", "w")],
                       {"x": [1.0, 2.0, 3.0]}, ["y"], ["x"]),
        gradients_case("tf-ag-slice", f"{s} ArrayGradTest.test_slice_int64",
                       [ph("x", [3]), op("y", "slice", "x", begin=[1], size=[1])],
                       {"x": [1.0, 2.0, 3.0]}, ["y"], ["x"]),
    ]


def _gather_shape(params: tuple[int, ...], idx: tuple[int, ...], axis: int, batch: int
                  ) -> tuple[int, ...]:
    return tuple(params[:axis]) + tuple(idx[batch:]) + tuple(params[axis + 1:])


def tf_reduction_test() -> list[dict[str, Any]]:
    s = TF_RED
    x = (np.arange(1, 2 * 3 * 4 * 2 + 1, dtype=np.float64).reshape(2, 3, 4, 2)) / 20.0
    out = []
    for tag, fill in (("no-zeros", None), ("zero-begin", 0), ("zero-end", -1),
                      ("zero-middle", 2), ("all-zeros", "all")):
        xv = x.copy()
        if fill == "all":
            xv[:] = 0
        elif fill is not None:
            xv[:, :, fill, :] = 0
        for axes in (None, [1], [1, 2]):
            at = "all" if axes is None else "-".join(map(str, axes))
            out.append(_unary(f"tf-red-prod-{tag}-axis-{at}",
                              f"{s} ProdReductionTest.testGradientWithZeros", "prod", xv,
                              axis=axes))
    for kind, cls in (("sum", "SumReductionTest"), ("mean", "MeanReductionTest"),
                      ("max", "MaxReductionTest"), ("min", "MinReductionTest")):
        for axes in (None, [1], [0, 2], [1, 2], [0, 1, 2, 3]):
            at = "all" if axes is None else "-".join(map(str, axes))
            out.append(_unary(f"tf-red-{kind}-axis-{at}", f"{s} {cls}.testGradient",
                              kind, x, axis=axes))
    out.append(_unary("tf-red-max-nan", f"{s} MaxReductionTest.testSpecialValues", "max",
                      [[1.0, np.nan, 3.0], [np.inf, -np.inf, 2.0]], axis=1))
    out.append(_unary("tf-red-min-inf", f"{s} MinReductionTest.testSpecialValues", "min",
                      [[1.0, -np.inf, -np.inf], [np.inf, np.inf, 2.0]], axis=1))
    out.append(_unary("tf-red-logsumexp", f"{s} LogSumExpTest (reduce_logsumexp gradient)",
                      "logsumexp", [[1.0, 2.0, 3.0], [1000.0, 1000.0, -np.inf]], axis=1))
    out.append(_unary("tf-red-mean-keepdims", f"{s} MeanReductionTest.testGradient (keepdims)",
                      "mean", x, axis=[1, 3], keepdims=True))
    return out


def tf_pooling_test() -> list[dict[str, Any]]:
    s = TF_POOL
    rng = _rng(5)
    out = []
    for kind in ("max_pool", "avg_pool"):
        for pad in ("VALID", "SAME"):
            for (k, st) in ((2, 2), (3, 2), (3, 1)):
                x = rng.permutation(2 * 5 * 5 * 2).reshape(2, 5, 5, 2).astype(np.float64) / 10
                out.append(gradients_case(
                    f"tf-pool-{kind}-{pad.lower()}-k{k}-s{st}",
                    f"{s} PoolingTest._testPoolGrad via test{kind.title().replace('_', '')}"
                    f"Grad ({pad}, window {k}, stride {st})",
                    [ph("x", [2, 5, 5, 2]), op("p", kind, "x", ksize=k, strides=st, padding=pad),
                     op("q", "square", "p"), op("l", "sum", "q")], {"x": x}, ["l"], ["x"]))
    tied = np.ones((1, 4, 4, 1))
    tied[0, 1, 1, 0] = tied[0, 2, 2, 0] = 3.0
    out.append(gradients_case(
        "tf-pool-max-pool-ties", f"{s} PoolingTest.testMaxPoolGradDirect (ties in a window)",
        [ph("x", [1, 4, 4, 1]), op("p", "max_pool", "x", ksize=2, strides=2, padding="VALID")],
        {"x": tied}, ["p"], ["x"]))
    out.append(gradients_case(
        "tf-pool-max-pool-gradgrad", f"{s} PoolingTest.testMaxPoolGradGrad",
        [ph("x", [1, 4, 4, 1]), op("p", "max_pool", "x", ksize=2, strides=2, padding="SAME"),
         op("q", "square", "p"), op("l", "sum", "q")],
        {"x": rng.permutation(16).reshape(1, 4, 4, 1).astype(np.float64)}, ["l"], ["x"],
        then={"ys": [{"gradient": 0}], "xs": ["x"]}))
    return out


def tf_xent_test() -> list[dict[str, Any]]:
    s = TF_XENT
    rng = _rng(3)
    logits = rng.standard_normal((3, 4))
    norm = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4]])
    unnorm = np.array([[0.0, 0.0, 0.0, 2.0], [0.3, 0.5, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]])
    out = []
    for tag, labels, test in (("normalized", norm, "testGradient"),
                              ("unnormalized-labels", unnorm, "testNotMatrix / _testXent2D "
                               "(labels not summing to one)")):
        out.append(gradients_case(
            f"tf-xent-{tag}", f"{s} XentOpTestBase.{test}",
            [ph("labels", [3, 4]), ph("logits", [3, 4]),
             op("x", "softmax_cross_entropy_with_logits", "labels", "logits"),
             const("w", [1.0, 2.0, 3.0]), op("l", "mul", "x", "w")],
            {"labels": labels, "logits": logits}, ["l"], ["labels", "logits"]))
    out.append(gradients_case(
        "tf-xent-second-order", f"{s} XentOpTestBase.testSecondGradient",
        [ph("labels", [3, 4]), ph("logits", [3, 4]),
         op("x", "softmax_cross_entropy_with_logits", "labels", "logits"), op("l", "sum", "x")],
        {"labels": norm, "logits": logits}, ["l"], ["logits"],
        then={"ys": [{"gradient": 0}], "xs": ["logits"]}))
    out.append(gradients_case(
        "tf-xent-axis-0", f"{s} XentOpTestBase.testDim (axis=0)",
        [ph("labels", [4, 3]), ph("logits", [4, 3]),
         op("x", "softmax_cross_entropy_with_logits", "labels", "logits", axis=0),
         op("l", "sum", "x")], {"labels": norm.T, "logits": logits.T}, ["l"],
        ["labels", "logits"]))
    out.append(gradients_case(
        "tf-sigmoid-xent", "tensorflow/python/kernel_tests/nn_ops/"
        "sigmoid_cross_entropy_with_logits_op_test "
        "(SigmoidCrossEntropyWithLogitsTest.testGradient)",
        [ph("labels", [3, 4]), ph("logits", [3, 4]),
         op("x", "sigmoid_cross_entropy_with_logits", "labels", "logits"), op("l", "sum", "x")],
        {"labels": rng.uniform(size=(3, 4)), "logits": logits * 3}, ["l"], ["labels", "logits"]))
    return out


def micrograd_tf() -> list[dict[str, Any]]:
    """micrograd's two scalar tests, as graphs (answered by TensorFlow)."""
    s = MG
    n = [ph("x", []), const("c2", 2.0), const("c1", 1.0), const("zero", 0.0),
         op("x2", "mul", "c2", "x"), op("x2p", "add", "x2", "c2"), op("z", "add", "x2p", "x"),
         op("zr", "relu", "z"), op("zx", "mul", "z", "x"), op("q", "add", "zr", "zx"),
         op("zz", "mul", "z", "z"), op("h", "relu", "zz"), op("qx", "mul", "q", "x"),
         op("hq", "add", "h", "q"), op("y", "add", "hq", "qx")]
    out = [gradients_case("micrograd-sanity-check", f"{s} test_sanity_check", n,
                          {"x": -4.0}, ["y"], ["x"])]
    m = [ph("a", []), ph("b", []), const("one", 1.0), const("two", 2.0), const("three", 3.0),
         const("ten", 10.0),
         op("c0", "add", "a", "b"), op("ab", "mul", "a", "b"), op("b3", "pow", "b", "three"),
         op("d0", "add", "ab", "b3"),
         op("c1a", "add", "c0", "c0"), op("c1", "add", "c1a", "one"),
         op("c2a", "add", "one", "c1"), op("na", "neg", "a"), op("c2b", "add", "c2a", "na"),
         op("c2", "add", "c1", "c2b"),
         op("d1a", "mul", "d0", "two"), op("bpa", "add", "b", "a"), op("r1", "relu", "bpa"),
         op("d1b", "add", "d1a", "r1"), op("d1", "add", "d0", "d1b"),
         op("d2a", "mul", "three", "d1"), op("bma", "sub", "b", "a"), op("r2", "relu", "bma"),
         op("d2b", "add", "d2a", "r2"), op("d2", "add", "d1", "d2b"),
         op("e", "sub", "c2", "d2"), op("f", "pow", "e", "two"), op("g0", "div", "f", "two"),
         op("tf", "div", "ten", "f"), op("g", "add", "g0", "tf")]
    out.append(gradients_case("micrograd-more-ops", f"{s} test_more_ops", m,
                              {"a": -4.0, "b": 2.0}, ["g"], ["a", "b"]))
    for kind in ("tanh", "exp"):
        for v in (-1.0, 0.123, 2.0):
            out.append(_unary(f"micrograd-unary-{kind}-{v}", f"{s} test_unary_tensor_fns",
                              kind, v))
    return out


def tf_kinks() -> list[dict[str, Any]]:
    """The v1 conventions table's rows, ported as single requests (each names the test
    family it extends)."""
    out = [
        _binary("tf-kink-maximum-nan", f"{TF_MG} MaximumOrMinimumGradientTest (NaN inputs)",
                "maximum", [np.nan, 1.0, np.nan, 2.0], [1.0, np.nan, np.nan, 2.0]),
        _binary("tf-kink-minimum-nan", f"{TF_MG} MaximumOrMinimumGradientTest (NaN inputs)",
                "minimum", [np.nan, 1.0, np.nan, 2.0], [1.0, np.nan, np.nan, 2.0]),
        _binary("tf-kink-atan2-origin", f"{TF_MG} (atan2 gradient at the origin)", "atan2",
                [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]),
        _unary("tf-kink-softplus-large", f"{TF_NG} (softplus at large |x|)", "softplus",
               [-800.0, -30.0, 0.0, 30.0, 800.0]),
        _unary("tf-kink-log1p-minus-one", f"{TF_MG} (log1p at -1)", "log1p", [-1.0, 0.0]),
        _unary("tf-kink-rsqrt-zero", f"{TF_MG} (rsqrt at 0)", "rsqrt", [0.0, 4.0]),
    ]
    return out


def tensorflow_scenarios() -> dict[str, list[dict[str, Any]]]:
    """File stem -> scenarios, for /gradients (TensorFlow answers)."""
    return {"tf_gradients_test": tf_gradients_test(), "tf_math_grad_test": tf_math_grad_test(),
            "tf_nn_grad_test": tf_nn_grad_test(), "tf_array_grad_test": tf_array_grad_test(),
            "tf_reduction_ops_test": tf_reduction_test(), "tf_pooling_ops_test": tf_pooling_test(),
            "tf_xent_op_test": tf_xent_test(), "tf_micrograd": micrograd_tf(),
            "tf_kinks": tf_kinks()}


# -- MindSpore dialect ---------------------------------------------------------------------

def _ms_unary(cid: str, source: str, kind: str, x: Any, **attrs: Any) -> dict[str, Any]:
    x = np.asarray(x, np.float32)
    return grad_operation_case(cid, source, [ph("x", list(x.shape), "float32"),
                                             op("y", kind, "x", **attrs)], [x], ["x"], ["y"])


def _ms_binary(cid: str, source: str, kind: str, a: Any, b: Any) -> dict[str, Any]:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return grad_operation_case(cid, source, [ph("a", list(a.shape), "float32"),
                                             ph("b", list(b.shape), "float32"),
                                             op("z", kind, "a", "b")],
                               [a, b], ["a", "b"], ["z"], get_all=True)


def ms_gradient_tests() -> list[dict[str, Any]]:
    f32 = "float32"
    x = np.array([[1, 2], [3, 4]], np.float32)
    y = np.array([[-2, 3], [-1, 2]], np.float32)
    z = np.array([[0, 3], [5, -1]], np.float32)
    xyz = [ph("x", [2, 2], f32), ph("y", [2, 2], f32), ph("z", [2, 2], f32)]
    three = const("three", 3.0, f32)
    two = const("two", 2.0, f32)
    out = [
        grad_operation_case("ms-single-input-single-output",
                            f"{MS_PY} test_grad_single_input_single_output_cell_pynative",
                            [ph("x", [2, 2], f32), three, op("y", "pow", "x", "three")],
                            [x], ["x"], ["y"]),
        grad_operation_case("ms-single-input-multiple-outputs",
                            f"{MS_PY} test_grad_single_input_multiple_outputs_cell_pynative",
                            [ph("x", [2, 2], f32), three, two, op("y", "pow", "x", "three"),
                             op("t", "mul", "two", "x")], [x], ["x"], ["y", "t"]),
        grad_operation_case("ms-multiple-inputs-single-output",
                            f"{MS_PY} test_grad_multiple_inputs_single_output_cell_pynative",
                            [*xyz, op("xy", "mul", "x", "y"), op("o", "mul", "xy", "z")],
                            [x, y, z], ["x", "y", "z"], ["o"], get_all=True),
        grad_operation_case("ms-multiple-inputs-multiple-outputs",
                            f"{MS_PY} test_grad_multiple_inputs_multiple_outputs_cell_pynative",
                            [*xyz, two, op("x2", "pow", "x", "two"), op("y2", "pow", "y", "two"),
                             op("z2", "pow", "z", "two"), op("s", "add_n", "x2", "y2", "z2"),
                             op("xy", "mul", "x", "y"), op("p", "mul", "xy", "z")],
                            [x, y, z], ["x", "y", "z"], ["s", "p"], get_all=True),
        grad_operation_case("ms-weights-twice-w", f"{MS_PY} test_grad_with_weights_twice_pynative",
                            [ph("x", [2], f32), var("w", [2.0, 2.0], f32),
                             var("zz", [3.0, 3.0], f32),
                             op("xw", "mul", "x", "w"), op("r", "mul", "xw", "zz")],
                            [np.array([1, 2], np.float32)], ["x"], ["r"], get_by_list=True,
                            weights=["w"]),
        grad_operation_case("ms-weights-twice-z", f"{MS_PY} test_grad_with_weights_twice_pynative",
                            [ph("x", [2], f32), var("w", [2.0, 2.0], f32),
                             var("zz", [3.0, 3.0], f32),
                             op("xw", "mul", "x", "w"), op("r", "mul", "xw", "zz")],
                            [np.array([1, 2], np.float32)], ["x"], ["r"], get_by_list=True,
                            weights=["zz"]),
        grad_operation_case("ms-network-returns-parameter",
                            f"{MS_PY} NetworkW (grad of a net returning its parameter)",
                            [ph("x", [1], f32), var("w", [5.0], f32), op("o", "identity", "w")],
                            [np.array([1.0], np.float32)], ["x"], ["o"], get_all=True,
                            get_by_list=True),
        grad_operation_case("ms-no-inputs-flags-none",
                            f"{MS_RT} (GradOperation() of a network with no inputs)",
                            [var("w", [5.0, 1.0], f32), op("o", "square", "w")], [], [], ["o"]),
        grad_operation_case("ms-no-inputs-get-all",
                            f"{MS_RT} (GradOperation(get_all=True) of a network with no inputs)",
                            [var("w", [5.0, 1.0], f32), op("o", "square", "w")], [], [], ["o"],
                            get_all=True),
        grad_operation_case("ms-no-inputs-get-by-list",
                            f"{MS_RT} (get_by_list on a network with no inputs)",
                            [var("w", [5.0, 1.0], f32), op("o", "square", "w")], [], [], ["o"],
                            get_by_list=True),
        grad_operation_case("ms-sens-param", f"{MS_GR} (GradOperation(sens_param=True))",
                            [*xyz, op("xy", "mul", "x", "y"), op("o", "mul", "xy", "z")],
                            [x, y, z], ["x", "y", "z"], ["o"], get_all=True, sens_param=True,
                            sens=np.array([[1, 2], [3, 4]], np.float32)),
    ]
    return out


def ms_kinks() -> list[dict[str, Any]]:
    src = "mindspore ops gradient at the conventions-table points (tests/st/ops/*grad*)"
    nan = np.nan
    rng = _rng(3)
    logits = rng.standard_normal((3, 4)).astype(np.float32)
    unnorm = np.array([[0.0, 0.0, 0.0, 2.0], [0.3, 0.5, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]],
                      np.float32)
    out = [
        _ms_binary("ms-kink-maximum-nan", src, "maximum", [nan, 1.0, nan, 2.0],
                   [1.0, nan, nan, 2.0]),
        _ms_binary("ms-kink-minimum-nan", src, "minimum", [nan, 1.0, nan, 2.0],
                   [1.0, nan, nan, 2.0]),
        _ms_binary("ms-kink-maximum-tie", src, "maximum", [1.0, 2.0, 3.0], [1.0, 1.0, 4.0]),
        _ms_unary("ms-kink-relu6", src, "relu6", [-1.0, 0.0, 3.0, 6.0, 7.0]),
        _ms_unary("ms-kink-abs", src, "abs", [-1.0, 0.0, 2.0]),
        _ms_unary("ms-kink-sqrt", src, "sqrt", [0.0, 4.0, -1.0]),
        _ms_unary("ms-kink-max-ties", src, "max", [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], axis=1),
        _ms_unary("ms-kink-max-nan", src, "max", [[1.0, nan, 3.0], [2.0, 2.0, 1.0]], axis=1),
        _ms_binary("ms-kink-pow", src, "pow", [0.0, 0.0, -2.0, 2.0], [0.0, -1.0, 2.0, 0.5]),
        _ms_binary("ms-kink-div", src, "div", [1.0, 0.0, -1.0], [0.0, 0.0, 0.0]),
        grad_operation_case(
            "ms-xent-unnormalized-labels",
            "mindspore tests/st/ops/cpu/test_softmax_cross_entropy_with_logits_op.py "
            "(labels not summing to one)",
            [ph("labels", [3, 4], "float32"), ph("logits", [3, 4], "float32"),
             op("x", "softmax_cross_entropy_with_logits", "labels", "logits")],
            [unnorm, logits], ["labels", "logits"], ["x:0"], get_all=True),
        grad_operation_case(
            "ms-xent-normalized-labels",
            "mindspore tests/st/ops/cpu/test_softmax_cross_entropy_with_logits_op.py",
            [ph("labels", [3, 4], "float32"), ph("logits", [3, 4], "float32"),
             op("x", "softmax_cross_entropy_with_logits", "labels", "logits")],
            [unnorm / unnorm.sum(1, keepdims=True), logits], ["labels", "logits"], ["x:0"],
            get_all=True),
        _ms_unary("ms-softmax", "mindspore tests/st/ops/cpu/test_softmax_op.py (gradient)",
                  "softmax", logits),
        _ms_unary("ms-log-softmax", "mindspore tests/st/ops/cpu/test_logsoftmax_op.py "
                  "(gradient)", "log_softmax", logits),
        _ms_unary("ms-reduce-mean-keepdims", "mindspore tests/st/ops/cpu/test_reduce_mean_op.py "
                  "(gradient)", "mean", logits, axis=1, keepdims=True),
        _ms_unary("ms-prod-zeros", "mindspore tests/st/ops/cpu/test_reduce_prod_op.py "
                  "(gradient with zeros)", "prod", [[1.0, 0.0, 3.0], [0.0, 0.0, 2.0]], axis=1),
        _ms_binary("ms-squared-difference", "mindspore tests/st/ops/cpu/"
                   "test_squared_difference_op.py (gradient)", "squared_difference",
                   logits, logits[:1] * 2),
    ]
    return out


def mindspore_scenarios() -> dict[str, list[dict[str, Any]]]:
    return {"ms_gradient_tests": ms_gradient_tests(), "ms_kinks": ms_kinks()}
