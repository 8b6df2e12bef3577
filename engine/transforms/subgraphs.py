"""The derivative rules of ``cond`` and ``while_loop`` (``engine/ops/control.py``): each
builds new subgraphs with the engine's own transforms (reverse mode, forward mode, vmap)
and emits a control-flow node that carries them, so a derivative is again a graph of
cond / while_loop nodes and can be differentiated, batched or posted back in turn.

Reverse mode follows TensorFlow's v2 control flow:

- ``cond``: a cond on the same predicate whose branches are the branches' gradient
  graphs (inputs: the operands, then the outputs' cotangents; outputs: one cotangent per
  differentiable operand, zeros where the branch does not use it).
- ``while_loop``: the forward loop itself with ``stacked`` (each loop variable per
  iteration, and the iteration count: ``gradients`` sets it on the loops it differentiates,
  so one forward run serves both values and gradient), and a loop running backwards over
  the n rows, like the transpose of JAX's scan: loop variables
  ``[k, *g_carry, *g_invariants]``, invariants
  ``[n, *rows, *saved rows, *invariants, *row cotangents, *saved rows' cotangents]``; its
  body takes row ``n - 1 - k``, runs the body's VJP there, adds that row's cotangent
  (when the rows themselves were differentiated, as a second derivative does) and sums
  the invariants' cotangents. The forward loop also stacks the residuals (``saved``: the
  body's values its VJPs read that cost to recompute, ``with_residuals`` decides which),
  and the backward body gathers them at its row instead of running the forward body
  again (JAX's scan saves its residuals the same way). An invariant the body reads only
  by gathers (an RNN's x_t = gather(xs, t), ``_gathered`` decides) gets no running sum,
  which would cost a zeros-the-size-of-xs gather_grad per iteration: the backward loop
  saves each iteration's gather cotangent and indices (``saved`` without ``stacked``: it
  keeps no rows of its own loop variables, which would cost O(T * carry) memory) and
  one gather_grad after it adds them all back (JAX's scan transposes its scanned xs into
  rows so). Differentiating such a loop again runs it once more, stacked (``gradients``
  stacks only loops that save nothing yet: stacking moves the saved outputs).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import fn as F
from ..autodiff import carries, gradients
from ..builder import GraphBuilder, Tensor
from ..dtypes import is_floating
from ..errors import EngineError
from ..graph import Graph, Ref, format_ref, rewired
from ..ops import registry
from ..ops.contexts import BatchContext, JVPContext, VJPContext, move_axis
from ..ops.control import first_saved
from ..ops.gathering import gather_axes
from ..ops.registry import TensorSpec
from ..plan import _needed as needed_by
from ..shapes import is_static
from .vmap import broadcast_batch


def inlined(b: GraphBuilder, sub: Graph, args: Sequence[Tensor]) -> dict[Ref, Tensor]:
    """``sub``'s nodes emitted into ``b`` with its inputs bound to ``args``: each of its
    refs' tensor in ``b``."""
    env: dict[Ref, Tensor] = {(name, 0): t for name, t in zip(sub.inputs, args, strict=True)}
    for node in sub.nodes:
        if node.op == "placeholder":
            continue
        if node.op == "constant":
            env[(node.name, 0)] = b.constant(node.value, node.spec.dtype)
            continue
        out = b.emit(node.op, [env[r] for r in node.inputs], node.attrs)
        for k, t in enumerate(out if isinstance(out, tuple) else (out,)):
            env[(node.name, k)] = t
    return env


def inline(b: GraphBuilder, sub: Graph, args: Sequence[Tensor]) -> list[Tensor]:
    """``sub``'s nodes emitted into ``b`` with its inputs bound to ``args``; its outputs."""
    env = inlined(b, sub, args)
    return [env[r] for r in sub.outputs]


def pruned(graph: Graph, inputs: Sequence[str], outputs: Sequence[Ref]) -> Graph:
    """A subgraph of just what its outputs need (and its inputs, which stay listed)."""
    needed = needed_by(graph, outputs) | set(inputs)
    return Graph([n for n in graph.nodes if n.name in needed], inputs, outputs)


def _placeholders(b: GraphBuilder, stem: str, specs: Sequence[TensorSpec]) -> list[Tensor]:
    return [b.placeholder(b.unused(f"{stem}{i}"), s.shape, s.dtype) for i, s in enumerate(specs)]


