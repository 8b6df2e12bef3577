"""Shape specialization: a graph with unknown dimensions, made concrete for given feeds.

Placeholders may leave dimensions unknown (``null``). Before such a graph runs, its
placeholders take the shapes actually fed and every shape is inferred again, so that
(as with a fully static graph) each fault is found, with its node named, and each tensor
checked against the element limit, before anything is computed. Differentiation and
planning then see a static graph; results are cached per shape signature.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .errors import LimitError
from .graph import Graph, make_node
from .ops import registry
from .ops.registry import TensorSpec
from .shapes import fmt, is_static, known_elements


def dynamic_placeholders(graph: Graph) -> tuple[str, ...]:
    """Placeholders whose declared shape has an unknown dimension."""
    return tuple(n.name for n in graph.nodes
                 if n.op == "placeholder" and not is_static(n.spec.shape))


def shape_signature(graph: Graph, feeds: Mapping[str, Any]) -> tuple[tuple[int, ...], ...]:
    """The fed shapes of the dynamic placeholders (unfed ones stay unknown)."""
    return tuple(tuple(getattr(feeds.get(name), "shape", ()) or ())
                 if name in feeds else () for name in dynamic_placeholders(graph))


def specialize(graph: Graph, shapes: Mapping[str, tuple[int, ...]],
               max_elements: int | None = None) -> Graph:
    """The same graph with the given placeholder shapes and every shape re-inferred."""
    built: dict[str, Any] = {}
    nodes = []
    for node in graph.nodes:
        if node.op == "placeholder" and node.name in shapes:
            spec = TensorSpec(tuple(None if d is None else int(d) for d in shapes[node.name]),
                              node.spec.dtype)
            new = dataclasses.replace(node, outputs=(spec,))
        elif node.is_leaf:
            new = node
        else:
            specs = tuple(built[src].outputs[k] for src, k in node.inputs)
            new = make_node(node.name, registry.get(node.op), node.inputs, specs, node.attrs,
                            position=node.position, loc=("graph", "nodes", node.position),
                            attrs_parsed=True)
        if max_elements is not None:
            for out in new.outputs:
                if known_elements(out.shape) > max_elements:
                    raise LimitError(
                        f"output shape {fmt(out.shape)} holds more than the limit of "
                        f"{max_elements} elements per tensor", node=node.name,
                        loc=("graph", "nodes", node.position))
        built[node.name] = new
        nodes.append(new)
    return Graph(nodes, graph.inputs, graph.outputs)
