"""The derivative rules of ``cond`` and ``while_loop`` (``engine/ops/control.py``): each
builds new subgraphs with the engine's own transforms (reverse mode, forward mode, vmap)
and emits a control-flow node that carries them, so a derivative is again a graph of
cond / while_loop nodes and can be differentiated, batched or posted back in turn.

Reverse mode follows TensorFlow's v2 control flow:

- ``cond``: a cond on the same predicate whose branches are the branches' gradient
  graphs (inputs: the operands, then the outputs' cotangents; outputs: one cotangent per
  differentiable operand, zeros where the branch does not use it).
- ``while_loop``: the loop again with ``stacked`` (each loop variable per iteration, and
  the iteration count), and a loop running backwards over the n rows, like the transpose
  of JAX's scan: loop variables ``[k, *g_carry, *g_invariants]``, invariants
  ``[n, *rows, *invariants, *row cotangents]``; its body takes row ``n - 1 - k``, runs the
  body's VJP there, adds that row's cotangent (when the rows themselves were
  differentiated, as a second derivative does) and sums the invariants' cotangents.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import fn as F
from ..autodiff import carries, gradients
from ..builder import GraphBuilder, Tensor
from ..graph import Graph, Ref
from ..ops.contexts import BatchContext, JVPContext, VJPContext
from ..ops.registry import TensorSpec


def inline(b: GraphBuilder, sub: Graph, args: Sequence[Tensor]) -> list[Tensor]:
    """``sub``'s nodes emitted into ``b`` with its inputs bound to ``args``; its outputs."""
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
    return [env[r] for r in sub.outputs]


def pruned(graph: Graph, inputs: Sequence[str], outputs: Sequence[Ref]) -> Graph:
    """A subgraph of just what its outputs need (and its inputs, which stay listed)."""
    needed = set(inputs)
    stack = [r[0] for r in outputs]
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.add(n)
            stack.extend(src for src, _ in graph.by_name[n].inputs)
    needed.update(r[0] for r in outputs)
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

def _backward_loop(c: VJPContext, carried: list[int], summed: list[int],
                   row_cots: list[int]) -> tuple[Graph, Graph]:
    """The backward loop's cond and body (see the module docstring)."""
    n, body = c.attrs["loop_vars"], c.attrs["body"]
    limit = c.attrs["maximum_iterations"]
    lv, inv = c.inputs[:n], c.inputs[n:]
    b = GraphBuilder(prefix="bwd")
    k = b.placeholder("k", [], "int32")
    g_carry = _placeholders(b, "g_carry", [lv[j].spec for j in carried])
    g_inv = _placeholders(b, "g_inv", [inv[j].spec for j in summed])
    count = b.placeholder("count", [], "int32")
    rows = _placeholders(b, "rows", [TensorSpec((limit, *t.shape), t.dtype) for t in lv])
    invariants = _placeholders(b, "inv", _specs(inv))
    g_rows = _placeholders(b, "g_rows", [rows[j].spec for j in row_cots])
    inputs = [t.name for t in (k, *g_carry, *g_inv, count, *rows, *invariants, *g_rows)]
    go = F.less(k, count)
    at = count - 1 - k
    here = [F.gather(r, at, axis=0) for r in rows]
    new = inline(b, body, [*here, *invariants])
    forward = b.finish(outputs=[go], inputs=inputs)
    cond = pruned(forward, inputs, [go.ref])
    grads = gradients(forward, [new[j].ref for j in carried],
                      [here[j].ref for j in carried] + [invariants[j].ref for j in summed],
                      [g.ref for g in g_carry], unconnected="zero", dialect=c.dialect,
                      name="bwd_grad")
    b2 = GraphBuilder(grads.graph, prefix="bwd_step")
    step = [b2.tensor(g) for g in grads.grads]  # type: ignore[arg-type]
    by_row = dict(zip(row_cots, g_rows, strict=True))
    out = [b2.tensor(k.ref) + 1]
    for i, j in enumerate(carried):
        g = step[i]
        out.append(g + F.gather(b2.tensor(by_row[j].ref), b2.tensor(at.ref), axis=0)
                   if j in by_row else g)
    for i, _ in enumerate(summed):
        out.append(b2.tensor(g_inv[i].ref) + step[len(carried) + i])
    done = b2.finish()
    return cond, pruned(done, inputs, [t.ref for t in out])


def while_vjp(c: VJPContext) -> list[Any]:
    n = c.attrs["loop_vars"]
    lv, inv = c.inputs[:n], c.inputs[n:]
    carried = [j for j, t in enumerate(lv) if carries(t.dtype, c.dialect)]
    summed = [j for j, t in enumerate(inv) if carries(t.dtype, c.dialect)]
    if not carried:
        return [None] * len(c.inputs)
    if c.attrs["stacked"]:
        count, rows = c.outputs[n], c.outputs[n + 1:]
        row_cots = [j for j in carried if c.given[n + 1 + j]]
        g_rows = [c.gs[n + 1 + j] for j in row_cots]
    else:
        kept = c.apply(*c.inputs, stacked=True)
        count, rows = kept[n], kept[n + 1:]
        row_cots, g_rows = [], []
    cond, body = _backward_loop(c, carried, summed, row_cots)
    b = c.a.builder
    start = [b.constant(0, "int32"), *(c.gs[j] for j in carried),
             *(F.zeros_like(inv[j]) for j in summed)]
    out = b.emit("while_loop", [*start, count, *rows, *inv, *g_rows], {
        "loop_vars": len(start), "cond": cond, "body": body,
        "maximum_iterations": c.attrs["maximum_iterations"]})
    grads: list[Any] = [None] * len(c.inputs)
    for i, j in enumerate(carried):
        grads[j] = out[1 + i]
    for i, j in enumerate(summed):
        grads[n + j] = out[1 + len(carried) + i]
    return grads


# -- forward mode and batching: filled in below ---------------------------------------------

def cond_jvp(c: JVPContext) -> list[Any]:
    raise NotImplementedError


def while_jvp(c: JVPContext) -> list[Any]:
    raise NotImplementedError


def cond_batch(c: BatchContext) -> Any:
    raise NotImplementedError


def while_batch(c: BatchContext) -> Any:
    raise NotImplementedError