def _specs(ts: Sequence[Tensor]) -> list[TensorSpec]:
    return [t.spec for t in ts]


# -- cond --------------------------------------------------------------------------------------

def _branch_vjp(sub: Graph, wrt: Sequence[int], cot: Sequence[int], dialect: str) -> Graph:
    """Graph of (*sub inputs, *cotangents of outputs ``cot``) -> cotangents of inputs
    ``wrt`` (zeros where unconnected)."""
    b = GraphBuilder(sub)
    gs = _placeholders(b, "g", [sub.spec(sub.outputs[k]) for k in cot])
    extended = b.finish()
    inputs = (*sub.inputs, *(g.name for g in gs))
    grads = gradients(Graph(extended.nodes, inputs, extended.outputs),
                      [sub.outputs[k] for k in cot], [(sub.inputs[i], 0) for i in wrt],
                      [g.ref for g in gs], unconnected="zero", dialect=dialect)
    return pruned(grads.graph, inputs, [g for g in grads.grads if g is not None])


def cond_vjp(c: VJPContext) -> list[Any]:
    operands = c.inputs[1:]
    wrt = [i for i, t in enumerate(operands) if carries(t.dtype, c.dialect)]
    cot = [k for k, o in enumerate(c.outputs) if carries(o.dtype, c.dialect) and c.given[k]]
    if not wrt or not cot:
        return [None] * len(c.inputs)
    branches = {a: _branch_vjp(c.attrs[a], wrt, cot, c.dialect)
                for a in ("then_branch", "else_branch")}
    out = c.a.builder.emit("cond", [c.a, *operands, *(c.gs[k] for k in cot)], branches)
    grads: list[Any] = [None] * len(c.inputs)
    for j, i in enumerate(wrt):
        grads[1 + i] = out[j]
    return grads


# -- while_loop ----------------------------------------------------------------------------------

def _differentiable(specs: Sequence[TensorSpec], n: int, dialect: str
                    ) -> tuple[list[int], list[int]]:
    """The loop variables and the invariants that carry cotangents."""
    return ([j for j, t in enumerate(specs[:n]) if carries(t.dtype, dialect)],
            [j for j, t in enumerate(specs[n:]) if carries(t.dtype, dialect)])


@dataclass(frozen=True)
class _Gathered:
    """A gather in the body reading an invariant (its params, at position ``invariant``
    among the invariants): the backward loop answers, per iteration, the cotangent of its
    output and its indices as saved values; one gather_grad after the loop adds them all
    back (``_scattered``)."""

    invariant: int  # position among the invariants
    axis: int
    batch_dims: int


def _gathered(body: Graph, n: int, summed: Sequence[int], env: dict[Ref, Tensor]
              ) -> dict[Ref, _Gathered]:
    """The one place deciding which invariants' cotangents are stacked rows instead of a
    running sum (JAX's scan transposes its scanned xs so): those the body reads only as
    the params of gathers whose outputs and indices have static shapes (a saved value's)
    and whose gathered axis is static and not empty (rows past the iteration count add
    zeros at index 0). A running sum there is a zeros-the-size-of-xs gather_grad and an
    add per iteration, O(T * |xs|) in all; the rows are O(T * row). Each qualifying
    gather by its output's ref (in ``env``, the body inlined in the backward body)."""
    names = {body.inputs[n + j]: j for j in summed}
    refused = {r[0] for r in body.outputs if r[0] in names}
    found: dict[Ref, _Gathered] = {}
    for node in body.nodes:
        for pos, r in enumerate(node.inputs):
            if r[0] not in names:
                continue
            if node.op != "gather" or pos != 0:
                refused.add(r[0])
                continue
            params, indices = env[r].spec, env[node.inputs[1]].spec
            out = env[(node.name, 0)].spec
            axis, bd = gather_axes(node.attrs, len(params.shape), len(indices.shape))
            if not (is_static(out.shape) and is_static(indices.shape) and params.shape[axis]):
                refused.add(r[0])  # (a gathered axis None or 0)
                continue
            found[(node.name, 0)] = _Gathered(names[r[0]], axis, bd)
    return {r: g for r, g in found.items() if body.inputs[n + g.invariant] not in refused}


