"""Gradserve's engine on each workload, two ways.

``api``: ``engine.compute_gradients`` on a built ``Graph`` (what the service calls: feed
checks, the content-keyed program cache, the plan run). ``plan``: the cached ``engine.Plan``
run directly, which isolates the engine's arithmetic loop. Both fetch the loss as well as
the gradients: the engine prunes what no fetch needs, and "forward + full gradient" means
the forward is computed, as every peer does.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine import Graph, GraphBuilder, Plan, compute_gradients, gradients

from .workloads import Workload

Runner = Callable[[], list[np.ndarray]]


def _hvp_graph(w: Workload) -> tuple[Graph, list[Any]]:
    """The graph of H v: the gradient wrt W2, differentiated again with ``v`` as its seed."""
    graph = Graph.build(w.nodes)
    first = gradients(graph, [w.loss], list(w.wrt))
    b = GraphBuilder(first.graph)
    v = w.extra["v"]
    b.placeholder("v", list(v.shape), v.dtype.name)
    seeded = b.finish()
    second = gradients(seeded, [first.grads[0]], list(w.wrt), grad_ys=[("v", 0)],
                       name="hvp")
    return second.graph, list(second.grads)


def make_plan(w: Workload) -> Plan:
    """The pruned, ordered plan of the workload's gradients (W6: of its H v) and loss."""
    if w.key == "W6":
        graph, grads = _hvp_graph(w)
    else:
        result = gradients(Graph.build(w.nodes), [w.loss], list(w.wrt))
        graph, grads = result.graph, list(result.grads)
    return Plan(graph, [*grads, (w.loss, 0)])


def feeds(w: Workload) -> dict[str, np.ndarray]:
    out = dict(w.arrays)
    if w.key == "W6":
        out["v"] = w.extra["v"]
    return out


def make_plan_runner(w: Workload) -> Runner:
    plan, fed, n = make_plan(w), feeds(w), len(w.wrt)
    return lambda: plan.run(fed)[:n]


def make_api_runner(w: Workload) -> Runner:
    graph = Graph.build(w.nodes)
    fed = dict(w.arrays)
    if w.key != "W6":
        wrt, loss = list(w.wrt), [w.loss]
        return lambda: compute_gradients(graph, fed, loss, wrt, return_values=True).gradients
    first = compute_gradients(graph, fed, [w.loss], list(w.wrt), return_graph=True)
    assert first.graph is not None and first.gradient_nodes is not None
    g2, grad_name, seed = first.graph, [first.gradient_nodes[0]], [w.extra["v"]]
    wrt = list(w.wrt)
    return lambda: compute_gradients(g2, fed, grad_name, wrt, seed,
                                     return_values=True).gradients
