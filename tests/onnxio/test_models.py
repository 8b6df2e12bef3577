"""Models exported by torch (make_models.py): forward vs onnxruntime and torch, VJP vs
torch's float64 autograd and central differences, and the gradient graph exported back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import Graph, compute_gradients, gradients, run
from engine.graph import format_ref

from .helpers import as_float64, build, check_model

MODELS = Path(__file__).resolve().parent / "models"
NAMES = sorted(p.stem for p in MODELS.glob("*.onnx"))


def _load(name: str) -> tuple[bytes, dict[str, np.ndarray]]:
    with np.load(MODELS / f"{name}.npz") as record:
        return (MODELS / f"{name}.onnx").read_bytes(), dict(record)


def _part(record: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix)}


def test_every_model_is_tested() -> None:
    assert len(NAMES) >= 10
    assert {n.split("_")[1][:2] for n in NAMES} >= {"ts", "dy"}  # both exporters


@pytest.mark.parametrize("name", NAMES)
def test_forward_gradients_and_export(name: str) -> None:
    model, record = _load(name)
    feeds = _part(record, "feed/")
    checked = check_model(model, feeds)
    for out, want in _part(record, "value/").items():
        np.testing.assert_allclose(checked["values"][out], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_equal_torch(name: str) -> None:
    model, record = _load(name)
    graph, _ = build(model)
    feeds = _part(record, "feed/")
    cotangents = _part(record, "cotangent/")
    expected = _part(record, "grad/")
    ys = list(cotangents)
    result = compute_gradients(graph, feeds, ys, list(expected),
                               grad_ys=[cotangents[y] for y in ys])
    assert expected
    for x, got in zip(expected, result.gradients):
        np.testing.assert_allclose(got, expected[x], rtol=1e-4, atol=1e-5, err_msg=x)


def test_a_symbolic_batch_stays_symbolic() -> None:
    model, _ = _load("flat_ts13_batch")
    graph, _ = build(model)
    assert graph.node("x").spec.shape == (None, 2, 3)
    for batch in (1, 5):  # x.view(x.size(0), -1) at any batch size
        x = np.random.default_rng(batch).normal(size=(batch, 2, 3)).astype(np.float32)
        check_model(model, {"x": x})


def test_second_order_on_an_imported_model() -> None:
    """A Hessian-vector product of an imported model (gradients of its gradient graph)
    equals central differences of the gradient, in float64."""
    model, record = _load("mlp_ts13")
    _, description = build(model)
    graph = as_float64(description)
    x = _part(record, "feed/")["x"].astype(np.float64)
    cot = _part(record, "cotangent/")["y"].astype(np.float64)
    v = np.random.default_rng(5).normal(size=x.shape)
    loss = Graph.from_description({
        "nodes": [*graph.to_spec()["nodes"],
                  {"name": "cot", "op": "constant", "value": cot, "dtype": "float64"},
                  {"name": "weighted", "op": "mul", "inputs": ["y", "cot"]},
                  {"name": "loss", "op": "sum", "inputs": ["weighted"]}],
        "inputs": ["x"], "outputs": ["loss"]})
    grad = gradients(loss, ["loss"], ["x"])
    (g_ref,) = grad.grads
    assert g_ref is not None
    g_name = format_ref(g_ref)

    def g_at(point: np.ndarray) -> np.ndarray:
        return run(grad.graph, [g_name], {"x": point})[0]

    vec = Graph.from_description({
        "nodes": [*grad.graph.to_spec()["nodes"],
                  {"name": "v", "op": "constant", "value": v, "dtype": "float64"},
                  {"name": "gv", "op": "mul", "inputs": [g_name, "v"]},
                  {"name": "gvsum", "op": "sum", "inputs": ["gv"]}],
        "inputs": ["x"], "outputs": ["gvsum"]})
    hvp = gradients(vec, ["gvsum"], ["x"], name="second")
    (h,) = run(hvp.graph, [format_ref(hvp.grads[0])], {"x": x})
    eps = 1e-5
    numeric = (g_at(x + eps * v) - g_at(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(h, numeric, rtol=1e-5, atol=1e-7)