def _scattered(rows: Tensor, indices: Tensor, like: Tensor, g: _Gathered) -> Tensor:
    """The cotangent of ``like`` from a gather's stacked output cotangents ``rows``
    ([maximum_iterations, *output]) at its stacked ``indices`` ([maximum_iterations,
    *indices]): one gather_grad whose indices have the iteration axis as their first
    non-batch axis, and whose rows have it where the gathered axis was."""
    return F.gather_grad(move_axis(rows, 0, g.axis), move_axis(indices, 0, g.batch_dims),
                         like, axis=g.axis, batch_dims=g.batch_dims)


def _backward_loop(attrs: Any, specs: Sequence[TensorSpec], kept_specs: Sequence[TensorSpec],
                   dialect: str, carried: list[int], summed: list[int], row_cots: list[int],
                   kept_cots: list[int]
                   ) -> tuple[Graph, Graph, dict[Ref, TensorSpec], list[_Gathered]]:
    """The backward loop's cond and body (see the module docstring), the forward values
    its body recomputes and its VJPs read (the body's refs and their specs), and the
    gathers (``_gathered``) whose output cotangents and indices its body answers as
    saved values (in pairs, after its loop variables) where the other summed invariants
    have running sums. The body reads the saved values (the body's outputs after the
    loop variables' and their rows ``kept_specs``) at its row instead of computing them
    again."""
    n, body = attrs["loop_vars"], attrs["body"]
    limit = attrs["maximum_iterations"]
    lv, inv = specs[:n], specs[n:]
    b = GraphBuilder(prefix="bwd")
    k = b.placeholder("k", [], "int32")
    g_carry = _placeholders(b, "g_carry", [lv[j] for j in carried])
    g_sums = _placeholders(b, "g_inv", [inv[j] for j in summed])  # those not running unused
    count = b.placeholder("count", [], "int32")
    rows = _placeholders(b, "rows", [TensorSpec((limit, *t.shape), t.dtype) for t in lv])
    kept_rows = _placeholders(b, "kept", kept_specs)
    invariants = _placeholders(b, "inv", inv)
    g_rows = _placeholders(b, "g_rows", [rows[j].spec for j in row_cots])
    g_kept = _placeholders(b, "g_kept", [kept_rows[i].spec for i in kept_cots])
    go = F.less(k, count)
    at = F.maximum(count - 1 - k, b.constant(0, "int32"))  # >= 0 for examples done (vmap)
    here = [F.gather(r, at, axis=0) for r in rows]
    kept = [F.gather(r, at, axis=0) for r in kept_rows]
    env = inlined(b, body, [*here, *invariants])
    gathers = _gathered(body, n, summed, env)
    stacked = {g.invariant for g in gathers.values()}
    running = [j for j in summed if j not in stacked]
    g_inv = [g for j, g in zip(summed, g_sums, strict=True) if j not in stacked]
    inputs = [t.name for t in (k, *g_carry, *g_inv, count, *rows, *kept_rows, *invariants,
                               *g_rows, *g_kept)]
    new = [env[r] for r in body.outputs]
    seeds = [*g_carry, *(F.gather(g, at, axis=0) for g in g_kept)]
    forward = b.finish(outputs=[go], inputs=inputs)
    cond = pruned(forward, inputs, [go.ref])
    grads = gradients(forward, [new[j].ref for j in (*carried, *(n + i for i in kept_cots))],
                      [here[j].ref for j in carried] + [invariants[j].ref for j in running]
                      + [env[r].ref for r in gathers],
                      [g.ref for g in seeds], unconnected="zero", dialect=dialect,
                      name="bwd_grad")
    b2 = GraphBuilder(grads.graph, prefix="bwd_step")
    step = [b2.tensor(g) for g in grads.grads]  # type: ignore[arg-type]
    by_row = dict(zip(row_cots, g_rows, strict=True))
    out = [b2.tensor(k.ref) + 1]
    for i, j in enumerate(carried):
        g = step[i]
        out.append(g + F.gather(b2.tensor(by_row[j].ref), b2.tensor(at.ref), axis=0)
                   if j in by_row else g)
    for i, _ in enumerate(running):
        out.append(b2.tensor(g_inv[i].ref) + step[len(carried) + i])
    for i, r in enumerate(gathers):  # each iteration's gather cotangent, and where it goes
        out += [step[len(carried) + len(running) + i],
                b2.tensor(env[body.by_name[r[0]].inputs[1]].ref)]
    done = b2.finish()
    saved = {new[n + i].ref: t.ref for i, t in enumerate(kept)}  # read, not recomputed
    outputs = [saved.get(t.ref, t.ref) for t in out]
    step_body = pruned(Graph([rewired(node, saved) for node in done.nodes], inputs, outputs),
                       inputs, outputs)
    recomputed = {t.ref: r for r, t in env.items()
                  if body.by_name[r[0]].op not in ("placeholder", "constant")}
    names = {r[0] for r in recomputed}
    reads = {recomputed[r] for node in step_body.nodes if node.name not in names
             for r in node.inputs if r in recomputed}
    reads |= {recomputed[r] for r in step_body.outputs if r in recomputed}
    return (cond, step_body, {r: t.spec for r, t in env.items() if r in reads},
            list(gathers.values()))


