"""The cold path in-process: what building, differentiating, simplifying and planning a
100,000-node chain cost per node, stage by stage (issue 13's "<= 5 us per emitted node").

``python -m bench.cold_path`` prints the stages (``--json``: as JSON); ``bench.run`` puts
them in RESULTS.md, measured in a process of their own (``run_apart``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import Graph, collector
from engine.autodiff import gradients
from engine.plan import Plan
from engine.simplify import simplify

from .http_stages import CHAIN_NODES

STAGES = ("from_description", "gradients", "simplify", "plan")


def run(length: int = CHAIN_NODES, log: Callable[[str], Any] = print) -> dict[str, float]:
    """Seconds of each stage, once, cold (nothing cached), and the node counts; the cyclic
    collector paused throughout, as the service has it (``Graph.build`` and the engine's
    program making are ``collector.pausing``; a worker pauses it for the whole request):
    with it running, its full walks over the chain's new objects were most of the time."""
    from tests.engine.test_chain import _chain

    with collector.paused():
        return _stages({"nodes": _chain(length)}, log)


def run_apart(log: Callable[[str], Any] = print) -> dict[str, float]:
    """``run`` in a fresh interpreter, as a service worker meets the chain, not in the
    bench's own process, whose heap by then holds torch, JAX and every earlier table."""
    done = subprocess.run([sys.executable, "-m", "bench.cold_path", "--json"], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    for line in done.stderr.splitlines():
        log(line)
    return json.loads(done.stdout)


def _stages(description: dict[str, Any], log: Callable[[str], Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    t = time.perf_counter()
    graph = Graph.from_description(description)
    out["from_description"] = time.perf_counter() - t
    y = graph.nodes[-1].name
    t = time.perf_counter()
    result = gradients(graph, [y], ["x"])
    out["gradients"] = time.perf_counter() - t
    grads = [g for g in result.grads if g is not None]
    t = time.perf_counter()
    # as engine.compute_gradients simplifies a graph it plans at once (api._make_program:
    # the plan, not a returned graph, so forward rules apply and the plan drops the dead)
    simple, renamed = simplify(result.graph, grads, protected=graph.by_name, forward=True,
                               prune=False)
    out["simplify"] = time.perf_counter() - t
    t = time.perf_counter()
    Plan(simple, [renamed[g] for g in grads])
    out["plan"] = time.perf_counter() - t
    out["forward nodes"] = len(graph.nodes)
    out["emitted nodes"] = len(result.graph.nodes) - len(graph.nodes)
    out["planned nodes"] = len(simple.nodes)
    log("[cold] " + ", ".join(f"{s} {out[s]:.2f} s" for s in STAGES)
        + f"; {out['emitted nodes']:,.0f} emitted nodes")
    return out


def per_emitted_node_us(figures: dict[str, float]) -> float:
    """Differentiate + simplify + plan, microseconds per emitted gradient node."""
    return (figures["gradients"] + figures["simplify"] + figures["plan"]) \
        / figures["emitted nodes"] * 1e6


def section(figures: dict[str, float]) -> str:
    n = figures["forward nodes"]
    rows = [f"| {s} | {figures[s]:.2f} | {figures[s] / n * 1e6:.1f} |" for s in STAGES]
    return ("\n### The cold path in-process\n\n"
            f"The {n:,.0f}-node chain built, differentiated ({figures['emitted nodes']:,.0f} "
            f"emitted gradient nodes), simplified as compute_gradients does it ("
            f"{figures['planned nodes']:,.0f} nodes, the plan dropping the dead ones) "
            "and planned once, nothing cached, in a fresh process of its own (as a service "
            "worker meets it), not the bench's. Differentiate + simplify + plan: "
            f"{per_emitted_node_us(figures):.1f} us per emitted node (target <= 5).\n\n"
            "| stage | s | us per forward node |\n|---|---|---|\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    if "--json" in sys.argv[1:]:
        print(json.dumps(run(log=lambda line: print(line, file=sys.stderr))))
    else:
        print(section(run()))
