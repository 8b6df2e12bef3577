"""MindSpore's ``ops.GradOperation(get_all, get_by_list, sens_param)`` over ``gradients``.

The network's outputs are the ys, its inputs and/or weights the xs; unconnected entries
are zeros (never None), and the answer has exactly MindSpore's nesting.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .autodiff import gradients
from .builder import GraphBuilder
from .errors import EngineError
from .graph import Graph, Ref, format_ref

SENS_PREFIX = "grad_operation/sens"


@dataclass(frozen=True)
class GradOperation:
    """The differentiated network, the flat gradient refs, and how to nest them."""

    graph: Graph
    grads: tuple[Ref, ...]
    n_inputs: int  # how many of ``grads`` belong to inputs; the rest to weights
    get_all: bool
    get_by_list: bool
    sens_names: tuple[str | None, ...]  # the placeholder fed with each sens (None: a node)

    @property
    def names(self) -> list[str]:
        """The flat gradient tensors' names (inputs then weights), as ``run`` takes them."""
        return [format_ref(g) for g in self.grads]

    def nest(self, flat: Sequence[Any]) -> Any:
        """MindSpore's structure: first input; list of inputs; list of weights; or both."""
        inputs, weights = list(flat[: self.n_inputs]), list(flat[self.n_inputs:])
        if self.get_all and self.get_by_list:
            return [inputs, weights]
        if self.get_by_list:
            return weights
        if self.get_all:
            return inputs
        return inputs[0] if inputs else []  # MindSpore: () for a network without inputs


def default_weights(graph: Graph) -> list[str]:
    """The ParameterTuple MindSpore would take: every trainable variable, in node order."""
    return [n.name for n in graph.nodes if n.op == "variable" and n.trainable]


def grad_operation(graph: Graph, *, get_all: bool = False, get_by_list: bool = False,
                   sens_param: bool = False, weights: Sequence[str] | None = None,
                   sens_nodes: Sequence[str | None] | None = None) -> GradOperation:
    """Differentiate the network; with ``sens_param`` the seeds become placeholders, or
    the nodes ``sens_nodes`` names (API.md's ``{"node": NAME}``; None: a placeholder).

    A network without inputs is no error: MindSpore's GradOperation() answers an empty
    tuple for it, as get_all answers an empty list."""
    names = default_weights(graph) if weights is None else list(weights)
    for i, w in enumerate(names):
        node = graph.by_name.get(w) if isinstance(w, str) else None
        if node is None or node.op != "variable":
            what = "not a node of the network" if node is None else f"a {node.op}"
            raise EngineError(f"weights[{i}] = {w!r} is {what}; weights name variables",
                              node=w if node is not None else None, loc=("weights", i))
    inputs = list(graph.inputs) if get_all else list(graph.inputs[:1])
    if get_by_list and not get_all:
        inputs = []
    xs = inputs + (names if get_by_list else [])
    seeded, sens_names = graph, ()
    nodes = list(sens_nodes) if sens_nodes else [None] * len(graph.outputs)
    if sens_param:
        b = GraphBuilder(graph)
        sens_names = tuple(
            None if node else
            b.placeholder(f"{SENS_PREFIX}_{i}", graph.spec(r).shape, graph.spec(r).dtype).name
            for i, (r, node) in enumerate(zip(graph.outputs, nodes, strict=True)))
        seeded = b.finish()
    seeds = [node or name for node, name in zip(nodes, sens_names, strict=False)]
    result = gradients(seeded, list(graph.outputs), xs,
                       grad_ys=seeds if sens_param else None,
                       unconnected="zero", dialect="mindspore", name="grad_operation")
    grads = tuple(g for g in result.grads if g is not None)
    assert len(grads) == len(xs)
    return GradOperation(result.graph, grads, len(inputs), get_all, get_by_list, sens_names)
