"""Algebraic simplification of a differentiated graph before it is planned or returned.

Reverse mode appends gradient nodes mechanically: ones seeds multiplied in, gradients
computed for inputs nobody asked about (a ``pow``'s exponent), the same product built
twice. ``simplify`` rewrites only the nodes appended after ``protected`` (the user's own
nodes are never changed or dropped: a returned graph must still answer for them), and
never replaces a node in ``keep`` (its name is handed back to the caller).

The rewrites, each an identity on values in the engine's dialects:

- constants fold: a node all of whose inputs are constants (or ``fill``s, as the ones
  seed is) becomes the constant it computes, run by the same kernel (so NaN and inf come
  out exactly as they would at run time); only small, static results are folded.
- ``x * 1 -> x`` when the product has x's shape and dtype (exact in IEEE arithmetic:
  NaN * 1 is NaN, inf * 1 is inf, -0 * 1 is -0). ``x + 0`` is *not* rewritten: -0 + 0
  is +0, so it would change a sign of zero a peer reports.
- ``identity(x) -> x``.
- common subexpressions: two nodes with the same op, inputs and attrs (a constant or a
  ``fill``: the same value) compute the same tensor; the later one reads the earlier.
- dead nodes: an appended node nothing in ``keep`` depends on is dropped.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .graph import Graph, Node, Ref, upstream
from .plan import Plan
from .shapes import num_elements

#: Largest tensor (elements) folded into a constant or compared by value.
SMALL = 4096

Rewrite = Callable[[Node, Graph], "Ref | None"]


def _is_ones(node: Node) -> bool:
    """A tensor known to be all ones without running anything."""
    if node.op == "fill":
        return node.attrs.get("value") == 1
    if node.op == "constant" and node.value is not None and node.value.size <= SMALL:
        if node.value.size == 1:  # a scalar, as most are: np.all costs ~3 us
            return bool(node.value.flat[0] == 1)
        return bool(np.all(node.value == 1))
    return False


def _times_one(node: Node, graph: Graph) -> Ref | None:
    """x * 1 = x (exact), when broadcasting against the ones changes nothing."""
    if node.op != "mul":
        return None
    for i, ones in ((0, 1), (1, 0)):
        x = node.inputs[i]
        if _is_ones(graph.node(node.inputs[ones][0])) and graph.spec(x) == node.spec:
            return x
    return None


def _identity(node: Node, graph: Graph) -> Ref | None:
    """identity(x) = x."""
    return node.inputs[0] if node.op == "identity" and len(node.outputs) == 1 else None


#: The rewrites tried on each appended node, in order; each returns the ref that node's
#: (only) output equals, or None.
RULES: tuple[tuple[str, Rewrite], ...] = (
    ("x * 1 = x", _times_one),
    ("identity(x) = x", _identity),
)


def simplify(graph: Graph, keep: Sequence[Ref], protected: Iterable[str]
             ) -> tuple[Graph, dict[Ref, Ref]]:
    """The simplified graph and, for each ref of ``keep``, the ref it now is (itself)."""
    protected = set(protected) | {n.name for n in graph.nodes  # fed: kept for the feeds
                                  if n.op in ("placeholder", "variable")}
    keep_names = {r[0] for r in keep}
    renamed: dict[Ref, Ref] = {}
    seen: dict[Any, str] = {}
    out: list[Node] = []
    by_name: dict[str, Node] = {}
    view = _View(by_name)
    for node in graph.nodes:
        node = _with_inputs(node, renamed)
        if node.name not in protected and node.name not in keep_names:
            node = _folded(node, view) or node
            key = _cse_key(node)
            target = _rewrite(node, view) or _common(key, seen)
            if target is not None:
                renamed[(node.name, 0)] = target
                if len(node.outputs) > 1:  # a CSE hit: every output has its twin
                    renamed.update(((node.name, i), (target[0], i))
                                   for i in range(len(node.outputs)))
                continue
        else:
            key = _cse_key(node)
        if key is not None:
            seen.setdefault(key, node.name)
        out.append(node)
        by_name[node.name] = node
    live = _live(out, [renamed.get(r, r) for r in (*keep, *graph.outputs)], protected)
    nodes = [n for n in out if n.name in live]
    outputs = [renamed.get(r, r) for r in graph.outputs]
    return Graph(nodes, graph.inputs, outputs), {r: renamed.get(r, r) for r in keep}


class _View:
    """The rewritten-so-far nodes, as much of a Graph as the rules read."""

    def __init__(self, by_name: dict[str, Node]):
        self.by_name = by_name

    def node(self, name: str) -> Node:
        return self.by_name[name]

    def spec(self, ref: Ref) -> Any:
        return self.by_name[ref[0]].outputs[ref[1]]


def _rewrite(node: Node, view: _View) -> Ref | None:
    if len(node.outputs) != 1 or node.is_leaf:
        return None
    for _, rule in RULES:
        target = rule(node, view)  # type: ignore[arg-type]
        if target is not None:
            return target
    return None


def _folded(node: Node, view: _View) -> Node | None:
    """The constant a node of constant inputs computes, or None if it is not one."""
    if node.is_leaf or len(node.outputs) != 1:
        return None
    sources = [view.by_name[r[0]] for r in node.inputs]
    for n in sources:  # the cheap refusal first: a source not known without running
        if n.op != "constant" and (n.op != "fill" or n.inputs):
            return None
    spec = node.spec
    size = num_elements(spec.shape)
    if ("random" in node.op or size is None or size > SMALL
            or any(isinstance(v, Graph) for v in node.attrs.values())):
        return None
    unique = list({n.name: n for n in sources}.values())
    (value,) = Plan(Graph([*unique, node], (), [(node.name, 0)]), [(node.name, 0)]).run({})
    value = np.asarray(value, dtype=spec.dtype).reshape(spec.shape)
    return Node(node.name, "constant", (), {}, node.outputs, value=value)


def _with_inputs(node: Node, renamed: dict[Ref, Ref]) -> Node:
    if renamed.keys().isdisjoint(node.inputs):
        return node
    return Node(node.name, node.op, tuple(renamed.get(r, r) for r in node.inputs),
                node.attrs, node.outputs, node.value, node.trainable, node.position,
                node.extra)


def _cse_key(node: Node) -> Any:
    """What determines a node's value, or None where two equal-looking nodes may differ
    (placeholders and variables are fed; random ops draw)."""
    if node.op in ("placeholder", "variable") or "random" in node.op:
        return None
    attrs = tuple(sorted((k, v.key if isinstance(v, Graph) else repr(v))
                         for k, v in node.attrs.items())) if node.attrs else ()
    value = None
    if node.value is not None:
        if node.value.size > SMALL:
            return None
        value = (node.value.dtype.str, node.value.shape, node.value.tobytes())
    return node.op, node.inputs, attrs, node.outputs, value


def _common(key: Any, seen: dict[Any, str]) -> Ref | None:
    name = None if key is None else seen.get(key)
    return None if name is None else (name, 0)


def _live(nodes: Sequence[Node], roots: Iterable[Ref], protected: set[str]) -> set[str]:
    """The nodes the roots (and the protected nodes) depend on (a subgraph attr reads the
    outside only through its node's inputs)."""
    return upstream(nodes, [*(r[0] for r in roots), *(n.name for n in nodes
                                                       if n.name in protected)])
