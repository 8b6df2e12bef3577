"""MindSpore 2.x ``grad`` / ``value_and_grad`` (API.md section 7) over ``gradients``.

``grad_position`` picks inputs (int: a bare gradient; a tuple: a list, except that a
one-element tuple answers like its int), ``weights`` picks variables (a name: bare; a
list: a list); both given: ``[inputs part, weights part]``. ``has_aux`` differentiates
the first output only and hands back the others; ``return_ids`` pairs each gradient with
its input position or weight name. Unconnected entries are zeros, as in MindSpore.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .api import cached_program, check_feeds, for_feeds
from .autodiff import gradients
from .errors import EngineError
from .graph import Graph
from .mapped import InAxes, batch_size, batched, example_feeds
from .plan import Plan

Position = int | Sequence[int] | None
Weights = str | Sequence[str] | None


def grad(graph: Graph, args: Sequence[np.ndarray], *, grad_position: Position = 0,
         weights: Weights = None, has_aux: bool = False, return_ids: bool = False,
         feeds: Mapping[str, Any] | None = None, in_axes: InAxes = None,
         max_elements: int | None = None) -> dict[str, Any]:
    """``mindspore.grad``: ``{"gradients": G}`` (and ``"aux"`` with ``has_aux``).
    ``in_axes`` maps the call over examples (names: network inputs or fed variables)."""
    _, gradient, aux = _grad(graph, args, grad_position, weights, has_aux, return_ids,
                             feeds, in_axes, max_elements)
    return {"gradients": gradient, "aux": aux} if has_aux else {"gradients": gradient}


def value_and_grad(graph: Graph, args: Sequence[np.ndarray], *,
                   grad_position: Position = 0, weights: Weights = None,
                   has_aux: bool = False, return_ids: bool = False,
                   feeds: Mapping[str, Any] | None = None, in_axes: InAxes = None,
                   max_elements: int | None = None) -> dict[str, Any]:
    """``mindspore.value_and_grad``: ``{"value": V, "gradients": G}``, V the network's
    output (a list of every output, aux included, when it has several)."""
    value, gradient, aux = _grad(graph, args, grad_position, weights, has_aux, return_ids,
                                 feeds, in_axes, max_elements)
    return {"value": [value, *aux] if has_aux else value, "gradients": gradient}


def _grad(graph: Graph, args: Sequence[np.ndarray], grad_position: Position,
          weights: Weights, has_aux: bool, return_ids: bool,
          feeds: Mapping[str, Any] | None, in_axes: InAxes, max_elements: int | None
          ) -> tuple[Any, Any, list[Any]]:
    positions = _positions(graph, grad_position)
    names = _weights(graph, weights)
    if positions is None and names is None:
        raise EngineError("grad_position and weights cannot both be null",
                          loc=("grad_position",))
    outputs = list(graph.outputs)
    if has_aux and len(outputs) < 2:
        raise EngineError(f"has_aux needs a network with two or more outputs; it has "
                          f"{len(outputs)}", loc=("has_aux",))
    if len(args) != len(graph.inputs):
        raise EngineError(f"the network takes {len(graph.inputs)} input(s) "
                          f"({', '.join(graph.inputs) or 'none'}); got {len(args)} args",
                          loc=("args",))
    all_feeds = dict(feeds or {})
    check_feeds(graph, all_feeds)
    all_feeds.update(zip(graph.inputs, args, strict=True))
    axes = dict(in_axes or {})
    size = batch_size(all_feeds, axes)
    graph = for_feeds(graph, example_feeds(graph, all_feeds, axes), max_elements)
    xs = [graph.inputs[p] for p in positions or ()] + list(names or ())
    ys = outputs[:1] if has_aux else outputs
    key = ("ms2.grad", graph.key, tuple(xs), has_aux, tuple(sorted(axes.items())), size,
           max_elements)

    def make() -> Plan:
        result = gradients(graph, ys, xs, unconnected="zero", dialect="mindspore",
                           name="grad")
        fetches = [*(g for g in result.grads if g is not None), *outputs]
        return Plan(*batched(result.graph, fetches, axes, size, max_elements))

    plan, _ = cached_program(key, make)
    flat = plan.run(all_feeds)
    grads, values = flat[:len(xs)], flat[len(xs):]
    n = len(positions or ())
    ids: list[Any] = [*(positions or ()), *(names or ())]
    if return_ids:
        grads = [[i, g] for i, g in zip(ids, grads, strict=True)]
    inputs_part = grads[:n] if not isinstance(grad_position, int) or isinstance(
        grad_position, bool) else grads[0]
    if isinstance(inputs_part, list) and len(inputs_part) == 1 and positions is not None \
            and not isinstance(grad_position, int):
        inputs_part = inputs_part[0]  # MindSpore: a one-element tuple answers like its int
    weights_part = grads[n:] if not isinstance(weights, str) else grads[n]
    if positions is None:
        gradient = weights_part
    elif names is None:
        gradient = inputs_part
    else:
        gradient = [inputs_part, weights_part]
    value = values[0] if len(values) == 1 else list(values)
    if has_aux:
        return values[0], gradient, list(values[1:])
    return value, gradient, []


def _positions(graph: Graph, grad_position: Position) -> list[int] | None:
    if grad_position is None:
        return None
    items = [grad_position] if isinstance(grad_position, int) else list(grad_position)
    if not items:
        raise EngineError("grad_position is an empty list; give an int, a list of ints or "
                          "null", loc=("grad_position",))
    seen: set[int] = set()
    for i, p in enumerate(items):
        loc = ("grad_position",) if isinstance(grad_position, int) else ("grad_position", i)
        if isinstance(p, bool) or not isinstance(p, int):
            raise EngineError(f"grad_position entries are ints, got {p!r}", loc=loc)
        if not 0 <= p < len(graph.inputs):
            raise EngineError(f"grad_position {p} is out of range: the network has "
                              f"{len(graph.inputs)} input(s)", loc=loc)
        if p in seen:
            raise EngineError(f"grad_position {p} is repeated", loc=loc)
        seen.add(p)
    return items


def _weights(graph: Graph, weights: Weights) -> list[str] | None:
    if weights is None:
        return None
    items = [weights] if isinstance(weights, str) else list(weights)
    for i, w in enumerate(items):
        node = graph.by_name.get(w) if isinstance(w, str) else None
        if node is None or node.op != "variable":
            what = "not a node of the network" if node is None else f"a {node.op}"
            loc = ("weights",) if isinstance(weights, str) else ("weights", i)
            raise EngineError(f"weights names {w!r}, which is {what}; weights name variables",
                              node=w if node is not None else None, loc=loc)
    return items
