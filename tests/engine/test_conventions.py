"""The conventions table (OPS.md, docs/ops.md), row by row, in both dialects.

Each expected value below is derived from the table's rule by hand, not recorded from the
engine. (The recorded acceptance cases run in-process in ``test_recorded_cases.py``; the
per-op VJPs at regular points in the every-op sweep.)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from engine import EngineError, Graph, compute_gradients

NAN, INF = math.nan, math.inf
DIALECTS = ("tensorflow", "mindspore")


# -- helpers -------------------------------------------------------------------------------

def _grads(nodes: list[dict[str, Any]], feeds: dict[str, Any], y: str, xs: list[str],
           dialect: str, grad_y: Any = None, dtype: str = "float32",
           unconnected: str = "none") -> list[np.ndarray | None]:
    graph = Graph.build(nodes)
    arrays = {k: np.asarray(v, dtype=graph.node(k).spec.dtype) for k, v in feeds.items()}
    gys = None if grad_y is None else [np.asarray(grad_y, dtype=dtype)]
    return compute_gradients(graph, arrays, [y], xs, gys, dialect=dialect,
                             unconnected=unconnected).gradients


def _ph(name: str, n: int, dtype: str = "float32") -> dict[str, Any]:
    return {"name": name, "op": "placeholder", "shape": [n], "dtype": dtype}


def _unary(op: str, x: list[float], dialect: str, g: list[float] | None = None) -> np.ndarray:
    nodes = [_ph("x", len(x)), {"name": "y", "op": op, "inputs": ["x"]}]
    (dx,) = _grads(nodes, {"x": x}, "y", ["x"], dialect, g)
    assert dx is not None and dx.dtype == np.float32
    return dx


def _binary(op: str, x: list[float], y: list[float], dialect: str,
            g: list[float] | None = None) -> list[np.ndarray | None]:
    nodes = [_ph("a", len(x)), _ph("b", len(y)), {"name": "z", "op": op, "inputs": ["a", "b"]}]
    return _grads(nodes, {"a": x, "b": y}, "z", ["a", "b"], dialect, g)


def _eq(got: Any, want: Any) -> None:
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want, dtype=np.float32))


# -- maximum / minimum at a tie --------------------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_tie_of_two_arguments(op: str, dialect: str) -> None:
    x = [1.0, 2.0, -3.0, 0.5]
    y = [1.0, 0.0, 5.0, 0.5]
    g = [2.0, 3.0, 4.0, -6.0]
    dx, dy = _binary(op, x, y, dialect, g)
    first_wins = [a > b if op == "maximum" else a < b for a, b in zip(x, y)]
    tie = [a == b for a, b in zip(x, y)]
    if dialect == "tensorflow":  # mask x >= y (x <= y): ties go to the first argument
        want_x = [gi if (w or t) else 0.0 for gi, w, t in zip(g, first_wins, tie)]
    else:  # split 0.5 / 0.5
        want_x = [gi if w else (gi / 2 if t else 0.0) for gi, w, t in zip(g, first_wins, tie)]
    want_y = [gi - wx for gi, wx in zip(g, want_x)]
    _eq(dx, want_x)
    _eq(dy, want_y)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_nan_argument(op: str, dialect: str) -> None:
    """A NaN on either side: TensorFlow's mask is false, so all goes to the second
    argument; MindSpore gives the whole gradient to both."""
    x, y, g = [NAN, 1.0, NAN], [1.0, NAN, NAN], [2.0, 3.0, 5.0]
    dx, dy = _binary(op, x, y, dialect, g)
    _eq(dx, [0.0] * 3 if dialect == "tensorflow" else g)
    _eq(dy, g)


# -- max / min reductions with ties and NaN -------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op", ["max", "min"])
def test_reduction_ties_share_and_nan_poisons(op: str, dialect: str) -> None:
    s = 1.0 if op == "max" else -1.0
    x = [[s * 3.0, s * 3.0, s * 1.0, s * 3.0],   # three tied extremes: 1/3 each
         [s * 2.0, NAN, s * 5.0, 0.0],            # a NaN: TF all NaN, MindSpore skips it
         [0.0, s * 1.0, s * 7.0, s * 2.0]]        # one extreme
    nodes = [{"name": "x", "op": "placeholder", "shape": [3, 4], "dtype": "float32"},
             {"name": "r", "op": op, "inputs": ["x"], "attrs": {"axis": 1}}]
    g = [3.0, 2.0, 5.0]
    (dx,) = _grads(nodes, {"x": x}, "r", ["x"], dialect, g)
    nan_row = [NAN] * 4 if dialect == "tensorflow" else [0.0, 0.0, 2.0, 0.0]
    want = [[1.0, 1.0, 0.0, 1.0], nan_row, [0.0, 0.0, 5.0, 0.0]]
    _eq(dx, want)


# -- abs, relu, relu6, sign at their kinks --------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_kinks(dialect: str) -> None:
    g = [2.0, 3.0, 5.0, 7.0, 11.0]
    _eq(_unary("abs", [-1.0, 0.0, -0.0, 2.0, -2.0], dialect, g), [-2.0, 0.0, 0.0, 7.0, -11.0])
    _eq(_unary("relu", [-1.0, 0.0, -0.0, 2.0, 6.0], dialect, g), [0.0, 0.0, 0.0, 7.0, 11.0])
    at_six = 0.0 if dialect == "tensorflow" else 11.0  # MindSpore passes the gradient at 6
    _eq(_unary("relu6", [-1.0, 0.0, 3.0, 7.0, 6.0], dialect, g), [0.0, 0.0, 5.0, 0.0, at_six])
    _eq(_unary("sign", [-1.0, 0.0, 3.0, 7.0, 6.0], dialect, g), [0.0] * 5)


# -- sqrt at 0 and below; exact zeros from a zero upstream gradient ---------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_sqrt_at_zero_and_negative(dialect: str) -> None:
    _eq(_unary("sqrt", [0.0, -1.0, 4.0], dialect), [INF, NAN, 0.25])


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op, x", [("sqrt", 0.0), ("rsqrt", 0.0), ("reciprocal", 0.0)])
def test_zero_upstream_through_infinite_derivative(op: str, x: float, dialect: str) -> None:
    want = 0.0 if dialect == "tensorflow" else NAN  # TF's dedicated kernels vs 0 * inf
    _eq(_unary(op, [x, 4.0], dialect, [0.0, 0.0]), [want, 0.0])


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op", ["sqrt", "log"])
def test_where_guard_at_zero(op: str, dialect: str) -> None:
    """where(x > 0, f(x), 0) at 0: TF's SqrtGrad gives 0; log's plain product NaN in both."""
    nodes = [_ph("x", 3), {"name": "zero", "op": "constant", "value": 0.0},
             {"name": "pos", "op": "greater", "inputs": ["x", "zero"]},
             {"name": "f", "op": op, "inputs": ["x"]},
             {"name": "zeros", "op": "zeros_like", "inputs": ["x"]},
             {"name": "y", "op": "where", "inputs": ["pos", "f", "zeros"]}]
    (dx,) = _grads(nodes, {"x": [0.0, 4.0, -1.0]}, "y", ["x"], dialect)
    tf_sqrt = op == "sqrt" and dialect == "tensorflow"
    at_zero = 0.0 if tf_sqrt else NAN  # 0 * inf (sqrt), 0 / 0 (log)
    below = (0.0 if tf_sqrt else NAN) if op == "sqrt" else -0.0  # 0 * NaN; 0 / -1
    _eq(dx, [at_zero, 0.25, below])


# -- pow, div at their special points -------------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_pow_special_points(dialect: str) -> None:
    x = [0.0, 0.0, -2.0, 2.0]
    y = [0.0, -1.0, 2.0, 3.0]
    dx, dy = _binary("pow", x, y, dialect)
    # d/dx = y * x**(y-1): 0 * 0**-1 = 0 * inf = NaN; -1 * 0**-2 = -inf; 2*(-2) = -4; 3*4=12
    _eq(dx, [NAN, -INF, -4.0, 12.0])
    log8 = np.float32(8.0) * np.log(np.float32(2.0))
    if dialect == "tensorflow":  # log(x) taken as 0 where x <= 0: 0**-1 * 0 = inf * 0
        _eq(dy, [0.0, NAN, 0.0, log8])
    else:  # log unmasked: (0,-1): inf * -inf; negative base: log(-2) = NaN
        _eq(dy, [0.0, -INF, NAN, log8])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_div_by_zero(dialect: str) -> None:
    dx, dy = _binary("div", [1.0, 0.0, -1.0, 3.0], [0.0, 0.0, 0.0, 2.0], dialect)
    _eq(dx, [INF, INF, INF, 0.5])
    zero_by_zero = NAN if dialect == "tensorflow" else INF
    _eq(dy, [-INF, zero_by_zero, INF, -0.75])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_log_at_zero_is_a_plain_product(dialect: str) -> None:
    _eq(_unary("log", [0.0, 2.0], dialect, [0.0, 1.0]), [NAN, 0.5])
    _eq(_unary("log", [0.0], dialect), [INF])


# -- ops without a gradient ----------------------------------------------------------------
# MindSpore's "zeros" is GradOperation's filling of unconnected entries, which is
# compute_gradients' unconnected="zero"; TensorFlow's default leaves them None.

def _no_gradient(dialect: str) -> str:
    return "none" if dialect == "tensorflow" else "zero"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op", ["floor", "ceil", "round"])
def test_piecewise_constant_ops(op: str, dialect: str) -> None:
    nodes = [_ph("x", 3), {"name": "y", "op": op, "inputs": ["x"]}]
    (dx,) = _grads(nodes, {"x": [0.4, -1.5, 2.5]}, "y", ["x"], dialect,
                   unconnected=_no_gradient(dialect))
    if dialect == "tensorflow":
        assert dx is None
    else:
        _eq(dx, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("op", ["less", "greater_equal", "equal", "not_equal"])
def test_comparisons_carry_nothing(op: str, dialect: str) -> None:
    nodes = [_ph("x", 2), _ph("w", 2), {"name": "c", "op": op, "inputs": ["x", "w"]},
             {"name": "cf", "op": "cast", "inputs": ["c"], "attrs": {"dtype": "float32"}},
             {"name": "y", "op": "add", "inputs": ["cf", "w"]}]
    dx, dw = _grads(nodes, {"x": [1.0, 2.0], "w": [2.0, 2.0]}, "y", ["x", "w"], dialect,
                    unconnected=_no_gradient(dialect))
    _eq(dw, [1.0, 1.0])
    if dialect == "tensorflow":
        assert dx is None
    else:
        _eq(dx, [0.0, 0.0])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_logical_ops_carry_nothing(dialect: str) -> None:
    nodes = [_ph("x", 2), {"name": "zero", "op": "constant", "value": 0.0},
             {"name": "p", "op": "greater", "inputs": ["x", "zero"]},
             {"name": "q", "op": "logical_not", "inputs": ["p"]},
             {"name": "r", "op": "logical_and", "inputs": ["p", "q"]},
             {"name": "s", "op": "logical_or", "inputs": ["r", "q"]},
             {"name": "y", "op": "cast", "inputs": ["s"], "attrs": {"dtype": "float32"}}]
    (dx,) = _grads(nodes, {"x": [1.0, -2.0]}, "y", ["x"], dialect,
                   unconnected=_no_gradient(dialect))
    if dialect == "tensorflow":
        assert dx is None
    else:
        _eq(dx, [0.0, 0.0])


# -- integer-typed xs ------------------------------------------------------------------------

def _int_net() -> list[dict[str, Any]]:
    return [_ph("x", 4), _ph("n", 4, "int32"),
            {"name": "nf", "op": "cast", "inputs": ["n"], "attrs": {"dtype": "float32"}},
            {"name": "y", "op": "mul", "inputs": ["x", "nf"]}]


def test_integer_x_tensorflow() -> None:
    feeds = {"x": [-2.7, 0.5, 1.9, -0.4], "n": [1, 2, 3, 4]}
    dx, dn = _grads(_int_net(), feeds, "y", ["x", "n"], "tensorflow")
    _eq(dx, [1.0, 2.0, 3.0, 4.0])
    assert dn is None
    _, dn = _grads(_int_net(), feeds, "y", ["x", "n"], "tensorflow", unconnected="zero")
    assert dn is not None and dn.dtype == np.int32
    np.testing.assert_array_equal(dn, [0, 0, 0, 0])


def test_integer_x_mindspore_truncates_toward_zero() -> None:
    feeds = {"x": [-2.7, 0.5, 1.9, -0.4], "n": [1, 2, 3, 4]}
    _, dn = _grads(_int_net(), feeds, "y", ["x", "n"], "mindspore")
    assert dn is not None and dn.dtype == np.int32
    np.testing.assert_array_equal(dn, [-2, 0, 1, 0])


# -- broadcasting and matmul shapes ------------------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_broadcast_sums_back_to_exact_shapes(dialect: str) -> None:
    nodes = [{"name": "a", "op": "placeholder", "shape": [3, 1], "dtype": "float32"},
             {"name": "b", "op": "placeholder", "shape": [4], "dtype": "float32"},
             {"name": "s", "op": "placeholder", "shape": [], "dtype": "float32"},
             {"name": "ab", "op": "add", "inputs": ["a", "b"]},
             {"name": "y", "op": "mul", "inputs": ["ab", "s"]}]
    g = np.arange(12, dtype=np.float32).reshape(3, 4)
    feeds = {"a": [[1.0], [2.0], [3.0]], "b": [1.0, 2.0, 3.0, 4.0], "s": 2.0}
    da, db, ds = _grads(nodes, feeds, "y", ["a", "b", "s"], dialect, g)
    _eq(da, 2.0 * g.sum(axis=1, keepdims=True))
    _eq(db, 2.0 * g.sum(axis=0))
    ab = np.array([[1.0], [2.0], [3.0]]) + np.array([1.0, 2.0, 3.0, 4.0])
    _eq(ds, np.float32((g * ab).sum()))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_batched_transposed_matmul_shapes(dialect: str) -> None:
    nodes = [{"name": "a", "op": "placeholder", "shape": [2, 1, 3, 4], "dtype": "float32"},
             {"name": "b", "op": "placeholder", "shape": [5, 3, 4], "dtype": "float32"},
             {"name": "y", "op": "matmul", "inputs": ["a", "b"],
              "attrs": {"transpose_a": True, "transpose_b": False}}]
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, (2, 1, 3, 4)).astype(np.float32)
    b = rng.integers(-3, 4, (5, 3, 4)).astype(np.float32)
    g = rng.integers(-3, 4, (2, 5, 4, 4)).astype(np.float32)
    da, db = _grads(nodes, {"a": a, "b": b}, "y", ["a", "b"], dialect, g)
    # small integers: every float32 sum is exact
    _eq(da, np.einsum("nkj,bnij->bki", b, g)[:, None])
    _eq(db, np.einsum("bki,bnij->nkj", a[:, 0], g))


# -- grad_ys / sens must match exactly -------------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("bad", [np.ones(2, np.float32), np.ones((3, 1), np.float32),
                                 np.ones(3, np.float64), np.float32(1.0)])
def test_grad_y_must_match_exactly(bad: np.ndarray, dialect: str) -> None:
    graph = Graph.build([_ph("x", 3), {"name": "y", "op": "exp", "inputs": ["x"]}])
    with pytest.raises(EngineError) as info:
        compute_gradients(graph, {"x": np.zeros(3, np.float32)}, ["y"], ["x"],
                          [np.asarray(bad)], dialect=dialect)
    assert info.value.loc == ("grad_ys", 0)


def test_case_loader_decodes_every_tensor_form() -> None:
    import base64

    from .cases import tensor

    nested = tensor([["NaN", "Infinity"], ["-Infinity", 1.5]])
    assert nested.dtype == np.float32 and np.isnan(nested[0, 0])
    np.testing.assert_array_equal(nested[1:], [[-INF, 1.5]])
    typed = tensor({"dtype": "INT32", "shape": [2, 2], "data": [1, 2, 3, 4]})
    assert typed.dtype == np.int32 and typed.tolist() == [[1, 2], [3, 4]]
    raw = np.array([1.25, -2.0, 3.5], "<f8").tobytes()
    b64 = tensor({"dtype": "FP64", "shape": [3], "b64": base64.b64encode(raw).decode()})
    np.testing.assert_array_equal(b64, [1.25, -2.0, 3.5])
    assert tensor(2, "float64").dtype == np.float64
    with pytest.raises(EngineError):
        tensor([[1.0, 2.0], [3.0]])


# -- softmax cross-entropy with labels that do not sum to one; relu6's second order ------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_xent_gradient_is_the_kernel_backprop(dialect: str) -> None:
    """Both libraries give the logits g * (softmax - labels), whatever the labels sum to;
    the labels get -g log_softmax(logits) in TensorFlow, zeros in MindSpore."""
    labels, logits = [[0.0, 2.0, 1.0]], [[0.5, -1.0, 2.0]]
    nodes = [{"name": "t", "op": "placeholder", "shape": [1, 3], "dtype": "float32"},
             {"name": "z", "op": "placeholder", "shape": [1, 3], "dtype": "float32"},
             {"name": "x", "op": "softmax_cross_entropy_with_logits", "inputs": ["t", "z"]}]
    d_labels, d_logits = _grads(nodes, {"t": labels, "z": logits}, "x", ["t", "z"],
                                dialect, [3.0])
    z = np.asarray(logits[0])
    log_p = z - math.log(float(np.exp(z).sum()))
    np.testing.assert_allclose(d_logits, [3.0 * (np.exp(log_p) - labels[0])], rtol=1e-6)
    want_labels = -3.0 * log_p if dialect == "tensorflow" else np.zeros(3)
    np.testing.assert_allclose(d_labels, [want_labels], rtol=1e-6)


def test_relu6_second_derivative_is_connected_zeros() -> None:
    """TensorFlow's Relu6Grad has the gradient zeros_like(x) in x: connected, not null."""
    graph = Graph.build([{"name": "x", "op": "placeholder", "shape": [5], "dtype": "float64"},
                         {"name": "r", "op": "relu6", "inputs": ["x"]}])
    feeds = {"x": np.array([-1.0, 0.0, 3.0, 6.0, 7.0])}
    first = compute_gradients(graph, feeds, ["r"], ["x"], return_graph=True)
    assert first.graph is not None and first.gradient_nodes is not None
    (second,) = compute_gradients(first.graph, feeds, [first.gradient_nodes[0]], ["x"]).gradients
    np.testing.assert_array_equal(second, np.zeros(5))


