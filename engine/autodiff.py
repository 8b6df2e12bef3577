"""Reverse mode as a graph-to-graph transform (TensorFlow's tf.gradients semantics).

``gradients`` appends gradient nodes to a graph and returns the extended graph with the
names of the gradient tensors, aligned with ``xs``. Because gradients are ordinary nodes,
differentiating the result again gives second derivatives.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import fn as F
from .builder import GraphBuilder, Tensor
from .dtypes import DTYPES, is_floating
from .errors import EngineError
from .graph import LEAF_OPS, Graph, Ref, between, downstream, format_ref, make_node
from .ops import registry
from .ops.contexts import LazyVJPContext
from .ops.rules import sum_to
from .shapes import fmt, is_static, same

DIALECTS = ("tensorflow", "mindspore")
UNCONNECTED = ("none", "zero")
AGGREGATIONS = ("add_n", "experimental_tree", "experimental_accumulate_n")


@dataclass(frozen=True)
class Gradients:
    """The differentiated graph and, aligned with xs, the gradient tensors (None: none)."""

    graph: Graph
    grads: tuple[Ref | None, ...]

    @property
    def names(self) -> list[str | None]:
        """The gradient tensors' names, as ``run`` and ``compute_gradients`` take them."""
        return [None if g is None else format_ref(g) for g in self.grads]


def gradients(
    graph: Graph,
    ys: Sequence[str | Ref] | str,
    xs: Sequence[str | Ref] | str,
    grad_ys: Sequence[str | Ref | None] | None = None,
    stop_gradients: Sequence[str] = (),
    unconnected: str = "none",
    aggregation: str = "add_n",
    dialect: str = "tensorflow",
    name: str = "gradients",
) -> Gradients:
    """d(sum of ys)/d(each x), as TensorFlow 1.x's ``tf.gradients``.

    ``grad_ys`` entries name tensors of the graph (``None``: ones shaped like that y).
    ``stop_gradients`` nodes still receive their own gradient but pass nothing on.
    In the TensorFlow dialect only floating tensors carry gradients; in MindSpore's an
    integer input gets the gradient cast to its dtype.
    """
    if dialect not in DIALECTS:
        raise EngineError(f"dialect must be one of {DIALECTS}, got {dialect!r}")
    if unconnected not in UNCONNECTED:
        raise EngineError(f"unconnected must be 'none' or 'zero', got {unconnected!r}",
                          loc=("unconnected",))
    if aggregation not in AGGREGATIONS:
        raise EngineError(f"aggregation must be one of {AGGREGATIONS}, "
                          f"got {aggregation!r}", loc=("aggregation",))
    y_refs = graph.resolve_all(ys, "ys")
    x_refs = graph.resolve_all(xs, "xs")
    grad_ys = aligned_seeds(grad_ys, len(y_refs))
    stop = {ref[0] for ref in graph.resolve_all(stop_gradients, "stop_gradients")}

    # Nodes downstream of an x: the walk back from the ys below reaches only those of
    # them upstream of a y (a node gets a cotangent only from one that had one), so the
    # sweep back ``between`` makes is needed only by while loops (``_accumulating``).
    relevant = downstream(graph, {r[0] for r in x_refs})
    accumulating = _accumulating(graph, relevant, {r[0] for r in y_refs}, stop, dialect)
    if accumulating is not graph:  # (its loops' nodes made again: relevant's, as they are now)
        graph = accumulating
        relevant = {name: graph.by_name[name] for name in relevant}
    b = GraphBuilder(graph, prefix=name)
    pending: dict[Ref, list[Tensor]] = {}
    for i, (y, gy) in enumerate(zip(y_refs, grad_ys, strict=True)):
        y_t = b.tensor(y)
        if gy is None:
            seed = _ones(b, y_t)
        else:
            seed = b.tensor(gy if isinstance(gy, tuple) else graph.resolve(gy, loc=("grad_ys", i)))
            if seed.dtype != y_t.dtype or not same(seed.shape, y_t.shape):
                raise EngineError(
                    f"grad_ys[{i}] is {seed.dtype}{fmt(seed.shape)} but ys[{i}] "
                    f"({format_ref(y)}) is {y_t.dtype}{fmt(y_t.shape)}; they must match",
                    loc=("grad_ys", i))
        pending.setdefault(y, []).append(seed)

    total: dict[Ref, Tensor] = {}
    wanted = set(x_refs)
    wanted_nodes = {r[0] for r in x_refs}
    by_name = graph.by_name
    carrying = {d: carries(d, dialect) for d in DTYPES}
    vjps: dict[str, Any] = {}  # op -> its vjp rule (None: none), looked up once
    one_given = (True,)
    handle = functools.partial(Tensor, b)  # a handle on a ref of ``graph``
    for node in reversed(graph.nodes):
        name = node.name
        if name not in relevant:
            continue
        outputs = node.outputs
        if len(outputs) == 1:  # the usual case, without the lists of the general one
            parts = pending.pop((name, 0), None)
            if not parts:
                continue
            summed: tuple[Tensor | None, ...] = (
                parts[0] if len(parts) == 1 else _aggregate(b, parts, aggregation),)
            given: tuple[bool, ...] = one_given
        else:
            outs = [pending.pop((name, k), None) for k in range(len(outputs))]
            if not any(outs):
                continue
            summed = tuple(_aggregate(b, c, aggregation) if c else None for c in outs)
            given = tuple(s is not None for s in summed)
        if name in wanted_nodes:
            for k, s in enumerate(summed):
                if s is not None and (name, k) in wanted:
                    total[(name, k)] = s
        op = node.op
        vjp = vjps.get(op, vjps)
        if vjp is vjps:
            vjp = vjps[op] = registry.get(op).vjp
        if vjp is None or name in stop or op in LEAF_OPS:
            continue
        # every ref here is a node of ``graph``, the builder's base: its spec read directly,
        # from relevant's node if it is one (one lookup says both: ~20 ms less for the 100k
        # chain than two); one or two inputs spelled out (no lists made, then tuples of them)
        inputs = node.inputs
        n = len(inputs)
        if n == 1:
            r = inputs[0]
            a = relevant.get(r[0])
            if a is None:
                s = by_name[r[0]].outputs[r[1]]
                specs, needs = (s,), (False,)
            else:
                s = a.outputs[r[1]]
                specs, needs = (s,), (carrying[s.dtype],)
        elif n == 2:
            r, q = inputs
            a, c = relevant.get(r[0]), relevant.get(q[0])
            s = (by_name[r[0]] if a is None else a).outputs[r[1]]
            t = (by_name[q[0]] if c is None else c).outputs[q[1]]
            specs = (s, t)
            needs = (a is not None and carrying[s.dtype], c is not None and carrying[t.dtype])
        else:
            specs = tuple([by_name[r[0]].outputs[r[1]] for r in inputs])
            needs = tuple([r[0] in relevant and carrying[s.dtype]
                           for r, s in zip(inputs, specs, strict=True)])
        if True not in needs:
            continue
        ctx = LazyVJPContext(node, handle, specs, summed, dialect, given, needs)
        if False in given:
            ctx.gs = tuple(s if s is not None else F.zeros_like(h)
                           for s, h in zip(summed, ctx.outputs, strict=True))
        grads = vjp(ctx)
        if len(grads) != n:  # (zip's strict check costs ~0.14 us a node)
            raise EngineError(f"{op}'s derivative rule gave {len(grads)} cotangents for "
                              f"{n} inputs")
        for ref, spec, grad, need in zip(inputs, specs, grads, needs):
            if grad is None or not need:
                continue
            shape = grad.spec.shape
            if shape != spec.shape or None in shape:  # sum_to's own test, without its call
                grad = sum_to(grad, handle(ref, spec))
            acc = pending.get(ref)
            if acc is None:
                pending[ref] = [grad]
            else:
                acc.append(grad)

    result: list[Ref | None] = []
    for x in x_refs:
        x_t = b.tensor(x)
        g = total.get(x) if carries(x_t.dtype, dialect) else None
        if g is None and unconnected == "zero":
            g = F.zeros_like(x_t)
        result.append(None if g is None else g.ref)
    return Gradients(b.finish(), tuple(result))


