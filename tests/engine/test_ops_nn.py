"""Neural-network ops: forwards against direct numpy references for every attr form (whose
VJPs, and those of the internal gradient ops, the every-op sweep checks: ``op_forms.py``),
second order through composites, the awkward points, and graph errors. The recorded
acceptance cases run in ``test_recorded_cases.py``."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine import Graph, GraphError, compute_gradients, run

from .gradcheck import check_second_order, rand
from .op_forms import CONV_VARIANTS, POOL_VARIANTS, simplex_on

# -- references, written the plain way (loops over output positions) ---------------------

def _geometry(n: int, k: int, s: int, d: int, same: bool) -> tuple[int, int]:
    """(output size, padding before) by TensorFlow's rule."""
    span = (k - 1) * d + 1
    if not same:
        return (n - span) // s + 1, 0
    out = math.ceil(n / s)
    return out, max((out - 1) * s + span - n, 0) // 2


def ref_windows(x, size, strides, dilations, same):
    """Yield (oh, ow, list of (input row, input col, kernel i, kernel j) inside the input)."""
    _, h, w, _ = x.shape
    oh, top = _geometry(h, size[0], strides[0], dilations[0], same)
    ow, left = _geometry(w, size[1], strides[1], dilations[1], same)
    for a in range(oh):
        for b in range(ow):
            cells = []
            for i in range(size[0]):
                for j in range(size[1]):
                    r = a * strides[0] - top + i * dilations[0]
                    c = b * strides[1] - left + j * dilations[1]
                    if 0 <= r < h and 0 <= c < w:
                        cells.append((r, c, i, j))
            yield a, b, oh, ow, cells


def ref_conv2d(x, w, strides=(1, 1), dilations=(1, 1), same=False):
    out = None
    for a, b, oh, ow, cells in ref_windows(x, w.shape[:2], strides, dilations, same):
        if out is None:
            out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
        for r, c, i, j in cells:
            out[:, a, b, :] += x[:, r, c, :] @ w[i, j]
    return out


def ref_pool(x, size, strides, same, kind):
    out = None
    for a, b, oh, ow, cells in ref_windows(x, size, strides, (1, 1), same):
        if out is None:
            out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
        vals = np.stack([x[:, r, c, :] for r, c, _, _ in cells])
        out[:, a, b, :] = vals.max(axis=0) if kind == "max" else vals.mean(axis=0)
    return out


def one_op(op, arrays, attrs=None):
    names = [f"in{i}" for i in range(len(arrays))]
    nodes = [{"name": n, "op": "placeholder", "shape": list(a.shape), "dtype": a.dtype.name}
             for n, a in zip(names, arrays, strict=True)]
    nodes.append({"name": "y", "op": op, "inputs": names, "attrs": attrs or {}})
    graph = Graph.build(nodes)
    return run(graph, ["y"], dict(zip(names, arrays, strict=True)))[0], graph


# -- softmax family -------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, -1, 1])
def test_softmax_and_log_softmax(axis):
    x = rand(3, 4, 5)
    got, _ = one_op("softmax", [x], {"axis": axis})
    e = np.exp(x)
    np.testing.assert_allclose(got, e / e.sum(axis=axis, keepdims=True), rtol=1e-12)
    got_log, _ = one_op("LogSoftmax", [x], {"axis": axis})
    np.testing.assert_allclose(got_log, np.log(e / e.sum(axis=axis, keepdims=True)),
                               rtol=1e-12)


def test_softmax_is_stable_and_keeps_float32():
    x = np.array([[1000.0, 1001.0, -1000.0]], dtype=np.float32)
    got, _ = one_op("softmax", [x])
    assert got.dtype == np.float32 and np.all(np.isfinite(got))
    np.testing.assert_allclose(got.sum(), 1.0, rtol=1e-6)
    got_log, _ = one_op("log_softmax", [x])
    np.testing.assert_allclose(got_log[0, :2], np.log([1 / (1 + math.e), math.e / (1 + math.e)]),
                               rtol=1e-5)