def _free(body: Graph, n: int) -> set[str]:
    """The body's nodes whose values the backward body recomputes for nothing: leaves,
    what reads only invariants and constants (hoisted out of the backward loop, run once),
    and copies of such values or of the rows: an op that only ``moves`` values (the RNN
    body's x_t = gather(xs, t)) costs to redo what reading a saved row would."""
    steady = set(body.inputs[n:])
    free = set(body.inputs)
    for node in body.nodes:
        ins = {r[0] for r in node.inputs}
        if node.op == "placeholder":
            free.add(node.name)
        elif node.op == "constant" or ins <= steady:
            steady.add(node.name)
            free.add(node.name)
        elif ins <= free and registry.get(node.op).moves:
            free.add(node.name)
    return free


def with_residuals(attrs: Any, specs: Sequence[TensorSpec], dialect: str) -> dict[str, Any]:
    """A while_loop's attrs for a forward run that its VJP reads from (the one place
    deciding what a loop keeps): ``stacked`` (each loop variable per iteration), and as
    ``saved`` body outputs the residuals, the body's values its VJPs read that cost to
    recompute (TensorFlow's while_v2 accumulates them, JAX's scan saves them), each
    with a static shape, so the backward body gathers them at its row."""
    n, body = attrs["loop_vars"], attrs["body"]
    stacked = {**attrs, "stacked": True}
    carried, summed = _differentiable(specs, n, dialect)
    if not carried or attrs["saved"]:
        return stacked
    _, _, reads, _ = _backward_loop(stacked, specs, [], dialect, carried, summed, [],
                                    [])
    free = _free(body, n)
    keep = [r for r, spec in reads.items() if r[0] not in free and is_static(spec.shape)]
    if not keep:
        return stacked
    return {**stacked, "saved": len(keep),
            "body": Graph(body.nodes, body.inputs, [*body.outputs, *keep])}


def while_vjp(c: VJPContext) -> list[Any]:
    n = c.attrs["loop_vars"]
    specs = [t.spec for t in c.inputs]
    carried, summed = _differentiable(specs, n, c.dialect)
    if not carried:
        return [None] * len(c.inputs)
    first = first_saved(c.attrs)
    kept_cots = [i for i, t in enumerate(c.outputs[first:])
                 if c.given[first + i] and carries(t.dtype, c.dialect)]
    attrs, row_cots = c.attrs, []
    if attrs["stacked"]:
        outs = c.outputs
        row_cots = [j for j in carried if c.given[n + 1 + j]]
    else:  # gradients() stacks the loops it differentiates, not those that save values
        attrs = with_residuals(attrs, specs, c.dialect)  # (a backward loop): run again
        outs = c.apply(*c.inputs, **attrs)
    count, rows, kept = outs[n], outs[n + 1:2 * n + 1], outs[2 * n + 1:]
    cond, body, _, gathers = _backward_loop(attrs, specs, _specs(kept), c.dialect, carried,
                                            summed, row_cots, kept_cots)
    rowed = {g.invariant for g in gathers}
    running = [j for j in summed if j not in rowed]
    b = c.a.builder
    start = [b.constant(0, "int32"), *(c.gs[j] for j in carried),
             *(F.zeros_like(c.inputs[n + j]) for j in running)]
    cots = [*(c.gs[n + 1 + j] for j in row_cots), *(c.gs[first + i] for i in kept_cots)]
    out = b.emit("while_loop", [*start, count, *rows, *kept, *c.inputs[n:], *cots], {
        "loop_vars": len(start), "cond": cond, "body": body,
        "maximum_iterations": attrs["maximum_iterations"], "saved": 2 * len(gathers)})
    grads: list[Any] = [None] * len(c.inputs)
    for i, j in enumerate(carried):
        grads[j] = out[1 + i]
    for i, j in enumerate(running):
        grads[n + j] = out[1 + len(carried) + i]
    pairs = out[len(start):]
    for i, g in enumerate(gathers):
        total = _scattered(pairs[2 * i], pairs[2 * i + 1], c.inputs[n + g.invariant], g)
        j = n + g.invariant
        grads[j] = total if grads[j] is None else grads[j] + total
    return grads


