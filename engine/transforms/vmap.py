"""Batching (vmap) as a graph-to-graph transform, JAX's model: one op call per node.

``vmap`` rewrites a graph written for one example so that some leaves carry a batch axis.
Nodes that depend on no mapped leaf are kept as they are (same names, computed once);
every other node is rewritten by its op's batching rule, which sees its inputs with the
batch axis leading (or absent, for shared inputs) and emits ops that treat the whole
batch at once. No node is ever repeated per example.

A rule is the op's ``batch`` field, declared with the op (it takes the ops' ``BatchContext``
and answers the outputs and their batch axes; ``registry.py`` says how). The rules that
many ops share (broadcasting, a leading batch axis with shifted attrs) are in
``engine/ops/rules.py``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..builder import GraphBuilder, Tensor
from ..errors import EngineError
from ..graph import Graph, Node, Ref, format_ref
from ..ops import registry
from ..ops.contexts import BatchContext
from ..ops.registry import TensorSpec
from ..shapes import fmt, is_static


def broadcast_batch(t: Tensor, size: int) -> Tensor:
    """A shared tensor repeated along a new leading batch axis (a broadcast, no copy)."""
    if not is_static(t.shape):
        raise EngineError(f"vmap needs the static shape of {t.name!r}, got {fmt(t.shape)}",
                          node=t.ref[0])
    return t.builder.emit("broadcast_to", [t], {"shape": [size, *t.shape]})


def vmap(graph: Graph, mapped: Mapping[str, int], size: int,
         fetches: Sequence[str | Ref]) -> tuple[Graph, dict[str, Ref]]:
    """The graph batched over ``size`` examples; the refs of the batched fetches.

    ``mapped`` names leaves (placeholders, variables) and the axis of each where the batch
    lies: they keep their names, with shapes grown by that axis (a mapped variable becomes
    a placeholder, to be fed). Every fetch of the answer has the batch axis leading, also
    one that depends on no mapped leaf (broadcast, as JAX does). Keys of the answer are the
    fetches as given (``format_ref`` of a ref).
    """
    if size < 0:
        raise EngineError(f"the batch size must be >= 0, got {size}", loc=("size",))
    axes: dict[str, int] = {}
    for name, axis in mapped.items():
        node = graph.by_name.get(name)
        if node is None or node.op not in ("placeholder", "variable"):
            what = "not a node of the graph" if node is None else f"a {node.op}"
            raise EngineError(f"vmap maps leaves (placeholders, variables); {name!r} is {what}",
                              node=name if node else None, loc=("mapped", name))
        rank = len(node.spec.shape)
        if not -rank - 1 <= axis <= rank:
            raise EngineError(f"in_axes[{name!r}] = {axis} is out of range for a tensor of "
                              f"rank {rank} batched to rank {rank + 1}", node=name,
                              loc=("mapped", name))
        axes[name] = axis % (rank + 1)
    batched = _downstream(graph, set(axes))
    kept: list[Node] = []
    for node in graph.nodes:
        if node.name in axes:
            shape = list(node.spec.shape)
            shape.insert(axes[node.name], size)
            kept.append(Node(node.name, "placeholder", (), {},
                             (TensorSpec(tuple(shape), node.spec.dtype),)))
        elif node.name not in batched:
            kept.append(node)
    b = GraphBuilder(Graph(kept, graph.inputs, ()), prefix=_fresh_prefix(graph))
    env: dict[Ref, Tensor] = {}
    for name, axis in axes.items():
        t = b.tensor((name, 0))
        if axis:
            perm = [axis, *(i for i in range(len(t.shape)) if i != axis)]
            t = b.emit("transpose", [t], {"perm": perm})
        env[(name, 0)] = t
    for node in graph.nodes:
        if node.name not in batched or node.name in axes:
            continue
        opdef = registry.get(node.op)
        rule = opdef.batch
        if rule is None:
            raise EngineError(f"vmap: op {node.op} cannot be batched ({opdef.unbatchable})",
                              node=node.name)
        ins = [env.get(r) or b.tensor(r) for r in node.inputs]
        axes = [0 if r in env else None for r in node.inputs]
        outs = _leading(rule(BatchContext(node, ins, node.outputs, axes, size)), size)
        for k, (out, spec) in enumerate(zip(outs, node.outputs, strict=True)):
            _check_rule(node, k, out, spec, size)
            env[(node.name, k)] = out
    refs: dict[str, Ref] = {}
    for i, f in enumerate(fetches):
        ref = f if isinstance(f, tuple) else graph.resolve(f, loc=("fetches", i))
        key = f if isinstance(f, str) else format_ref(f)
        t = env.get(ref) or broadcast_batch(b.tensor(ref), size)
        refs[key] = t.ref
    return b.finish(outputs=list(refs.values())), refs


def _leading(answer: Any, size: int) -> list[Tensor]:
    """An op's own rule answers (outputs, their batch axes): each moved to the front."""
    outs, axes = answer
    fronted = []
    for t, axis in zip(outs, axes, strict=True):
        if axis is None:
            t = broadcast_batch(t, size)
        elif axis % t.ndim:
            t = t.builder.emit("transpose", [t], {"perm": [axis % t.ndim, *(
                i for i in range(t.ndim) if i != axis % t.ndim)]})
        fronted.append(t)
    return fronted


def _check_rule(node: Node, k: int, out: Tensor, spec: TensorSpec, size: int) -> None:
    """A rule's output must be the example's output with the batch axis leading."""
    want = (size, *spec.shape)
    if out.dtype != spec.dtype or len(out.shape) != len(want) or any(
            a is not None and b is not None and a != b for a, b in zip(out.shape, want)):
        raise AssertionError(f"batching rule of {node.op} gave {out.dtype}{fmt(out.shape)} "
                             f"for output {k}; expected {spec.dtype}{fmt(want)}")


def _downstream(graph: Graph, sources: set[str]) -> set[str]:
    down = set(sources)
    for n in graph.nodes:
        if any(src in down for src, _ in n.inputs):
            down.add(n.name)
    return down


def _fresh_prefix(graph: Graph) -> str:
    """A name prefix no node of the graph uses, so new nodes never collide with old."""
    k = 0
    while True:
        prefix = "vmap" if k == 0 else f"vmap_{k}"
        if not any(n.startswith(prefix) for n in graph.by_name):
            return prefix
        k += 1