@pytest.mark.parametrize("shape", [(64, 10), (5, 3, 2), (100, 1), (3, 64), (4, 65), (2, 3)])
def test_the_row_maximum_is_numpys_maximum_on_either_path(shape):
    """The softmaxes' shift: short last axes take the transposed reduce, the rest numpy's;
    the maxima are numpy's, NaN and infinities included."""
    from engine.ops.nn import _row_max

    x = rand(*shape, seed=3).astype(np.float32)
    x.flat[::7] = np.inf
    x.flat[1::11] = -np.inf
    x.flat[2::13] = np.nan
    for axis in (*range(x.ndim), -1):
        got = _row_max(x, axis)
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got, x.max(axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_cross_entropy(axis):
    logits = rand(3, 4, 2, seed=1)
    labels = simplex_on(3, 4, 2, axis=axis)
    got, graph = one_op("softmax_cross_entropy_with_logits", [labels, logits], {"axis": axis})
    shift = logits - logits.max(axis=axis, keepdims=True)
    log_sm = shift - np.log(np.exp(shift).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(got, -(labels * log_sm).sum(axis=axis), rtol=1e-12)
    assert graph.node("y").spec.shape == got.shape


def test_softmax_cross_entropy_gradients_for_any_labels():
    """The logits get the kernel's backprop softmax - labels whatever the labels sum to
    (TensorFlow 2.21, recorded: tf-xent-unnormalized-labels), which is the derivative only
    for labels that sum to 1; the labels get -log_softmax."""
    labels = np.array([[0.5, 1.0, 0.0]])
    logits = np.array([[0.2, -0.3, 1.1]])
    graph = Graph.build([
        {"name": "l", "op": "placeholder", "shape": [1, 3], "dtype": "float64"},
        {"name": "z", "op": "placeholder", "shape": [1, 3], "dtype": "float64"},
        {"name": "y", "op": "SoftmaxCrossEntropyWithLogits", "inputs": ["l", "z"]}])
    dl, dz = compute_gradients(graph, {"l": labels, "z": logits}, ["y"], ["l", "z"]).gradients
    sm = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(dz, sm - labels, rtol=1e-12)
    np.testing.assert_allclose(dl, -np.log(sm), rtol=1e-12)
    onehot = np.array([[0.0, 1.0, 0.0]])
    (dz,) = compute_gradients(graph, {"l": onehot, "z": logits}, ["y"], ["z"]).gradients
    np.testing.assert_allclose(dz, sm - onehot, rtol=1e-12)


def test_sigmoid_cross_entropy():
    labels, logits = rand(3, 4, low=0, high=1), rand(3, 4, seed=2, low=-40, high=40)
    got, _ = one_op("sigmoid_cross_entropy_with_logits", [labels, logits])
    want = labels * np.log1p(np.exp(-logits)) + (1 - labels) * np.log1p(np.exp(logits))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_l2_loss():
    x = rand(3, 4)
    got, graph = one_op("l2_loss", [x])
    assert graph.node("y").spec.shape == ()
    np.testing.assert_allclose(got, (x ** 2).sum() / 2, rtol=1e-12)


def _xent_nodes(op):
    return [{"name": "labels", "op": "placeholder", "shape": [3, 4], "dtype": "float64"},
            {"name": "z", "op": "placeholder", "shape": [3, 4], "dtype": "float64"},
            {"name": "ce", "op": op, "inputs": ["labels", "z"]},
            {"name": "y", "op": "sum", "inputs": ["ce"]}]


@pytest.mark.parametrize("op", ["softmax_cross_entropy_with_logits",
                                "sigmoid_cross_entropy_with_logits"])
def test_cross_entropy_second_order(op):
    feeds = {"labels": simplex_on(3, 4), "z": rand(3, 4, seed=5)}
    check_second_order(_xent_nodes(op), feeds, "y", "z")


# -- conv2d ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("attrs", "strides", "dilations", "same"), CONV_VARIANTS)
def test_conv2d_forward(attrs, strides, dilations, same):
    x, w = rand(2, 7, 6, 3), rand(3, 2, 3, 4, seed=1)
    got, graph = one_op("conv2d", [x, w], attrs)
    np.testing.assert_allclose(got, ref_conv2d(x, w, strides, dilations, same), rtol=1e-12)
    assert graph.node("y").spec.shape == got.shape


def test_conv2d_keeps_float32():
    x, w = rand(1, 5, 5, 2).astype(np.float32), rand(3, 3, 2, 2).astype(np.float32)
    got, _ = one_op("conv2d", [x, w], {"padding": "SAME"})
    assert got.dtype == np.float32
    graph = one_op("conv2d", [x, w], {"padding": "SAME"})[1]
    dx, dw = compute_gradients(graph, {"in0": x, "in1": w}, ["y"], ["in0", "in1"]).gradients
    assert dx.dtype == np.float32 and dw.dtype == np.float32


def _conv_nodes():
    return [{"name": "x", "op": "placeholder", "shape": [2, 5, 4, 2], "dtype": "float64"},
            {"name": "w", "op": "placeholder", "shape": [3, 2, 2, 3], "dtype": "float64"},
            {"name": "c", "op": "conv2d", "inputs": ["x", "w"],
             "attrs": {"strides": 2, "padding": "SAME", "dilations": 1}},
            {"name": "t", "op": "tanh", "inputs": ["c"]},
            {"name": "y", "op": "sum", "inputs": ["t"]}]


@pytest.mark.parametrize("wrt", ["x", "w"])
def test_conv2d_second_order(wrt):
    feeds = {"x": rand(2, 5, 4, 2, seed=3), "w": rand(3, 2, 2, 3, seed=4, low=-0.5, high=0.5)}
    check_second_order(_conv_nodes(), feeds, "y", wrt)


# -- pools ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("k", "s", "padding"), POOL_VARIANTS)
def test_pools_forward(k, s, padding):
    x = rand(2, 7, 6, 3)
    attrs = {"ksize": [1, k, k, 1], "strides": [s, s], "padding": padding}
    for op, kind in (("max_pool", "max"), ("avg_pool", "avg")):
        got, graph = one_op(op, [x], attrs)
        want = ref_pool(x, (k, k), (s, s), padding == "SAME", kind)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=op)
        assert graph.node("y").spec.shape == got.shape


def test_pool_rectangular_windows():
    x = rand(1, 5, 7, 2)
    attrs = {"ksize": [2, 3], "strides": [1, 2, 3, 1], "padding": "SAME"}
    for op, kind in (("MaxPool", "max"), ("AvgPool", "avg")):
        got, _ = one_op(op, [x], attrs)
        np.testing.assert_allclose(got, ref_pool(x, (2, 3), (2, 3), True, kind), rtol=1e-12)


def test_window_attr_forms_agree():
    """An int, [n], [h, w] and TensorFlow's [1, h, w, 1] name the same window."""
    x = rand(1, 6, 6, 2)
    forms = [2, [2], [2, 2], [1, 2, 2, 1]]
    outs = [one_op("max_pool", [x], {"ksize": f, "strides": f, "padding": "VALID"})[0]
            for f in forms]
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[1.0, 3.0, 3.0], [3.0, 2.0, 0.0]]).reshape(1, 2, 3, 1)
    graph = one_op("max_pool", [x], {"ksize": 2, "strides": 1, "padding": "VALID"})[1]
    (dx,) = compute_gradients(graph, {"in0": x}, ["y"], ["in0"]).gradients
    # windows: cols 0-1 -> max 3 first at (0,1); cols 1-2 -> max 3 first at (0,1) again
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])