# -- forward mode ----------------------------------------------------------------------------

def _with_inputs(sub: Graph, specs: Sequence[TensorSpec], stem: str) -> tuple[Graph, list[str]]:
    """``sub`` with new placeholders (unused by its nodes) of ``specs``, and their names."""
    b = GraphBuilder(sub)
    names = [t.name for t in _placeholders(b, stem, specs)]
    extended = b.finish()
    return Graph(extended.nodes, (*sub.inputs, *names), extended.outputs), names


def _tangent_graph(sub: Graph, at: Sequence[int], outs: Sequence[int],
                   dialect: str) -> Graph:
    """(*sub inputs, *tangents of inputs ``at``) -> (*sub outputs, *tangents of outputs
    ``outs``, zeros where none flows)."""
    from .forward import jvp

    graph, names = _with_inputs(sub, [sub.by_name[sub.inputs[i]].spec for i in at], "tangent")
    tan = jvp(graph, [sub.inputs[i] for i in at], names,
              outputs=[sub.outputs[k] for k in outs], dialect=dialect)
    b = GraphBuilder(tan.graph, prefix="jvp_zeros")
    tangents = [b.tensor(r) if r is not None else F.zeros_like(b.tensor(sub.outputs[k]))
                for r, k in zip(tan.tangents, outs, strict=True)]
    return pruned(b.finish(), graph.inputs, [*sub.outputs, *(t.ref for t in tangents)])


def _reordered(graph: Graph, order: Sequence[int]) -> Graph:
    return Graph(graph.nodes, [graph.inputs[i] for i in order], graph.outputs)


def cond_jvp(c: JVPContext) -> list[Any]:
    operands = c.inputs[1:]
    at = [i for i, t in enumerate(c.tangents[1:]) if t is not None]
    outs = [k for k, o in enumerate(c.outputs) if is_floating(o.dtype)]
    if not at or not outs:
        return [None] * len(c.outputs)
    branches = {}
    for a in ("then_branch", "else_branch"):
        g = _tangent_graph(c.attrs[a], at, outs, c.dialect)
        branches[a] = Graph(g.nodes, g.inputs, g.outputs[len(c.outputs):])
    out = c.a.builder.emit("cond", [c.a, *operands, *(c.tangents[1 + i] for i in at)],
                           branches)
    tangents: list[Any] = [None] * len(c.outputs)
    for j, k in enumerate(outs):
        tangents[k] = out[j]
    return tangents


