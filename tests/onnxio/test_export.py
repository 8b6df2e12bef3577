"""Export of engine gradient graphs: every gradient op our VJPs emit, first and second
order, exported to ONNX, checked, and run by onnxruntime to the engine's own numbers."""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest

import onnxio
from engine import Graph, compute_gradients, gradients, run
from engine.graph import format_ref

from .helpers import ort_run

rng = np.random.default_rng(3)


def _ph(name: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "op": "placeholder", "shape": shape, "dtype": "float32"}


def _op(name: str, op: str, inputs: list[str], **attrs: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "inputs": inputs, "attrs": attrs}


IMG = [2, 7, 6, 3]
GRAPHS: dict[str, list[dict[str, Any]]] = {
    "conv_same_stride2": [_ph("x", IMG), _ph("w", [3, 2, 3, 4]),
                          _op("y", "conv2d", ["x", "w"], strides=[2, 2], padding="SAME")],
    "conv_valid_dilated": [_ph("x", IMG), _ph("w", [2, 2, 3, 2]),
                           _op("y", "conv2d", ["x", "w"], strides=[2, 1], dilations=[2, 2])],
    "max_pool_same": [_ph("x", IMG), _op("y", "max_pool", ["x"], ksize=[3, 3], strides=[2, 2],
                                         padding="SAME")],
    "avg_pool_same": [_ph("x", IMG), _op("y", "avg_pool", ["x"], ksize=[3, 2], strides=[2, 2],
                                         padding="SAME")],
    "avg_pool_valid": [_ph("x", IMG), _op("y", "avg_pool", ["x"], ksize=[2, 2],
                                          strides=[2, 2])],
    "gather_axis1": [_ph("x", [3, 5, 2]), {"name": "i", "op": "constant", "dtype": "int32",
                                           "value": [[4, 0], [4, 2]]},
                     _op("y", "gather", ["x", "i"], axis=1)],
    "strided_slice": [_ph("x", [5, 6]),
                      _op("y", "strided_slice", ["x"], begin=[4, 1], end=[None, 6],
                          strides=[-2, 2])],
    "strided_slice_shrink": [_ph("x", [5, 6]),
                             _op("y", "strided_slice", ["x"], begin=[-1, 0], end=[0, 6],
                                 shrink_axis_mask=1)],
    "slice": [_ph("x", [5, 6]), _op("y", "slice", ["x"], begin=[1, 2], size=[3, -1])],
    "tile": [_ph("x", [2, 3]), _op("y", "tile", ["x"], multiples=[2, 3])],
    "pad": [_ph("x", [2, 3]), _op("y", "pad", ["x"], paddings=[[1, 0], [2, 1]])],
    "split_concat_stack": [_ph("x", [4, 6]),
                           _op("s", "split", ["x"], num_or_size_splits=[2, 4], axis=1),
                           _op("c", "concat", ["s:1", "s:0"], axis=1),
                           _op("y", "stack", ["c", "x"], axis=-1)],
    "reductions": [_ph("x", [3, 4]), _op("p", "prod", ["x"], axis=1),
                   _op("m", "max", ["x"], axis=0), _op("l", "logsumexp", ["x"], axis=1),
                   _op("mn", "mean", ["x"]), _op("a", "add", ["p", "l"]),
                   _op("b", "sum", ["m"]), _op("c", "add", ["a", "b"]),
                   _op("y", "mul", ["c", "mn"])],
    "elementwise": [_ph("x", [3, 4]), _ph("z", [4]),
                    _op("a", "expm1", ["x"]), _op("b", "log1p", ["a"]),
                    _op("c", "squared_difference", ["b", "z"]), _op("d", "relu6", ["c"]),
                    _op("e", "gelu", ["d"], approximate=True), _op("f", "square", ["e"]),
                    _op("g", "gelu", ["x"]), _op("h", "add", ["f", "g"]),
                    _op("k", "maximum", ["h", "z"]), _op("y", "softplus", ["k"])],
    "losses": [_ph("labels", [3, 4]), _ph("logits", [3, 4]),
               _op("s", "softmax_cross_entropy_with_logits", ["labels", "logits"]),
               _op("t", "sigmoid_cross_entropy_with_logits", ["labels", "logits"]),
               _op("l2", "l2_loss", ["t"]), _op("y", "add", ["s", "l2"])],
    "broadcast_and_matmul": [_ph("a", [2, 3, 4]), _ph("b", [4, 5]), _ph("c", [3]),
                             _op("m", "matmul", ["b", "a"], transpose_a=True,
                                 transpose_b=True),
                             _op("y", "add", ["m", "c"])],
    "truncate_div": [_ph("x", [3, 4]), _ph("a", [3, 4]), _ph("b", [4]),
                     _op("q", "truncate_div", ["a", "b"]), _op("y", "mul", ["q", "x"])],
    "reshape_transpose_where": [_ph("x", [2, 3, 4]),
                                _op("r", "reshape", ["x"], shape=[6, -1]),
                                _op("t", "transpose", ["r"]),
                                _op("z", "zeros_like", ["t"]),
                                _op("p", "greater", ["t", "z"]),
                                _op("n", "neg", ["t"]),
                                _op("w", "where", ["p", "t", "n"]),
                                _op("e", "expand_dims", ["w"], axis=0),
                                _op("y", "squeeze", ["e"])],
}


