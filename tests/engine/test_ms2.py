"""Every case of ``ms2_sample.json`` (MindSpore 2.10's grad / value_and_grad, recorded)
evaluated in-process: the exact return structure, ids, aux and values."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import EngineError, Graph, LimitError, grad, value_and_grad

from .cases import load
from .test_functional_cases import check_case

CASES = [pytest.param(c, id=c["id"]) for c in load("ms2_sample")]


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    check_case(case)


def _net() -> Graph:
    return Graph.build([
        {"name": "x", "op": "placeholder", "shape": [2], "dtype": "float64"},
        {"name": "y", "op": "placeholder", "shape": [2], "dtype": "float64"},
        {"name": "w", "op": "variable", "value": np.array([0.5, -1.0])},
        {"name": "c", "op": "constant", "value": np.array(2.0)},
        {"name": "xw", "op": "mul", "inputs": ["x", "w"]},
        {"name": "out", "op": "sum", "inputs": ["xw"]},
        {"name": "aux", "op": "mul", "inputs": ["y", "c"]},
    ], outputs=["out", "aux"])


ARGS = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]


@pytest.mark.parametrize(("kw", "loc"), [
    ({"grad_position": None, "weights": None}, ("grad_position",)),
    ({"grad_position": []}, ("grad_position",)),
    ({"grad_position": -1}, ("grad_position",)),
    ({"grad_position": 2}, ("grad_position",)),
    ({"grad_position": [0, 0]}, ("grad_position", 1)),
    ({"grad_position": True}, ("grad_position",)),
    ({"weights": ["w", "c"]}, ("weights", 1)),
    ({"weights": "nope"}, ("weights",)),
])
def test_refusals_name_the_field(kw: dict[str, Any], loc: tuple) -> None:
    with pytest.raises(EngineError) as info:
        grad(_net(), ARGS, has_aux=True, **kw)
    assert info.value.loc == loc and not isinstance(info.value, LimitError)


def test_structure_and_values() -> None:
    net = _net()
    out = value_and_grad(net, ARGS, grad_position=(0, 1), weights=["w"], has_aux=True,
                         return_ids=True)
    (gx, gy), (gw,) = out["gradients"]
    assert gx[0] == 0 and gy[0] == 1 and gw[0] == "w"
    np.testing.assert_array_equal(gx[1], [0.5, -1.0])
    np.testing.assert_array_equal(gy[1], [0.0, 0.0])  # aux is not differentiated
    np.testing.assert_array_equal(gw[1], ARGS[0])
    value, aux = out["value"]
    assert value == pytest.approx(-1.5)
    np.testing.assert_array_equal(aux, [6.0, 8.0])
    summed = grad(net, ARGS, grad_position=1)["gradients"]  # no aux: both outputs summed
    np.testing.assert_array_equal(summed, [2.0, 2.0])
    assert isinstance(grad(net, ARGS, grad_position=None, weights=[])["gradients"], list)


def test_vmap_gives_per_example_gradients() -> None:
    """in_axes maps the call: every part of the answer gains the leading axis B, a weight's
    gradient too (one per example, not summed)."""
    net = _net()
    xs = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
    out = value_and_grad(net, [xs, ARGS[1]], grad_position=0, weights=["w"], has_aux=True,
                         in_axes={"x": 0})
    (gx, (gw,)) = out["gradients"]
    assert gx.shape == (3, 2) and gw.shape == (3, 2)
    for b in range(3):
        one = value_and_grad(net, [xs[b], ARGS[1]], grad_position=0, weights=["w"],
                             has_aux=True)
        np.testing.assert_allclose(gx[b], one["gradients"][0])
        np.testing.assert_allclose(gw[b], one["gradients"][1][0])
        np.testing.assert_allclose(out["value"][0][b], one["value"][0])
        np.testing.assert_allclose(out["value"][1][b], one["value"][1])