def test_same_avg_pool_counts_only_cells_inside():
    x = np.ones((1, 3, 3, 1))
    got, _ = one_op("avg_pool", [x], {"ksize": 2, "strides": 2, "padding": "SAME"})
    np.testing.assert_allclose(got, np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
def test_pool_second_order(op):
    nodes = [{"name": "x", "op": "placeholder", "shape": [1, 5, 4, 2], "dtype": "float64"},
             {"name": "p", "op": op, "inputs": ["x"],
              "attrs": {"ksize": 3, "strides": 2, "padding": "SAME"}},
             {"name": "q", "op": "square", "inputs": ["p"]},
             {"name": "y", "op": "sum", "inputs": ["q"]}]
    check_second_order(nodes, {"x": rand(1, 5, 4, 2, seed=7)}, "y", "x")


def test_unknown_dimensions_infer_and_run():
    graph = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [None, None, 6, 3], "dtype": "float64"},
        {"name": "w", "op": "placeholder", "shape": [3, 3, 3, 2], "dtype": "float64"},
        {"name": "c", "op": "conv2d", "inputs": ["x", "w"],
         "attrs": {"strides": 2, "padding": "SAME"}},
        {"name": "p", "op": "max_pool", "inputs": ["c"], "attrs": {"ksize": 2, "strides": 1}},
        {"name": "y", "op": "sum", "inputs": ["p"]}])
    assert graph.node("c").spec.shape == (None, None, 3, 2)
    assert graph.node("p").spec.shape == (None, None, 2, 2)
    x, w = rand(2, 5, 6, 3), rand(3, 3, 3, 2, seed=1)
    dx, dw = compute_gradients(graph, {"x": x, "w": w}, ["y"], ["x", "w"]).gradients
    assert dx.shape == x.shape and dw.shape == w.shape


