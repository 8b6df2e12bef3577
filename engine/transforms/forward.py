"""Forward mode as a graph-to-graph transform: ``jvp`` appends tangent nodes to a graph.

Each op's tangent rule is its own ``jvp`` rule when it declares one; otherwise it is
derived from its VJP rule by transposition. A VJP rule is linear in the cotangent u, so
for one node with input tangents t_i the output tangent is

    J t = d/du <VJP(u), t>,

a reverse pass through the handful of nodes the VJP rule emitted, taken with respect to
u. The pass is local to the node: u is the node's own cotangent, seeded with ones (so a
rule that is linear only away from u = 0, such as TensorFlow's SqrtGrad with its
``where(g == 0, 0, ...)``, is taken where it is linear), and the tangent graph never reads
u's value except through such constant conditions, which plans fold away. The nodes of the
VJP rule itself are left unused, and plans prune them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import fn as F
from ..builder import GraphBuilder, Tensor
from ..dtypes import is_floating
from ..errors import EngineError
from ..graph import Graph, Node, Ref, between, format_ref
from ..ops import registry
from ..ops.contexts import JVPContext, VJPContext
from ..ops.rules import sum_to
from ..shapes import fmt, is_static, same


@dataclass(frozen=True)
class Tangents:
    """The extended graph and, aligned with the outputs, their tangents (None: zero)."""

    graph: Graph
    tangents: tuple[Ref | None, ...]

    @property
    def names(self) -> list[str | None]:
        return [None if t is None else format_ref(t) for t in self.tangents]


def jvp(graph: Graph, inputs: Sequence[str | Ref], tangents: Sequence[str | Ref | None],
        outputs: Sequence[str | Ref] | None = None, *, dialect: str = "tensorflow",
        name: str = "jvp") -> Tangents:
    """Tangents of ``outputs`` (default: the graph's) for tangents of ``inputs``.

    ``tangents`` is aligned with ``inputs``; each entry names a tensor of the graph of the
    input's shape and dtype (None: zero). An input's tangent replaces whatever would flow
    into it, as tf.gradients treats an x. Only floating tensors carry tangents.
    """
    if len(tangents) != len(inputs):
        raise EngineError(f"{len(tangents)} tangents for {len(inputs)} inputs",
                          loc=("tangents",))
    out_refs = [_ref(graph, o, ("outputs", i))
                for i, o in enumerate(graph.outputs if outputs is None else outputs)]
    b = GraphBuilder(graph, prefix=name)
    tan: dict[Ref, Tensor] = {}
    for i, (x, t) in enumerate(zip(inputs, tangents, strict=True)):
        x_ref = _ref(graph, x, ("inputs", i))
        if t is None or not is_floating(graph.spec(x_ref).dtype):
            continue
        seed = b.tensor(_ref(graph, t, ("tangents", i)))
        spec = graph.spec(x_ref)
        if seed.dtype != spec.dtype or not same(seed.shape, spec.shape):
            raise EngineError(f"tangents[{i}] is {seed.dtype}{fmt(seed.shape)} but inputs[{i}] "
                              f"({format_ref(x_ref)}) is {spec.dtype}{fmt(spec.shape)}; they "
                              "must match", loc=("tangents", i))
        tan[x_ref] = seed
    seeded = set(tan)
    relevant = between(graph, {r[0] for r in seeded}, {r[0] for r in out_refs})
    for node in graph.nodes:
        if node.name not in relevant or node.is_leaf:
            continue
        in_tangents = [tan.get(r) for r in node.inputs]
        if not any(t is not None for t in in_tangents):
            continue
        for k, t in enumerate(node_tangents(b, node, in_tangents, dialect)):
            ref = (node.name, k)
            if t is not None and ref not in seeded and is_floating(node.outputs[k].dtype):
                tan[ref] = t
    return Tangents(b.finish(), tuple(tan[r].ref if r in tan else None for r in out_refs))


def node_tangents(b: GraphBuilder, node: Node, in_tangents: Sequence[Tensor | None],
                  dialect: str) -> list[Tensor | None]:
    """One node's output tangents: its op's ``jvp`` rule, else its transposed VJP rule."""
    opdef = registry.get(node.op)
    in_h = [b.tensor(r) for r in node.inputs]
    out_h = [b.tensor((node.name, k)) for k in range(len(node.outputs))]
    own = opdef.jvp_rule  # declared, or for a linear op the op itself on the tangents
    if own is not None:
        return list(own(JVPContext(node, in_h, out_h, in_tangents, dialect)))
    if opdef.vjp is None:
        return [None] * len(out_h)
    return _transposed(b, node, opdef, in_h, out_h, in_tangents, dialect)


def _transposed(b: GraphBuilder, node: Node, opdef: Any, in_h: list[Tensor],
                out_h: list[Tensor], in_tangents: Sequence[Tensor | None],
                dialect: str) -> list[Tensor | None]:
    """J t = d/du <VJP(u), t>: the VJP rule applied to a ones cotangent u, then a reverse
    pass through just the nodes it emitted, seeded with the input tangents."""
    us = [_ones(b, h) if is_floating(h.dtype) else None for h in out_h]
    gs = [u if u is not None else F.zeros_like(h) for u, h in zip(us, out_h, strict=True)]
    start = len(b.nodes)
    grads = opdef.vjp(VJPContext(node, in_h, out_h, gs, dialect, [u is not None for u in us]))
    pending: dict[Ref, list[Tensor]] = {}
    for h, g, t in zip(in_h, grads, in_tangents, strict=True):
        if g is not None and t is not None:
            pending.setdefault(sum_to(g, h).ref, []).append(t)
    emitted = b.nodes[start:]
    sources = {u.ref[0] for u in us if u is not None}
    reached = set(sources)
    for n in emitted:
        if any(src in reached for src, _ in n.inputs):
            reached.add(n.name)
    for n in reversed(emitted):
        if n.name not in reached or n.name in sources:
            continue
        cots = [pending.pop((n.name, k), None) for k in range(len(n.outputs))]
        if not any(cots):
            continue
        rule = registry.get(n.op).vjp
        if rule is None:
            continue
        ins = [b.tensor(r) for r in n.inputs]
        outs = [b.tensor((n.name, k)) for k in range(len(n.outputs))]
        summed = [_total(c) if c else None for c in cots]
        given = [F.zeros_like(o) if s is None else s for s, o in zip(summed, outs, strict=True)]
        ctx = VJPContext(n, ins, outs, given, dialect, [s is not None for s in summed])
        for r, h, g in zip(n.inputs, ins, rule(ctx), strict=True):
            if g is not None and r[0] in reached and is_floating(h.dtype):
                pending.setdefault(r, []).append(sum_to(g, h))
    return [None if u is None or u.ref not in pending else _total(pending[u.ref]) for u in us]


def _total(parts: list[Tensor]) -> Tensor:
    return parts[0] if len(parts) == 1 else F.add_n(*parts)


def _ones(b: GraphBuilder, like: Tensor) -> Tensor:
    """A ones cotangent shaped like an output: a constant fill when the shape is static."""
    if is_static(like.shape):
        return b.emit("fill", [], {"shape": list(like.shape), "value": 1.0,
                                   "dtype": like.dtype})
    return F.ones_like(like)


def _ref(graph: Graph, t: str | Ref, loc: tuple[str | int, ...]) -> Ref:
    return t if isinstance(t, tuple) else graph.resolve(t, loc=loc)
