"""If and Loop, onto the engine's ``cond`` and ``while_loop`` (docs/ops.md#control-flow).

ONNX subgraphs read the outer graph's values by name; ours take outside values only as
inputs. So each subgraph is lowered as a graph of its own (``Ctx.subgraph``), its outer
reads become placeholders, and the node passes those tensors as operands (values known at
import stay known inside). An If whose condition is known at import (a test of static
shapes, as the TorchScript exporter writes) is still inlined: only the branch it picks.

A Loop becomes a ``while_loop`` over [iteration number, condition, loop-carried values,
scan values] bounded by the trip count M, which must be known at import (every loop of
ours is bounded). Scan outputs ride as loop variables holding the last iteration's value;
the loop runs ``stacked``, whose per-iteration rows (the variables entering each
iteration) shifted by one, with the final value appended, are ONNX's stacked scan
outputs. That needs the run-time trip count to be M exactly (a condition that stays true),
since our shapes are static; otherwise scan outputs are refused.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx

from engine.ops.registry import TensorSpec

from .import_ops import Ctx, Subgraph, onnx_op
from .scope import Value, known


def free_names(graph: onnx.GraphProto) -> list[str]:
    """The names a subgraph reads from the graphs around it (its nested subgraphs' reads
    included), in the order first read."""
    defined = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    free: list[str] = []
    for node in graph.node:
        reads = list(node.input)
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                reads += free_names(g)
        for r in reads:
            if r and r not in defined and r not in free:
                free.append(r)
        defined.update(o for o in node.output if o)
    return free + [o.name for o in graph.output if o.name not in defined and o.name not in free]



_BOOL, _INT = TensorSpec((), "bool"), TensorSpec((), "int64")


def _scalar(ctx: Ctx, v: Value, what: str, scope=None) -> Value:
    """A one-element tensor as a scalar (ONNX conditions are often shaped [1])."""
    if v.spec.shape == ():
        return v
    if any(d != 1 for d in v.spec.shape):
        raise ctx.fail(f"{what} must hold one value; it has shape "
                       f"{[d if d is not None else '?' for d in v.spec.shape]}")
    return (scope or ctx.scope).emit("reshape", [v], shape=[])


@onnx_op("If", attrs=("then_branch", "else_branch"), foldable=False)
def _if(ctx: Ctx) -> Sequence[Value]:
    """a condition known at import (a test of static shapes): the branch it picks,
    inlined; else cond, both branches taking the outer tensors either reads as operands
    (their outputs alike in dtype and rank)"""
    pred = ctx.x(0)
    assert ctx.inline is not None and ctx.subgraph is not None
    if pred.const is not None:
        if np.asarray(pred.const).size != 1:
            raise ctx.fail("the condition must hold one value")
        return ctx.inline(ctx.graphs["then_branch" if bool(np.asarray(pred.const)
                                                          .reshape(-1)[0])
                                     else "else_branch"])
    if pred.spec.dtype != "bool":
        raise ctx.fail(f"the condition is {pred.spec.dtype}; bool expected")
    branches = [ctx.graphs["then_branch"], ctx.graphs["else_branch"]]
    reads: list[str] = []
    for g in branches:
        reads += [r for r in free_names(g) if r not in reads]
    then, other = (ctx.subgraph(g, [], reads) for g in branches)
    return ctx.emit_multi("cond", _scalar(ctx, pred, "the condition"), *then.operands,
                          then_branch=then.description(then.outputs),
                          else_branch=other.description(other.outputs))


#: A trip count this large is an exporter's "no bound" (INT32_MAX, INT64_MAX), not a count.
UNBOUNDED = 2**31 - 1


@onnx_op("Loop", attrs=("body",), foldable=False)
def _loop(ctx: Ctx) -> list[Value]:
    """while_loop over [iteration, condition, loop-carried, scan values], bounded by the
    trip count M (known at import); scan outputs stacked from the loop's per-iteration
    rows where the loop surely runs M times"""
    assert ctx.subgraph is not None
    trip = ctx.ints(0, "M (the trip count)") if ctx.opt(0) is not None else None
    if trip is None or len(trip) != 1 or trip[0] < 0:
        raise ctx.fail("the trip count M must be given and known at import (every loop "
                       "here is bounded); a loop with only a condition is not supported")
    m = trip[0]
    if m >= UNBOUNDED:
        raise ctx.fail(f"the trip count M is {m}, which exporters write for a loop with no "
                       "bound (torch's while loop); every loop here is bounded: export it "
                       "with a known number of iterations")
    cond0 = ctx.opt(1)
    cond0 = known(np.asarray(True)) if cond0 is None else _scalar(ctx, cond0, "cond")
    carried = [ctx.x(i) for i in range(2, len(ctx.inputs))]
    body_graph = ctx.graphs["body"]
    n = len(carried)
    if len(body_graph.input) != 2 + n:
        raise ctx.fail(f"the body takes {len(body_graph.input)} inputs; 2 + {n} expected")
    names = [i.name for i in body_graph.input]
    own = [(names[0], _INT), (names[1], _BOOL),
           *((name, v.spec) for name, v in zip(names[2:], carried))]
    body = ctx.subgraph(body_graph, own, free_names(body_graph))
    if len(body.outputs) < 1 + n:
        raise ctx.fail(f"the body answers {len(body.outputs)} outputs; at least 1 + {n} "
                       "expected")
    scans = body.outputs[1 + n:]
    if scans:
        _check_scans(ctx, body, cond0, scans, m)
    inner = body.scope
    step = inner.emit("add", [Value(_INT, ref=(names[0], 0)), known(np.int64(1))])
    cond_out = _scalar(ctx, body.outputs[0], "the body's condition", inner)
    scan_names = [inner.fresh("scan") for _ in scans]
    for name, v in zip(scan_names, scans):
        inner.leaf(name, "placeholder", v.spec.dtype, shape=v.spec.shape)
    body.inputs[2 + n:2 + n] = scan_names
    body_desc = body.description([step, cond_out, *body.outputs[1:1 + n], *scans])
    loop_vars = 2 + n + len(scans)
    specs = [_INT, _BOOL, *(v.spec for v in carried), *(v.spec for v in scans),
             *(v.spec for v in body.operands)]
    cond_desc = {"nodes": [{"name": f"v{k}", "op": "placeholder", "dtype": s.dtype,
                            "shape": list(s.shape)} for k, s in enumerate(specs)],
                 "inputs": [f"v{k}" for k in range(len(specs))], "outputs": ["v1"]}
    zeros = [known(np.zeros(v.spec.shape, v.spec.dtype)) for v in scans]
    outs = ctx.emit_multi("while_loop", known(np.int64(0)), cond0, *carried, *zeros,
                          *body.operands, loop_vars=loop_vars, maximum_iterations=m,
                          cond=cond_desc, body=body_desc, stacked=bool(scans))
    results = outs[2:2 + n]
    for k in range(len(scans)):
        final, rows = outs[2 + n + k], outs[loop_vars + 1 + 2 + n + k]
        r = len(rows.spec.shape)
        later = ctx.emit("strided_slice", rows, begin=[1] + [None] * (r - 1),
                         end=[None] * r, strides=[1] * r)
        results.append(ctx.emit("concat", later, ctx.emit("expand_dims", final, axis=0),
                                axis=0))
    return results


def _check_scans(ctx: Ctx, body: Subgraph, cond0: Value, scans: Sequence[Value],
                 m: int) -> None:
    """Scan outputs are stacked from a loop that runs exactly M >= 1 times, each of a
    static shape (our shapes are static: a loop that may stop early has none)."""
    cond_out = body.outputs[0]
    stays = (cond_out.const is not None and bool(np.asarray(cond_out.const).all())) or \
        _source(body, cond_out) == ctx.graphs["body"].input[1].name
    starts = cond0.const is not None and bool(np.asarray(cond0.const))
    if not (stays and starts) or m < 1:
        raise ctx.fail("scan outputs are supported only where the loop surely runs its "
                       "trip count M >= 1 times (its condition true at the start and "
                       "passed on unchanged or constant true): their length must be known")
    for k, v in enumerate(scans):
        if None in v.spec.shape:
            raise ctx.fail(f"scan output {k} has a shape known only at run time")




def _source(body: Subgraph, v: Value) -> str | None:
    """The node a value of the body is, through identities (ONNX Identity is one)."""
    if v.ref is None or v.ref[1] != 0:
        return None
    by_name = {d["name"]: d for d in body.scope.nodes}
    name = v.ref[0]
    while by_name.get(name, {}).get("op") == "identity":
        name = by_name[name]["inputs"][0]
    return name
