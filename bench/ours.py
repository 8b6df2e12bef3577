"""Gradserve's engine on each workload, two ways.

``api``: ``engine.compute_gradients`` on a built ``Graph`` (what the service calls: feed
checks, the content-keyed program cache, the plan run; W6: ``engine.functional.hvp``, the
/hvp endpoint's forward-over-reverse pass). ``plan``: the same program's ``engine.Plan``
(differentiated, simplified as the service simplifies, planned) run directly, which
isolates the engine's arithmetic loop. Both fetch the loss as well as the gradients: the
engine prunes what no fetch needs, and "forward + full gradient" means the forward is
computed, as every peer does.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine import Graph, Plan, compute_gradients, functional, gradients
from engine.simplify import simplify
from engine.transforms.derivatives import hvp_graph

from .workloads import Workload

Runner = Callable[[], list[np.ndarray]]


def _hvp_graph(w: Workload) -> tuple[Graph, list[Any], dict[str, str]]:
    """The graph of H v by forward over reverse (the /hvp program), its H v refs, and which
    placeholder takes v for which input."""
    graph = Graph.build(w.nodes)
    inputs = [graph.resolve(x) for x in w.wrt]
    seeded, _ = hvp_graph(graph, inputs, (w.loss, 0), [True] * len(inputs))
    assert all(r is not None for r in seeded.results)
    seeds = {x: s for x, s in zip(w.wrt, seeded.seeds, strict=True) if s is not None}
    return seeded.graph, list(seeded.results), seeds


def make_plan(w: Workload) -> Plan:
    """The pruned, ordered plan of the workload's gradients (W6: of its H v) and loss,
    simplified as the service simplifies a program it plans."""
    return program(w)[0]


def program(w: Workload) -> tuple[Plan, dict[str, np.ndarray]]:
    """``make_plan``'s plan and what it is fed (W6: v too, under the name its one
    differentiation gave v's placeholder)."""
    user = Graph.build(w.nodes)
    fed = dict(w.arrays)
    if w.key == "W6":
        graph, grads, seeds = _hvp_graph(w)
        fed[seeds[w.wrt[0]]] = w.extra["v"]  # v is the vector along the one input, W2
    else:
        result = gradients(user, [w.loss], list(w.wrt))
        graph, grads = result.graph, list(result.grads)
    fetches = [*grads, (w.loss, 0)]
    simple, renamed = simplify(graph, fetches, protected=user.by_name, forward=True)
    return Plan(simple, [renamed[f] for f in fetches]), fed


def make_plan_runner(w: Workload) -> Runner:
    (plan, fed), n = program(w), len(w.wrt)
    return lambda: plan.run(fed)[:n]


def make_api_runner(w: Workload) -> Runner:
    graph = Graph.build(w.nodes)
    fed = dict(w.arrays)
    if w.key != "W6":
        wrt, loss = list(w.wrt), [w.loss]
        return lambda: compute_gradients(graph, fed, loss, wrt, return_values=True).gradients
    x, vectors, outputs = w.wrt[0], {w.wrt[0]: w.extra["v"]}, [w.loss]
    return lambda: [functional.hvp(graph, fed, vectors, outputs=outputs)["hvp"][x]]
