"""Batching (vmap) as a graph-to-graph transform, JAX's model: one op call per node.

``vmap`` rewrites a graph written for one example so that some leaves carry a batch axis.
Nodes that depend on no mapped leaf are kept as they are (same names, computed once);
every other node is rewritten by its op's batching rule, which sees its inputs with the
batch axis leading (or absent, for shared inputs) and emits ops that treat the whole
batch at once. No node is ever repeated per example.

A rule is the op's ``batch`` field when it declares one (it takes the ops' ``BatchContext``
and answers the outputs and their batch axes), else the rule registered for its name in
``batching_rules`` (batch axes leading in and out, see ``LeadingContext``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..builder import GraphBuilder, Tensor
from ..errors import EngineError
from ..graph import Graph, Node, Ref, format_ref
from ..ops import registry
from ..ops.contexts import BatchContext
from ..ops.registry import TensorSpec
from ..shapes import fmt, is_static

LeadingRule = Callable[["LeadingContext"], Sequence[Tensor]]
RULES: dict[str, LeadingRule] = {}  # filled by batching_rules, keyed by canonical op name


class LeadingContext:
    """What a rule of ``batching_rules`` sees: the node's inputs with the batch axis
    leading where ``batched`` (absent where shared), attrs, the batch size, and the
    builder new nodes go into. It answers one output per node output, batch axis leading.
    ``leading_rule`` turns such a rule into an op's ``batch`` rule."""

    __slots__ = ("attrs", "b", "batched", "inputs", "node", "size")

    def __init__(self, b: GraphBuilder, node: Node, inputs: Sequence[Tensor],
                 batched: Sequence[bool], size: int):
        self.b = b
        self.node = node
        self.inputs = tuple(inputs)
        self.batched = tuple(batched)
        self.attrs = node.attrs
        self.size = size

    def example_shape(self, i: int) -> tuple[int | None, ...]:
        """Input i's shape for one example (without the batch axis)."""
        shape = self.inputs[i].shape
        return shape[1:] if self.batched[i] else shape

    def rank(self, i: int) -> int:
        return len(self.example_shape(i))

    def materialized(self, i: int) -> Tensor:
        """Input i with the batch axis leading, broadcast along it if the input is shared."""
        t = self.inputs[i]
        if self.batched[i]:
            return t
        return broadcast_batch(t, self.size)

    def emit(self, op: str, inputs: Sequence[Tensor], **attrs: Any) -> Any:
        return self.b.emit(op, list(inputs), attrs)

    def same(self, inputs: Sequence[Tensor], **changes: Any) -> Any:
        """This node's op on new inputs, with some attrs changed; always a list of outputs."""
        out = self.b.emit(self.node.op, list(inputs), {**self.attrs, **changes})
        return list(out) if isinstance(out, tuple) else [out]


def leading_rule(rule: LeadingRule) -> Callable[[BatchContext], Any]:
    """A leading-axis rule as an op's ``batch`` rule: batch axes moved to the front first,
    every output's batch axis 0."""

    def batch(c: BatchContext) -> tuple[list[Tensor], list[int | None]]:
        ins = [c.moved(k, 0) for k in range(len(c.inputs))]
        batched = [axis is not None for axis in c.axes]
        b = next(t for t, on in zip(ins, batched, strict=True) if on).builder
        outs = list(rule(LeadingContext(b, c.node, ins, batched, c.size)))
        return outs, [0] * len(outs)

    return batch


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
        rule = registry.get(node.op).batch
        if rule is None and node.op in RULES:
            rule = leading_rule(RULES[node.op])
        if rule is None:
            raise EngineError(f"vmap: op {node.op} has no batching rule yet", node=node.name)
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


def _load_rules() -> None:
    from . import batching_rules  # noqa: F401  (registers into RULES)


_load_rules()
