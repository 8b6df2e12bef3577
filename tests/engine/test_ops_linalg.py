"""einsum and tensordot: forwards against numpy for each equation form (whose VJPs the
every-op sweep checks, ``op_forms.py``), second order through a composite, unknown
dimensions, and the errors that name the node."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Graph, GraphError, compute_gradients, run

from .gradcheck import check_second_order, rand
from .op_forms import EINSUM_CASES, TENSORDOT_CASES


def _build(op, shapes, attrs, dtype="float64"):
    names = [f"in{i}" for i in range(len(shapes))]
    nodes = [{"name": n, "op": "placeholder", "shape": list(s), "dtype": dtype}
             for n, s in zip(names, shapes, strict=True)]
    nodes.append({"name": "y", "op": op, "inputs": names, "attrs": attrs})
    return Graph.build(nodes), names


@pytest.mark.parametrize(("equation", "shapes"), EINSUM_CASES,
                         ids=[e for e, _ in EINSUM_CASES])
def test_einsum_forward(equation, shapes):
    arrays = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    graph, names = _build("einsum", shapes, {"equation": equation})
    (got,) = run(graph, ["y"], dict(zip(names, arrays, strict=True)))
    np.testing.assert_allclose(got, np.einsum(equation, *arrays), rtol=1e-12)
    assert graph.node("y").spec.shape == got.shape


def test_einsum_spaces_and_float32():
    a, b = rand(3, 4).astype(np.float32), rand(4, 2, seed=1).astype(np.float32)
    graph, names = _build("Einsum", [a.shape, b.shape], {"equation": " ij, jk -> ik "},
                          dtype="float32")
    (got,) = run(graph, ["y"], {"in0": a, "in1": b})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, a @ b, rtol=1e-6)
    da, db = compute_gradients(graph, {"in0": a, "in1": b}, ["y"], names).gradients
    assert da.dtype == np.float32 and db.dtype == np.float32


@pytest.mark.parametrize(("equation", "shapes", "x"), [
    ("ij,jk->ik", [(3, 4), (4, 2)], "in0"),
    ("ij,jk->ik", [(3, 4), (4, 2)], "in1"),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)], "in0"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)], "in1"),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)], "in0"),
])
def test_einsum_second_order(equation, shapes, x):
    names = [f"in{i}" for i in range(len(shapes))]
    nodes = [{"name": n, "op": "placeholder", "shape": list(s), "dtype": "float64"}
             for n, s in zip(names, shapes, strict=True)]
    nodes += [{"name": "e", "op": "einsum", "inputs": names, "attrs": {"equation": equation}},
              {"name": "t", "op": "tanh", "inputs": ["e"]},
              {"name": "y", "op": "sum", "inputs": ["t"]}]
    feeds = {n: rand(*s, seed=i, low=-1, high=1) for i, (n, s) in enumerate(
        zip(names, shapes, strict=True))}
    check_second_order(nodes, feeds, "y", x)


def test_einsum_unknown_dimensions():
    graph = Graph.build([
        {"name": "a", "op": "placeholder", "shape": [None, 3, 4], "dtype": "float64"},
        {"name": "b", "op": "placeholder", "shape": [4, None], "dtype": "float64"},
        {"name": "y", "op": "einsum", "inputs": ["a", "b"], "attrs": {"equation": "...ij,jk"}}])
    assert graph.node("y").spec.shape == (None, 3, None)
    a, b = rand(2, 3, 4), rand(4, 5, seed=1)
    (got,) = run(graph, ["y"], {"a": a, "b": b})
    np.testing.assert_allclose(got, np.einsum("...ij,jk", a, b), rtol=1e-12)
    da, db = compute_gradients(graph, {"a": a, "b": b}, ["y"], ["a", "b"]).gradients
    assert da.shape == a.shape and db.shape == b.shape


@pytest.mark.parametrize(("axes", "shapes"), TENSORDOT_CASES,
                         ids=[str(a) for a, _ in TENSORDOT_CASES])
def test_tensordot_forward(axes, shapes):
    arrays = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    graph, _ = _build("tensordot", shapes, {"axes": axes})
    (got,) = run(graph, ["y"], {"in0": arrays[0], "in1": arrays[1]})
    np_axes = axes if isinstance(axes, int) else tuple(axes)
    np.testing.assert_allclose(got, np.tensordot(*arrays, axes=np_axes), rtol=1e-12)
    assert graph.node("y").spec.shape == got.shape


def test_tensordot_second_order():
    nodes = [{"name": "a", "op": "placeholder", "shape": [3, 4], "dtype": "float64"},
             {"name": "b", "op": "placeholder", "shape": [4, 2], "dtype": "float64"},
             {"name": "t", "op": "tensordot", "inputs": ["a", "b"], "attrs": {"axes": 1}},
             {"name": "s", "op": "square", "inputs": ["t"]},
             {"name": "y", "op": "sum", "inputs": ["s"]}]
    check_second_order(nodes, {"a": rand(3, 4), "b": rand(4, 2, seed=1)}, "y", "a")


@pytest.mark.parametrize(("op", "shapes", "attrs", "fragment", "loc_tail"), [
    ("einsum", [(3, 4)], {"equation": "ii->i"}, "diagonal", ()),
    ("einsum", [(None, 3)], {"equation": "ii->i"}, "known", ()),
    ("einsum", [(3, 4)], {"equation": "ijk->i"}, "rank 2", ()),
    ("einsum", [(3, 4), (4, 5)], {"equation": "ij->i"}, "1 operand(s) but the op has 2", ()),
    ("einsum", [(3, 4), (5, 6)], {"equation": "ij,jk->ik"}, "size 4", ()),
    ("einsum", [(3, 4)], {"equation": "ij->k"}, "'k'", ()),
    ("einsum", [(2, 3, 4)], {"equation": "...ij->ij"}, "'...'", ()),
    ("einsum", [(3, 4)], {"equation": "ij->ii"}, "repeated", ()),
    ("einsum", [(3, 4)], {"equation": "i.j->i"}, "'...'", ("attrs", "equation")),
    ("einsum", [(3, 4)], {"equation": "i2->i"}, "letter", ("attrs", "equation")),
    ("tensordot", [(3, 4), (5, 6)], {"axes": 1}, "size 4", ()),
    ("tensordot", [(3, 4), (4, 6)], {"axes": 3}, "ranks", ()),
    ("tensordot", [(3, 4), (4, 6)], {"axes": [[0, 1], [0]]}, "length", ("attrs", "axes")),
    ("tensordot", [(3, 4), (4, 6)], {"axes": "x"}, "pair", ("attrs", "axes")),
])
def test_errors_name_the_node(op, shapes, attrs, fragment, loc_tail):
    names = [f"in{i}" for i in range(len(shapes))]
    nodes = [{"name": n, "op": "placeholder", "shape": list(s)}
             for n, s in zip(names, shapes, strict=True)]
    nodes.append({"name": "bad", "op": op, "inputs": names, "attrs": attrs})
    with pytest.raises(GraphError) as info:
        Graph.build(nodes)
    assert info.value.node == "bad"
    assert fragment in info.value.message
    if loc_tail:
        assert info.value.loc[-len(loc_tail):] == loc_tail


def test_integer_operands_are_refused():
    with pytest.raises(GraphError, match="int32"):
        _build("einsum", [(2, 2)], {"equation": "ij->j"}, dtype="int32")