def _accumulating(graph: Graph, down: set[str], ys: set[str], stop: set[str],
                  dialect: str) -> Graph:
    """Each while_loop on the path (downstream of an x, in ``down``, and upstream of a y)
    keeps its loop variables per iteration and the residuals its VJP reads (attrs
    ``stacked`` and ``saved``, while_v2's accumulators) from its one forward run, for its
    VJP to read: the loop is not run a second time for the gradient, nor its body for
    the VJPs' values. Its first outputs are unchanged. A loop that saves values but is
    not stacked (a backward loop saving its gathers' rows) is left as it is: stacking it
    would move its saved outputs, so its VJP runs it again, stacked."""
    loops = [n.name for n in graph.nodes if n.op == "while_loop" and n.name in down]
    if not loops:
        return graph
    from .transforms.subgraphs import with_residuals  # (the transforms import this module)

    relevant = between(graph, down, ys, stop)
    nodes = list(graph.nodes)
    for i, node in enumerate(nodes):  # (a stacked loop keeps its rows; its residuals not yet)
        if node.op == "while_loop" and node.name in relevant and not node.attrs["saved"]:
            specs = tuple(graph.spec(r) for r in node.inputs)
            attrs = with_residuals(node.attrs, specs, dialect)
            if attrs["stacked"] != node.attrs["stacked"] or attrs["saved"]:
                nodes[i] = make_node(node.name, registry.get(node.op), node.inputs, specs,
                                     attrs, position=node.position, attrs_parsed=True)
    if nodes == list(graph.nodes):
        return graph
    return Graph(nodes, graph.inputs, graph.outputs)


def _ones(b: GraphBuilder, like: Tensor) -> Tensor:
    """The default seed: ones shaped like a y, without needing the y's value if static."""
    if is_static(like.shape):
        return b.emit("fill", [], {"shape": list(like.shape), "value": 1.0,
                                   "dtype": like.dtype})
    return F.ones_like(like)


def aligned_seeds(grad_ys: Sequence[Any] | None, n_ys: int) -> tuple[Any, ...]:
    """One seed (or None: ones) per y; the one place their count is checked."""
    if grad_ys is None:
        return (None,) * n_ys
    if len(grad_ys) != n_ys:
        raise EngineError(f"grad_ys has {len(grad_ys)} entries for {n_ys} ys",
                          loc=("grad_ys",))
    return tuple(grad_ys)


def carries(dtype: str, dialect: str) -> bool:
    """Which tensors carry gradients: floats in TensorFlow; numbers in MindSpore."""
    return is_floating(dtype) or (dialect == "mindspore" and dtype != "bool")


def _aggregate(b: GraphBuilder, parts: list[Tensor], method: str) -> Tensor:
    """Sum the contributions to one tensor: all at once, or as a running left-to-right sum."""
    if len(parts) == 1:
        return parts[0]
    if method == "add_n":
        return b.emit("add_n", parts)
    acc = parts[0]
    for p in parts[1:]:
        acc = acc + p
    return acc
