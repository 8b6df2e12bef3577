"""MindSpore's GradOperation (API.md section 4): nesting, zeros, weights, sens."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import EngineError, Graph, compute_grad_operation, grad_operation

# out = sum((x * w) @ y) + 0 * u ; w trainable, f non-trainable, v unused
NET = Graph.build([
    {"name": "x", "op": "placeholder", "shape": [2, 3], "dtype": "float32"},
    {"name": "y", "op": "placeholder", "shape": [3, 2], "dtype": "float32"},
    {"name": "u", "op": "placeholder", "shape": [4], "dtype": "float32"},
    {"name": "w", "op": "variable", "value": [2.0]},
    {"name": "v", "op": "variable", "value": [[1.0, 2.0]]},
    {"name": "f", "op": "variable", "value": [3.0], "trainable": False},
    {"name": "xw", "op": "mul", "inputs": ["x", "w"]},
    {"name": "xwf", "op": "mul", "inputs": ["xw", "f"]},
    {"name": "out", "op": "matmul", "inputs": ["xwf", "y"]}],
    inputs=["x", "y", "u"], outputs=["out"])
XV = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
YV = np.arange(6, dtype=np.float32).reshape(3, 2) / 2 - 1
UV = np.ones(4, np.float32)
ARGS = [XV, YV, UV]
ONES = np.ones((2, 2), np.float32)
# hand-derived: d sum(6 x @ y) / dx = 6 * ones @ y.T ; / dy = 6 * x.T @ ones
DX = 6 * ONES @ YV.T
DY = 6 * XV.T @ ONES
DW = np.float32(3 * np.sum(XV @ YV))
DF = np.float32(2 * np.sum(XV @ YV))


def _go(**kwargs: Any) -> Any:
    return compute_grad_operation(NET, ARGS, **kwargs)[0]


def _close(got: Any, want: Any) -> None:
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_neither_flag_gives_the_first_input() -> None:
    got = _go()
    _close(got, DX)


def test_get_all_gives_every_input_with_zeros_for_unused() -> None:
    got = _go(get_all=True)
    assert isinstance(got, list) and len(got) == 3
    _close(got[0], DX)
    _close(got[1], DY)
    np.testing.assert_array_equal(got[2], np.zeros(4, np.float32))


def test_get_by_list_defaults_to_trainable_variables() -> None:
    got = _go(get_by_list=True)
    assert isinstance(got, list) and len(got) == 2  # w and v; f is not trainable
    _close(got[0], [DW])
    np.testing.assert_array_equal(got[1], np.zeros((1, 2), np.float32))


def test_both_flags_nest_inputs_then_weights() -> None:
    got = _go(get_all=True, get_by_list=True, weights=["f"])
    assert isinstance(got, list) and len(got) == 2
    inputs, weights = got
    assert isinstance(inputs, list) and len(inputs) == 3
    assert isinstance(weights, list) and len(weights) == 1  # a one-element list stays a list
    _close(inputs[0], DX)
    _close(weights[0], [DF])  # a non-trainable variable named in weights: its true gradient


def test_one_element_lists_stay_lists() -> None:
    net = Graph.build([{"name": "x", "op": "placeholder", "shape": [2]},
                       {"name": "w", "op": "variable", "value": [1.0, 1.0]},
                       {"name": "o", "op": "mul", "inputs": ["x", "w"]}])
    x = np.array([3.0, 4.0], np.float32)
    got, _ = compute_grad_operation(net, [x], get_all=True)
    assert isinstance(got, list) and len(got) == 1
    got, _ = compute_grad_operation(net, [x], get_by_list=True)
    assert isinstance(got, list) and len(got) == 1
    np.testing.assert_array_equal(got[0], x)
    got, _ = compute_grad_operation(net, [x], get_all=True, get_by_list=True)
    assert [len(part) for part in got] == [1, 1]


def test_empty_weights() -> None:
    assert _go(get_by_list=True, weights=[]) == []


@pytest.mark.parametrize("bad", ["x", "out", "nope"])
def test_weights_must_name_variables(bad: str) -> None:
    with pytest.raises(EngineError) as info:
        _go(get_by_list=True, weights=["w", bad])
    assert info.value.loc == ("weights", 1)


def test_sens_scales_the_seed() -> None:
    sens = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    got = _go(sens_param=True, sens=[sens])
    _close(got, 6 * sens @ YV.T)


def test_sens_required_and_refused() -> None:
    with pytest.raises(EngineError) as info:
        _go(sens_param=True)
    assert info.value.loc[0] == "sens"
    with pytest.raises(EngineError) as info:
        _go(sens=[ONES])
    assert info.value.loc[0] == "sens"


@pytest.mark.parametrize("bad", [np.ones((2, 3), np.float32), np.ones((2, 2), np.float64),
                                 np.ones(2, np.float32)], ids=["shape", "dtype", "rank"])
def test_sens_must_match_the_output(bad: np.ndarray) -> None:
    with pytest.raises(EngineError) as info:
        _go(sens_param=True, sens=[bad])
    assert info.value.loc[0] == "sens"


TWO_OUT = Graph.build([
    {"name": "x", "op": "placeholder", "shape": [3]},
    {"name": "a", "op": "square", "inputs": ["x"]},
    {"name": "b", "op": "sum", "inputs": ["x"]}], outputs=["a", "b"])


def test_several_outputs_are_summed_or_seeded_each() -> None:
    x = np.array([1.0, 2.0, 3.0], np.float32)
    got, _ = compute_grad_operation(TWO_OUT, [x])
    _close(got, 2 * x + 1)
    sa, sb = np.array([1.0, -1.0, 2.0], np.float32), np.float32(10.0)
    got, _ = compute_grad_operation(TWO_OUT, [x], sens_param=True, sens=[sa, np.asarray(sb)])
    _close(got, 2 * x * sa + sb)
    with pytest.raises(EngineError):
        compute_grad_operation(TWO_OUT, [x], sens_param=True, sens=[sa])


def test_args_count_is_checked() -> None:
    with pytest.raises(EngineError) as info:
        compute_grad_operation(NET, ARGS[:2])
    assert info.value.loc == ("args",)


def test_arg_shape_error_points_at_args() -> None:
    with pytest.raises(EngineError) as info:
        compute_grad_operation(NET, [XV, np.ones((2, 2), np.float32), UV])
    assert info.value.loc == ("args", 1)


def test_int32_input_truncated_toward_zero() -> None:
    net = Graph.build([
        {"name": "x", "op": "placeholder", "shape": [4]},
        {"name": "n", "op": "placeholder", "shape": [4], "dtype": "int32"},
        {"name": "nf", "op": "cast", "inputs": ["n"], "attrs": {"dtype": "float32"}},
        {"name": "o", "op": "mul", "inputs": ["x", "nf"]}])
    x = np.array([-2.7, -0.5, 0.9, 3.99], np.float32)
    got, _ = compute_grad_operation(net, [x, np.array([1, 2, 3, 4], np.int32)], get_all=True)
    assert got[1].dtype == np.int32
    np.testing.assert_array_equal(got[1], [-2, 0, 0, 3])
    np.testing.assert_array_equal(got[0], [1.0, 2.0, 3.0, 4.0])


def test_no_input_to_differentiate() -> None:
    """MindSpore (recorded: ms-no-inputs-*): GradOperation() of a network without inputs
    answers an empty tuple, get_all an empty list, get_by_list the weights' gradients."""
    net = Graph.build([{"name": "w", "op": "variable", "value": [1.0]},
                       {"name": "o", "op": "exp", "inputs": ["w"]}])
    assert grad_operation(net).grads == ()
    assert compute_grad_operation(net, [])[0] == []
    assert compute_grad_operation(net, [], get_all=True)[0] == []
    got, _ = compute_grad_operation(net, [], get_by_list=True)
    np.testing.assert_allclose(got[0], np.exp([1.0]).astype(np.float32))


def test_mindspore_dialect_is_used() -> None:
    """The tie split of maximum shows which dialect GradOperation runs in."""
    net = Graph.build([{"name": "a", "op": "placeholder", "shape": [1]},
                       {"name": "b", "op": "placeholder", "shape": [1]},
                       {"name": "m", "op": "maximum", "inputs": ["a", "b"]}])
    one = np.ones(1, np.float32)
    got, _ = compute_grad_operation(net, [one, one], get_all=True)
    np.testing.assert_array_equal(got, [[0.5], [0.5]])


def test_single_sens_error_reads_well() -> None:
    with pytest.raises(EngineError) as info:
        _go(sens_param=True, sens=[np.ones(3, np.float32)])
    assert "sens[sens]" not in str(info.value)
