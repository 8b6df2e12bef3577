"""The public ONNX cases (onnx_sample.json), evaluated in-process through onnxio and the
engine: /gradients as tf.gradients with grad_ys, /vjp as gradients seeded with the
cotangents (values too), /evaluate as a plain run. Answers are torch's float64 autograd."""
from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from engine import compute_gradients, run

from ..case_files import load
from .helpers import build

CASES = load("onnx_sample")


def _graph(request: dict[str, Any]):
    graph, _ = build(base64.b64decode(request["graph"]["onnx"]))
    return graph


def _array(v: Any, dtype: str = "float32") -> np.ndarray:
    return np.asarray(v, dtype=dtype)


def _close(got: np.ndarray, want: Any, expect: dict[str, Any], what: str) -> None:
    np.testing.assert_allclose(got, np.asarray(want, dtype=np.float64), rtol=expect["rtol"],
                               atol=expect["atol"], err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_onnx_public_case(case: dict[str, Any]) -> None:
    request, expect = case["request"], case["expect"]
    assert expect["status"] == 200
    graph = _graph(request)
    feeds = {k: _array(v) for k, v in request["feeds"].items()}
    if case["endpoint"] == "/gradients":
        grad_ys = [_array(g) for g in request["grad_ys"]]
        out = compute_gradients(graph, feeds, request["ys"], request["xs"], grad_ys=grad_ys)
        assert len(out.gradients) == len(expect["gradients"])
        for x, got, want in zip(request["xs"], out.gradients, expect["gradients"]):
            _close(got, want, expect, x)
    elif case["endpoint"] == "/vjp":
        outputs, inputs = request["outputs"], request["inputs"]
        seeds = [_array(request["cotangents"][o]) for o in outputs]
        out = compute_gradients(graph, feeds, outputs, inputs, grad_ys=seeds,
                                return_values=True)
        answer = expect["answer"]
        assert out.values is not None
        for o, got in zip(outputs, out.values):
            _close(got, answer["values"][o], expect, f"values {o}")
        for x, got in zip(inputs, out.gradients):
            _close(got, answer["cotangents"][x], expect, f"cotangent {x}")
    else:
        assert case["endpoint"] == "/evaluate"
        outputs = request["outputs"]
        for o, got in zip(outputs, run(graph, outputs, feeds)):
            _close(got, expect["answer"]["values"][o], expect, o)


def test_all_four_endpoints_forms_are_present() -> None:
    assert {c["endpoint"] for c in CASES} == {"/gradients", "/vjp", "/evaluate"}