# -- the v2 ops' rows (recorded in both libraries: tests/peers/cases/v2_ops_*.json) ------------

def _three(op: str, t: list[float], lo: float, hi: float, dialect: str) -> list[Any]:
    nodes = [_ph("t", len(t)), {"name": "lo", "op": "placeholder", "shape": []},
             {"name": "hi", "op": "placeholder", "shape": []},
             {"name": "c", "op": op, "inputs": ["t", "lo", "hi"]}]
    return _grads(nodes, {"t": t, "lo": lo, "hi": hi}, "c", ["t", "lo", "hi"], dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_clip_by_value_at_its_bounds(dialect: str) -> None:
    dt, dlo, dhi = _three("clip_by_value", [-1.0, 0.0, 0.5, 1.0, 2.0], 0.0, 1.0, dialect)
    if dialect == "tensorflow":  # t gets it on [lo, hi]; a bound only strictly beyond it
        _eq(dt, [0, 1, 1, 1, 0])
        _eq([dlo, dhi], [1, 1])
    else:  # minimum(maximum(t, lo), hi), each tie split in halves
        _eq(dt, [0, 0.5, 1, 0.5, 0])
        _eq([dlo, dhi], [1.5, 1.5])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_guarded_ops_at_zero(dialect: str) -> None:
    dx, dy = _binary("div_no_nan", [2.0, NAN, 0.0], [0.0, 0.0, 0.0], dialect)
    _eq(dx, [0, 0, 0])
    _eq(dy, [0, 0, 0])
    dx, dy = _binary("mul_no_nan", [NAN, INF, 2.0], [0.0, 0.0, 0.0], dialect)
    _eq(dx, [0, 0, 0])
    _eq(dy, [NAN, INF, 2.0])
    dx, dy = _binary("xlogy", [0.0, 0.0, NAN], [3.0, 0.0, 0.0], dialect)
    if dialect == "tensorflow":  # xlogy(x != 0, y) and xdivy(x, y)
        _eq(dx, [0, 0, -INF])
        _eq(dy, [0, 0, NAN])
    else:  # log(y) except at x = y = 0; x / y with -inf for NaN / 0
        _eq(dx, [math.log(3.0), 0, -INF])
        _eq(dy, [0, NAN, -INF])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_cumprod_at_a_zero(dialect: str) -> None:
    nodes = [{"name": "x", "op": "placeholder", "shape": [1, 3], "dtype": "float32"},
             {"name": "y", "op": "cumprod", "inputs": ["x"], "attrs": {"axis": 1}}]
    (dx,) = _grads(nodes, {"x": [[1.0, 0.0, 3.0]]}, "y", ["x"], dialect)
    # cumsum(y g, reversed) / x = [1, 0, 0] / x: div_no_nan (TF) or plain division
    _eq(dx, [[1.0, 0.0, 0.0]] if dialect == "tensorflow" else [[1.0, NAN, 0.0]])


@pytest.mark.parametrize("op", ["floor_div", "truncate_div"])
def test_floor_and_truncate_div_have_no_gradient_floor_mod_has(op: str) -> None:
    nodes = [_ph("a", 2), _ph("b", 2), {"name": "z", "op": op, "inputs": ["a", "b"]}]
    feeds = {"a": [7.0, -7.5], "b": [2.0, 2.0]}
    assert _grads(nodes, feeds, "z", ["a", "b"], "tensorflow") == [None, None]
    for g in _grads(nodes, feeds, "z", ["a", "b"], "mindspore", unconnected="zero"):
        _eq(g, [0, 0])  # GradOperation's unconnected zeros
    for dialect in DIALECTS:
        dx, dy = _binary("floor_mod", [7.0, -7.5], [2.0, 2.0], dialect)
        _eq(dx, [1, 1])
        _eq(dy, [-3, 4])  # -floor(x / y)