def while_jvp(c: JVPContext) -> list[Any]:
    """A loop over (loop variables, their tangents) with the invariants and theirs: every
    floating loop variable carries a tangent (it may gain one from an invariant's), and
    every floating saved value (a stacked loop's residuals) is saved with its tangent."""
    n, m = c.attrs["loop_vars"], len(c.inputs) - c.attrs["loop_vars"]
    lv, inv = c.inputs[:n], c.inputs[n:]
    carried = [j for j, t in enumerate(lv) if is_floating(t.dtype)]
    moving = [j for j in range(m) if c.tangents[n + j] is not None]
    if not carried or (all(c.tangents[j] is None for j in carried) and not moving):
        return [None] * len(c.outputs)
    saved, first = c.attrs["saved"], first_saved(c.attrs)
    kept = [i for i in range(saved) if is_floating(c.outputs[first + i].dtype)]
    at = [*carried, *(n + j for j in moving)]
    body = _tangent_graph(c.attrs["body"], at, [*carried, *(n + i for i in kept)], c.dialect)
    nt, o = len(carried), body.outputs  # (*lv, *saved, *t_lv, *t_saved) ->
    body = Graph(body.nodes, body.inputs, [  # (*lv, *t_lv, *saved, *t_saved)
        *o[:n], *o[n + saved:n + saved + nt], *o[n:n + saved], *o[n + saved + nt:]])
    cond, _ = _with_inputs(c.attrs["cond"], [c.inputs[i].spec for i in at], "tangent")
    # inputs (*lv, *inv, *t_carried, *t_moving) -> (*lv, *t_carried, *inv, *t_moving)
    order = [*range(n), *range(n + m, n + m + nt), *range(n, n + m),
             *range(n + m + nt, n + m + len(at))]
    b = c.a.builder
    t_lv = [c.tangents[j] if c.tangents[j] is not None else F.zeros_like(lv[j])
            for j in carried]
    attrs = {**c.attrs, "loop_vars": n + nt, "cond": _reordered(cond, order),
             "body": _reordered(body, order), "saved": saved + len(kept)}
    out = b.emit("while_loop", [*lv, *t_lv, *inv, *(c.tangents[n + j] for j in moving)],
                 attrs)
    tangents: list[Any] = [None] * len(c.outputs)
    for i, j in enumerate(carried):
        tangents[j] = out[n + i]
        if c.attrs["stacked"]:  # rows of the tangents follow the rows of the loop variables
            tangents[n + 1 + j] = out[n + nt + 1 + n + i]
    for q, i in enumerate(kept):  # and the saved values' tangents follow the saved values
        tangents[first + i] = out[first_saved(attrs) + saved + q]
    return tangents


# -- batching ------------------------------------------------------------------------------------

def _dependent(sub: Graph, inputs: set[int]) -> set[int]:
    """Positions of ``sub``'s outputs that depend on its inputs at positions ``inputs``."""
    down = {sub.inputs[i] for i in inputs}
    for node in sub.nodes:
        if any(src in down for src, _ in node.inputs):
            down.add(node.name)
    return {k for k, r in enumerate(sub.outputs) if r[0] in down}


def _batched(sub: Graph, mapped: set[int], size: int, outs: Sequence[int]) -> Graph:
    """``sub`` for a batch (inputs ``mapped`` with a leading batch axis); outputs ``outs``
    batched (leading axis), the others as they are (they depend on no mapped input)."""
    from .vmap import vmap

    fetch = [format_ref(sub.outputs[k]) for k in outs]
    graph, refs = vmap(sub, {sub.inputs[i]: 0 for i in mapped}, size, fetch)
    outputs = [refs[format_ref(r)] if k in outs else r for k, r in enumerate(sub.outputs)]
    return Graph(graph.nodes, graph.inputs, outputs)


def _select(b: GraphBuilder, pred: Tensor, yes: Tensor, no: Tensor) -> Tensor:
    """Per example ``yes`` where the batched ``pred`` holds, else ``no`` (batch axis 0)."""
    shape = [int(pred.shape[0]), *[1] * (yes.ndim - 1)]  # type: ignore[arg-type]
    return F.where(F.reshape(pred, shape=shape), yes, no)


def _size(c: BatchContext) -> int:
    if c.size is None:
        raise EngineError(f"vmap of {c.node.op} needs a static batch size", node=c.node.name)
    return c.size


def cond_batch(c: BatchContext) -> Any:
    """Batched operands: the branches batched. A batched predicate: both branches, then a
    per-example select (JAX's cond under vmap)."""
    size = _size(c)
    ins = [c.moved(k, 0) for k in range(len(c.inputs))]
    mapped = {k - 1 for k in range(1, len(c.inputs)) if c.axes[k] is not None}
    everything = range(len(c.outputs))
    then = _batched(c.attrs["then_branch"], mapped, size, everything)
    other = _batched(c.attrs["else_branch"], mapped, size, everything)
    if c.axes[0] is None:
        out = c.a.builder.emit("cond", ins, {"then_branch": then, "else_branch": other})
        return list(out), [0] * len(out)
    b = c.a.builder
    yes, no = inline(b, then, ins[1:]), inline(b, other, ins[1:])
    return [_select(b, ins[0], y, z) for y, z in zip(yes, no, strict=True)], [0] * len(yes)