def _feeds(graph: Graph) -> dict[str, np.ndarray]:
    return {n.name: rng.normal(size=n.spec.shape).astype(np.float32)
            for n in graph.nodes if n.op == "placeholder"}


def _export_matches(graph: Graph, fetches: list[str], feeds: dict[str, np.ndarray]) -> None:
    model = onnxio.to_onnx(graph, fetches)
    onnx.checker.check_model(onnx.load_from_string(model), full_check=True)
    want = run(graph, fetches, feeds)
    for name, got, w in zip(fetches, ort_run(model, feeds), want):
        np.testing.assert_allclose(got, w, rtol=2e-4, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_first_and_second_order_gradients_export(name: str) -> None:
    graph = Graph.build(GRAPHS[name])
    feeds = _feeds(graph)
    xs = [n for n in feeds if n != "labels"] or list(feeds)
    first = compute_gradients(graph, feeds, ["y"], xs, return_graph=True)
    fetches = [g for g in first.gradient_nodes if g is not None]
    _export_matches(first.graph, ["y", *fetches], feeds)
    # second order: the gradient of the sum of the first gradient, exported too
    total = Graph.build([*first.graph.to_spec()["nodes"],
                         _op("total", "sum", [fetches[0]])])
    second = gradients(total, ["total"], xs, name="second")
    refs = [format_ref(r) for r in second.grads if r is not None]
    if refs:
        _export_matches(second.graph, refs, feeds)


def test_an_rnn_gradient_and_its_second_order_export() -> None:
    """The RNN's backward loop saves its gathers' rows without stacking its variables
    (a Loop whose scan outputs are just those, padded), and the second order runs it
    again stacked: both as ONNX give the engine's answers (float64)."""
    from tests.peers.scenarios_cf import _rnn

    nodes, raw = _rnn(5)
    feeds = {k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}
    graph = Graph.build(nodes)
    first = gradients(graph, ["loss"], ["h0", "W", "U", "b", "xs"])
    loops = [n for n in first.graph.nodes if n.op == "while_loop" and n.name != "rnn"]
    assert [(n.attrs["stacked"], n.attrs["saved"]) for n in loops] == [(False, 2)]
    fetches = [name for name in first.names if name is not None]
    _export_matches(first.graph, fetches, feeds)
    total = Graph.build([*first.graph.to_spec()["nodes"], _op("total", "sum", [fetches[4]])])
    second = gradients(total, ["total"], ["xs", "U"], name="second")
    _export_matches(second.graph, [format_ref(r) for r in second.grads if r is not None],
                    feeds)


def test_output_names_keep_engine_names() -> None:
    graph = Graph.build(GRAPHS["split_concat_stack"])
    model = onnx.load_from_string(onnxio.to_onnx(graph, ["y", "s:1"]))
    assert [o.name for o in model.graph.output] == ["y", "s:1"]
    assert [i.name for i in model.graph.input] == ["x"]
