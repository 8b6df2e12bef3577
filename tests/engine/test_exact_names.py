"""A node name that contains ':' means that node wherever it matches exactly (ONNX value
names such as ``onnx::Gemm_0`` or ``dense/BiasAdd:0``); otherwise ``name:k`` is output k."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, GraphError, gradients, run
from engine.graph import format_ref


def _graph() -> Graph:
    return Graph.build([
        {"name": "x", "op": "placeholder", "shape": [3]},
        {"name": "parts", "op": "split", "inputs": ["x"],
         "attrs": {"num_or_size_splits": [1, 2]}},
        # a node literally named like output 1 of "parts", and one like output 0 of "x"
        {"name": "parts:1", "op": "mul", "inputs": ["x", "x"]},
        {"name": "x:0", "op": "neg", "inputs": ["x"]},
        {"name": "onnx::Gemm_0", "op": "exp", "inputs": ["parts:1"]},
        {"name": "second", "op": "identity", "inputs": ["parts:0"]},
    ], outputs=["onnx::Gemm_0", "x:0"])


def test_an_exact_name_wins_in_inputs_outputs_and_fetches() -> None:
    g = _graph()
    assert g.node("onnx::Gemm_0").inputs == (("parts:1", 0),)
    assert g.outputs == (("onnx::Gemm_0", 0), ("x:0", 0))
    x = np.array([1.0, 2.0, 3.0], np.float32)
    sq, neg, first = run(g, ["parts:1", "x:0", "parts"], {"x": x})
    np.testing.assert_allclose(sq, x * x)
    np.testing.assert_allclose(neg, -x)
    np.testing.assert_allclose(first, x[:1])


def test_name_k_still_reads_an_output_when_no_node_has_that_name() -> None:
    g = _graph()
    assert g.resolve("second") == ("second", 0)
    assert g.resolve("second:0") == ("second", 0)
    assert g.resolve("parts:0") == ("parts", 0)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    (first,) = run(g, ["parts:0"], {"x": x})
    np.testing.assert_allclose(first, x[:1])


def test_gradients_take_exact_names() -> None:
    g = _graph()
    result = gradients(g, ["onnx::Gemm_0"], ["x"])
    (grad,) = run(result.graph, [format_ref(result.grads[0])], {"x": np.array([1.0, 2.0, 0.5],
                                                                     np.float32)})
    x = np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(grad, 2 * x * np.exp(x * x), rtol=1e-5)


def test_a_node_whose_name_is_not_a_string_is_refused_not_hashed() -> None:
    with pytest.raises(GraphError, match="name"):
        Graph.build([{"name": ["x"], "op": "placeholder", "shape": [1]}])