def while_batch(c: BatchContext) -> Any:
    """The loop variables that come to depend on a batched value carry a batch axis (a
    fixed point over the body); with a predicate that varies per example, every loop
    variable does, the loop runs while any example goes on and each example's variables
    stop changing when its own predicate fails (JAX's while_loop under vmap)."""
    size = _size(c)
    n, saved = c.attrs["loop_vars"], c.attrs["saved"]
    body, cond = c.attrs["body"], c.attrs["cond"]
    invariants = {k for k in range(n, len(c.inputs)) if c.axes[k] is not None}
    carried = {k for k in range(n) if c.axes[k] is not None}
    while True:
        grown = carried | {k for k in _dependent(body, carried | invariants) if k < n}
        if grown == carried:
            break
        carried = grown
    per_example = bool(_dependent(cond, carried | invariants))
    if per_example:
        carried = set(range(n))
    kept = ({k for k in _dependent(body, carried | invariants) if k >= n}  # saved values
            if not per_example else set(range(n, n + saved)))
    b = c.a.builder
    ins = [c.moved(k, 0) if c.axes[k] is not None else
           broadcast_batch(c.inputs[k], size) if k in carried else c.inputs[k]
           for k in range(len(c.inputs))]
    mapped = carried | invariants
    new_body = _batched(body, mapped, size, sorted(carried | kept))
    new_cond = _batched(cond, mapped, size, [0] if per_example else [])
    stacked = c.attrs["stacked"]
    if not per_example:
        out = b.emit("while_loop", ins, {**c.attrs, "cond": new_cond, "body": new_body})
        axes: list[int | None] = [0 if k in carried else None for k in range(n)]
        if stacked:
            axes += [None, *(1 if k in carried else None for k in range(n))]
        return list(out), axes + [1 if k in kept else None for k in range(n, n + saved)]
    new_body, new_cond = _masked(new_body, new_cond, n, size)
    counts = b.constant(np.zeros(size, dtype=np.int32))  # each example's own iterations
    attrs = {**c.attrs, "loop_vars": n + 1, "cond": new_cond, "body": new_body}
    out = b.emit("while_loop", [*ins[:n], counts, *ins[n:]], attrs)
    if not (stacked or saved):
        return list(out[:n]), [0] * n
    own = out[n]  # rows past an example's own count are zeros, as in its own loop
    limit = c.attrs["maximum_iterations"]
    live = F.less(b.constant(np.arange(limit, dtype=np.int32).reshape(limit, 1)),
                  F.reshape(own, shape=[1, size]))
    rows = []  # after (*lv, counts), the loop's count; then the counts' rows, not answered
    for r in [*(out[n + 2:2 * n + 2] if stacked else []), *out[first_saved(attrs):]]:
        mask = F.reshape(live, shape=[limit, size, *[1] * (r.ndim - 2)])
        rows.append(F.where(mask, r, F.zeros_like(r)))
    head = [own] if stacked else []
    return [*out[:n], *head, *rows], [0] * (n + len(head)) + [1] * len(rows)


def _masked(body: Graph, cond: Graph, n: int, size: int) -> tuple[Graph, Graph]:
    """Over loop variables (*those of ``body``, each example's iteration count): each
    example's new variables where its predicate holds, else its old ones, and its count
    up by one where it holds, then the body's saved values as they are. Cond: whether
    any example's predicate holds."""
    b = GraphBuilder(prefix="vmap_mask")
    specs = [body.by_name[name].spec for name in body.inputs]
    args = _placeholders(b, "in", specs)
    count = b.placeholder(b.unused("count"), [size], "int32")
    (go,) = inline(b, cond, args)
    new = inline(b, body, args)
    out = [*(_select(b, go, y, x) for y, x in zip(new[:n], args[:n], strict=True)),
           count + F.cast(go, dtype="int32"), *new[n:]]
    inputs = [t.name for t in (*args[:n], count, *args[n:])]
    masked_body = pruned(b.finish(inputs=inputs), inputs, [t.ref for t in out])
    c2 = GraphBuilder(prefix="vmap_any")
    args2 = _placeholders(c2, "in", specs)
    count2 = c2.placeholder(c2.unused("count"), [size], "int32")
    (go2,) = inline(c2, cond, args2)
    anyone = F.greater(F.max(F.cast(go2, dtype="int32"), axis=0), c2.constant(0, "int32"))
    inputs2 = [t.name for t in (*args2[:n], count2, *args2[n:])]
    return masked_body, pruned(c2.finish(inputs=inputs2), inputs2, [anyone.ref])
