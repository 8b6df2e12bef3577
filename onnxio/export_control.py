"""cond and while_loop (gradient graphs carry them) as ONNX If and Loop.

A subgraph of ours takes outside values as inputs; an ONNX one reads the outer graph's
names. So a branch or body is written with its placeholders bound to the outer names of
the node's operands, under a prefix (ONNX names in a subgraph may not shadow outer ones).

- cond: If on the predicate, each branch its graph's nodes, outputs through Identities.
- while_loop: Loop with trip count ``maximum_iterations`` and the first condition
  computed outside (our loop tests ``cond`` before each iteration; ONNX's Loop reads the
  condition given, then the one its body answers: the body answers ``cond`` of the new
  variables). Stacked (a differentiated loop): an int32 counter rides along, each variable
  entering an iteration is a scan output, and so is each saved value of the body (the
  residuals its VJP reads, or a backward loop's gather cotangents, saved alone), padded
  with zero rows to ``maximum_iterations`` as our rows are.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onnx import TensorProto, helper

from engine.graph import Graph
from engine.ops.control import first_saved
from engine.ops.registry import TensorSpec

from .export_ops import Out, exports, value_info

_INT, _BOOL = TensorSpec((), "int64"), TensorSpec((), "bool")


def _written(o: Out, into: Out, sub: Graph, bound: Sequence[str], prefix: str,
             ) -> list[str]:
    """``sub``'s nodes written into ``into``, its inputs bound to ``bound``; its outputs."""
    from .exporter import write

    saved = o.node, o.ins, o.in_specs
    value = {(name, 0): b for name, b in zip(sub.inputs, bound, strict=True)}
    value = write(sub, list(sub.outputs), into, value, None, prefix)
    o.node, o.ins, o.in_specs = saved
    return [value[r] for r in sub.outputs]


def _locals(inner: Out, names: Sequence[str], specs: Sequence[Any], prefix: str,
            ) -> list[Any]:
    """Subgraph outputs under names of their own (an output may be an outer name)."""
    infos = []
    for k, (name, spec) in enumerate(zip(names, specs, strict=True)):
        local = f"{prefix}out{k}"
        inner.nodes.append(helper.make_node("Identity", [name], [local], name=local))
        infos.append(value_info(local, spec))
    return infos


def _listed(got: Any) -> list[str]:
    return list(got) if isinstance(got, list) else [got]


@exports("cond")
def _cond(o: Out) -> list[str]:
    assert o.node is not None
    graphs = {}
    for attr in ("then_branch", "else_branch"):
        sub: Graph = o.attrs[attr]
        prefix = f"{o.node.name}/{attr}/"
        inner = Out(o.taken)
        outs = _written(o, inner, sub, o.ins[1:], prefix)
        infos = _locals(inner, outs, [sub.spec(r) for r in sub.outputs], prefix)
        graphs[attr] = helper.make_graph(inner.nodes, attr, [], infos,
                                         initializer=inner.initializers)
    return _listed(o.op("If", [o.ins[0]], n_out=len(o.outs), **graphs))


@exports("while_loop")
def _while_loop(o: Out) -> list[str]:
    assert o.node is not None
    n, limit = o.attrs["loop_vars"], o.attrs["maximum_iterations"]
    stacked = o.attrs["stacked"]
    cond: Graph = o.attrs["cond"]
    body: Graph = o.attrs["body"]
    base = f"{o.node.name}/"
    invariants, specs = o.ins[n:], o.in_specs[:n]
    values = [TensorSpec(s.shape[1:], s.dtype) for s in o.outs[first_saved(o.attrs):]]  # saved
    (first,) = _written(o, o, cond, o.ins, base + "cond0/")
    inner = Out(o.taken)
    step, go = base + "body/iteration", base + "body/condition"
    carried = [f"{base}body/var{k}" for k in range(n)]
    new = _written(o, inner, body, [*carried, *invariants], base + "body/")
    new, kept = new[:n], new[n:]  # the loop variables, then the body's saved values
    (again,) = _written(o, inner, cond, [*new, *invariants], base + "body/cond/")
    outs, out_specs = [again, *new], [cond.spec(cond.outputs[0]), *specs]
    ins = [value_info(step, _INT), value_info(go, _BOOL),
           *(value_info(name, s) for name, s in zip(carried, specs))]
    loop_ins = [o.const(limit), first, *o.ins[:n]]
    rowed = specs if stacked else []  # (a loop that only saves values stacks no variable)
    if stacked or kept:
        count = base + "body/count"
        ins.append(value_info(count, TensorSpec((), "int32")))
        outs.append(inner.op("Add", [count, inner.const(1, "int32")]))
        outs += [*carried[:len(rowed)], *kept]  # each variable entering the iteration
        out_specs += [TensorSpec((), "int32"), *rowed, *values]
        loop_ins.append(o.const(0, "int32"))
    infos = _locals(inner, outs, out_specs, base + "body/")
    graph = helper.make_graph(inner.nodes, "body", ins, infos, initializer=inner.initializers)
    got = _listed(o.op("Loop", loop_ins, n_out=len(outs) - 1, body=graph))
    if not (stacked or kept):
        return got
    finals, count, rows = got[:n], got[n], got[n + 1:]
    missing = o.op("Reshape", [o.op("Sub", [o.const(limit), o.op(
        "Cast", [count], to=TensorProto.INT64)]), o.ints([1])])
    padded = []
    for row, spec in zip(rows, [*rowed, *values]):
        r = len(spec.shape)
        pads = o.op("Concat", [o.ints([0] * (r + 1)), missing, o.ints([0] * r)], axis=0)
        padded.append(o.op("Pad", [row, pads]))
    if not stacked:
        return [*finals, *padded]
    return [*finals, count, *padded]


