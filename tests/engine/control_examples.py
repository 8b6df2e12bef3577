"""The every-op sweep's examples of ``cond`` and ``while_loop`` (their subgraphs as wire
descriptions, so the sweep's round trips carry them through JSON), and the recasting of
those subgraphs to another float dtype for the float32 sweep."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .gradcheck import rand


def ph(name: str, shape: list[int], dtype: str = "float64") -> dict[str, Any]:
    return {"name": name, "op": "placeholder", "shape": shape, "dtype": dtype}


def const(name: str, value: Any, dtype: str) -> dict[str, Any]:
    return {"name": name, "op": "constant", "value": value, "dtype": dtype}


def node(name: str, op: str, *inputs: str, **attrs: Any) -> dict[str, Any]:
    return {"name": name, "op": op, "inputs": list(inputs), "attrs": attrs}


def graph(nodes: list[dict[str, Any]], inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {"nodes": nodes, "inputs": inputs, "outputs": outputs}


def _branches() -> dict[str, Any]:
    """then: (sin(a) * b, exp(b) + a*a); else: (b * b, tanh(b) * 2): the else branch ignores
    a, whose gradient there is zeros."""
    ins = [ph("a", [2, 3]), ph("b", [2, 3])]
    then = graph([*ins, node("sa", "sin", "a"), node("o0", "mul", "sa", "b"),
                  node("eb", "exp", "b"), node("aa", "mul", "a", "a"),
                  node("o1", "add", "eb", "aa")], ["a", "b"], ["o0", "o1"])
    other = graph([*ins, const("two", 2.0, "float64"), node("o0", "mul", "b", "b"),
                   node("tb", "tanh", "b"), node("o1", "mul", "tb", "two")],
                  ["a", "b"], ["o0", "o1"])
    return {"then_branch": then, "else_branch": other}


def _loop(limit: int, *, stacked: bool = False, saved: bool = False,
          alone: bool = False) -> dict[str, Any]:
    """(i, x) -> (i + 1, tanh(x * w + x) + c) while i < 3; w an invariant; c a constant.
    ``saved``: the tanh also stacked per iteration (a residual, as gradients keep it);
    ``alone``: and the loop variables not (as a backward loop saves its gathers' rows)."""
    ins = [ph("i", [], "int32"), ph("x", [2]), ph("w", [2])]
    cond = graph([*ins, const("three", 3, "int32"), node("go", "less", "i", "three")],
                 ["i", "x", "w"], ["go"])
    body = graph([*ins, const("one", 1, "int32"), const("c", [0.1, -0.2], "float64"),
                  node("i1", "add", "i", "one"), node("xw", "mul", "x", "w"),
                  node("s", "add", "xw", "x"), node("t", "tanh", "s"),
                  node("x1", "add", "t", "c")], ["i", "x", "w"],
                 ["i1", "x1", *(["t"] if saved else [])])
    return {"loop_vars": 2, "cond": cond, "body": body, "maximum_iterations": limit,
            "stacked": stacked or (saved and not alone), "saved": int(saved)}


def _gathering_loop(axis: int, batch_dims: int) -> dict[str, Any]:
    """(i, x) -> (i + 1, tanh(x * w + xs_i + xs_{i+1})) while i < 3, xs an invariant read
    only by gathers (the RNN's x_t): its cotangent is stacked rows and one gather_grad
    after the backward loop. ``axis`` 0: xs [4, 2], rows xs[i]; 1: xs [2, 4], rows
    xs[:, i], with ``batch_dims`` 1 each batch's own index (i, i)."""
    ins = [ph("i", [], "int32"), ph("x", [2]), ph("w", [2]),
           ph("xs", [4, 2] if axis == 0 else [2, 4])]
    names = ["i", "x", "w", "xs"]
    cond = graph([*ins, const("three", 3, "int32"), node("go", "less", "i", "three")],
                 names, ["go"])
    at = [const("pair", [0, 0], "int32"), node("ii", "add", "pair", "i"),
          node("jj", "add", "pair", "i1")] if batch_dims else []
    i, j = ("ii", "jj") if batch_dims else ("i", "i1")
    body = graph([*ins, const("one", 1, "int32"), node("i1", "add", "i", "one"), *at,
                  node("a", "gather", "xs", i, axis=axis, batch_dims=batch_dims),
                  node("b", "gather", "xs", j, axis=axis, batch_dims=batch_dims),
                  node("xw", "mul", "x", "w"), node("s", "add", "xw", "a"),
                  node("s2", "add", "s", "b"), node("x1", "tanh", "s2")], names, ["i1", "x1"])
    return {"loop_vars": 2, "cond": cond, "body": body, "maximum_iterations": 5}


def control_flow_examples(ex: Any) -> dict[str, list[Any]]:
    """``ex`` is op_examples' Example maker."""
    a, b = rand(2, 3, seed=31), rand(2, 3, seed=32)
    x, w = np.array([0.7, -0.4]), np.array([0.9, 1.3])
    i0 = np.array(0, dtype=np.int32)
    conds = [ex("cond", np.array(pred), a, b, attrs=_branches(), wrt=(1, 2), out=k,
                tag=f"{'then' if pred else 'else'}-out{k}")
             for pred in (True, False) for k in (0, 1)]
    loops = [ex("while_loop", i0, x, w, attrs=_loop(10), wrt=(1, 2), out=1,
                tag="bounded-by-cond"),
             ex("while_loop", i0, x, w, attrs=_loop(2), wrt=(1, 2), out=1,
                tag="bounded-by-maximum-iterations"),
             ex("while_loop", i0, x, w, attrs=_loop(5, stacked=True), wrt=(1, 2), out=4,
                tag="stacked-rows"),
             ex("while_loop", i0, x, w, attrs=_loop(5, saved=True), wrt=(1, 2), out=5,
                tag="saved-values"),
             ex("while_loop", i0, x, w, attrs=_loop(5, saved=True, alone=True), wrt=(1, 2),
                out=2, tag="saved-values-alone"),
             ex("while_loop", i0, x, w, rand(4, 2, seed=33), attrs=_gathering_loop(0, 0),
                wrt=(1, 2, 3), out=1, tag="gathered-invariant"),
             ex("while_loop", i0, x, w, rand(2, 4, seed=34), attrs=_gathering_loop(1, 0),
                wrt=(1, 2, 3), out=1, tag="gathered-invariant-axis-1"),
             ex("while_loop", i0, x, w, rand(2, 4, seed=35), attrs=_gathering_loop(1, 1),
                wrt=(1, 2, 3), out=1, tag="gathered-invariant-batch-dims")]
    return {"cond": conds, "while_loop": loops}


def recast(attrs: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    """Attrs whose subgraph descriptions have their float64 leaves in ``dtype``."""
    def walk(v: Any) -> Any:
        if isinstance(v, Mapping) and "nodes" in v:
            return {**v, "nodes": [leaf(n) for n in v["nodes"]]}
        return v

    def leaf(n: Mapping[str, Any]) -> dict[str, Any]:
        n = dict(n)
        if n.get("dtype") == "float64":
            n["dtype"] = dtype
        if "attrs" in n:
            n["attrs"] = {k: walk(v) for k, v in n["attrs"].items()}
        return n

    return {k: walk(v) for k, v in attrs.items()}