# -- graph errors -----------------------------------------------------------------------------

def _error(nodes):
    with pytest.raises(GraphError) as info:
        Graph.build(nodes)
    return info.value


def _x(shape=(1, 5, 5, 2), dtype="float32", name="x"):
    return {"name": name, "op": "placeholder", "shape": list(shape), "dtype": dtype}


@pytest.mark.parametrize(("nodes", "fragment", "loc_tail"), [
    ([_x(), _x((3, 3, 4, 2), name="w"),
      {"name": "bad", "op": "conv2d", "inputs": ["x", "w"]}], "in-channels (4)", ("inputs", 1)),
    ([_x((5, 5, 2)), _x((3, 3, 2, 2), name="w"),
      {"name": "bad", "op": "conv2d", "inputs": ["x", "w"]}], "rank 4", ("inputs", 0)),
    ([_x(), _x((3, 3, 2, 2), dtype="float64", name="w"),
      {"name": "bad", "op": "conv2d", "inputs": ["x", "w"]}], "cast", ("inputs", 1)),
    ([_x(), _x((3, 3, 2, 2), name="w"),
      {"name": "bad", "op": "conv2d", "inputs": ["x", "w"], "attrs": {"padding": "FULL"}}],
     "SAME", ("attrs", "padding")),
    ([_x(), _x((3, 3, 2, 2), name="w"),
      {"name": "bad", "op": "conv2d", "inputs": ["x", "w"], "attrs": {"strides": [2, 1, 1, 1]}}],
     "[1, h, w, 1]", ("attrs", "strides")),
    ([_x(), _x((7, 3, 2, 2), name="w"),
      {"name": "bad", "op": "conv2d", "inputs": ["x", "w"]}], "does not fit", ()),
    ([_x(dtype="int32"), {"name": "bad", "op": "max_pool", "inputs": ["x"],
                          "attrs": {"ksize": 2}}], "int32", ("inputs", 0)),
    ([_x(), {"name": "bad", "op": "avg_pool", "inputs": ["x"]}], "ksize", ("attrs", "ksize")),
    ([_x((3, 4)), _x((3, 5), name="z"),
      {"name": "bad", "op": "softmax_cross_entropy_with_logits", "inputs": ["x", "z"]}],
     "same shape", ("inputs", 1)),
    ([_x((3, 4)), {"name": "bad", "op": "softmax", "inputs": ["x"], "attrs": {"axis": 2}}],
     "out of range", ()),
])
def test_graph_errors_name_the_node(nodes, fragment, loc_tail):
    err = _error(nodes)
    assert err.node == "bad"
    assert fragment in err.message
    assert err.loc[-len(loc_tail):] == loc_tail if loc_tail else err.loc[0] == "nodes"


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_softmax_rows_with_infinite_or_huge_maxima(dtype: str) -> None:
    """The maxima's finiteness is asked of their sum: rows whose maxima are infinite or NaN
    (and finite maxima whose sum overflows) give what the careful way gives, row by row."""
    from engine.ops.nn import _shifted

    big = np.finfo(dtype).max
    x = np.array([[1.0, 2.0, 3.0], [np.inf, 1.0, 0.0], [-np.inf, -np.inf, -np.inf],
                  [np.nan, 1.0, 2.0], [big, big / 2, 0.0], [big, 1.0, big]], dtype)
    with np.errstate(all="ignore"):
        m = x.max(axis=-1, keepdims=True)
        want = x - np.where(np.isfinite(m), m, 0).astype(dtype)
        for rows in ([0, 1, 2, 3], [0, 4, 5], [0, 5], [0]):
            got = _shifted(x[rows], -1)
            assert got.dtype == want.dtype
            assert got.tobytes() == want[rows].tobytes(), rows
