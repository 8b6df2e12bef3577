"""The control-flow row: the gradient of a 50-step tanh RNN written as a ``while_loop``.

It is the loop whose gradients TensorFlow 2.21 answered for the peer case
(``tests/peers/scenarios_cf.py``, ``control_flow_tf.json``): loss = sum((h_50 - target)^2),
h_{t+1} = tanh(h_t W + x_t U + b), gradients w.r.t. h0, W, U, b and xs. Ours (the engine's
compute_gradients, and its compiled gradient plan alone) against a hand-written numpy
backpropagation through time (the floor), PyTorch eager (a Python loop under autograd),
JAX ``jit(grad)`` of ``lax.scan`` and TensorFlow graph mode where installed (here, or in
the interpreter ``GRADSERVE_TF_PYTHON`` names: ``bench/rnn_tf.py``). Every
implementation's gradients are checked against the floor before anything is timed.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import rnn_tf
from .engine_bench import Outcome, rel_err
from .peers import version
from .report import ratio, table, us
from .timing import Stats, first_call, measure_interleaved

ORDER = rnn_tf.ORDER


PEER_DIMS = (2, 3, 4)  # the peer case's batch, inputs and units
LONG = {"steps": 800, "dims": (32, 64, 16)}  # a sequence where O(T) against O(T^2) shows


@dataclass
class RnnResult:
    steps: int
    dims: tuple[int, int, int] = PEER_DIMS
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def problem(steps: int, dims: tuple[int, int, int] = PEER_DIMS
            ) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray]:
    """The peer case's graph description (``dims``: batch, inputs, units; the peer case's
    by default), its feeds (float64) and the target."""
    from tests.peers.scenarios_cf import _rnn

    nodes, given = _rnn(steps, *dims)
    feeds = {k: np.asarray(v, dtype=np.float64) for k, v in given.items()}
    target = next(n for n in nodes if n["name"] == "target")["value"]
    return {"nodes": nodes}, feeds, np.asarray(target, dtype=np.float64)


def _floor(feeds: dict[str, np.ndarray], target: np.ndarray) -> Callable[[], list[Any]]:
    h0, xs, w, u, b = (feeds[k] for k in ("h0", "xs", "W", "U", "b"))

    def run() -> list[Any]:
        hs = [h0]
        for x in xs:
            hs.append(np.tanh(hs[-1] @ w + x @ u + b))
        g = 2 * (hs[-1] - target)
        gw, gu, gb, gxs = np.zeros_like(w), np.zeros_like(u), np.zeros_like(b), \
            np.zeros_like(xs)
        for t in range(len(xs) - 1, -1, -1):
            gs = g * (1 - hs[t + 1] ** 2)
            gw += hs[t].T @ gs
            gu += xs[t].T @ gs
            gb += gs.sum(axis=0)
            gxs[t] = gs @ u.T
            g = gs @ w.T
        return [g, gw, gu, gb, gxs]

    return run


def _ours(graph: dict[str, Any], feeds: dict[str, np.ndarray]) -> dict[str, Callable[[], Any]]:
    from engine import Graph, Plan, compute_gradients, gradients

    g = Graph.from_description(graph)
    xs = list(ORDER)
    grads = gradients(g, ["loss"], xs)
    plan = Plan(grads.graph, [r for r in grads.grads if r is not None])
    return {"ours (compute_gradients)": lambda: compute_gradients(
                g, feeds, ["loss"], xs, return_values=True).gradients,
            "ours (Plan.run)": lambda: plan.run(feeds)}


def _torch(feeds: dict[str, np.ndarray], target: np.ndarray) -> Callable[[], Any]:
    import torch

    ts = {k: torch.from_numpy(v.copy()) for k, v in feeds.items()}
    tgt = torch.from_numpy(target.copy())

    def run() -> Any:
        leaves = [ts[k].detach().requires_grad_(True) for k in ORDER]
        h, w, u, b, xs = leaves
        for t in range(xs.shape[0]):
            h = torch.tanh(h @ w + xs[t] @ u + b)
        loss = ((h - tgt) ** 2).sum()
        return torch.autograd.grad(loss, leaves)

    return run


def _jax(feeds: dict[str, np.ndarray], target: np.ndarray) -> Callable[[], Any]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(h0: Any, w: Any, u: Any, b: Any, xs: Any) -> Any:
        def cell(h: Any, x: Any) -> tuple[Any, None]:
            return jnp.tanh(h @ w + x @ u + b), None

        h, _ = jax.lax.scan(cell, h0, xs)
        return jnp.sum((h - target) ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3, 4)))
    args = [jnp.asarray(feeds[k]) for k in ORDER]
    return lambda: jax.block_until_ready(grad(*args))


TF_LABEL = "TensorFlow tf.function (while_loop)"
PEERS = (("PyTorch eager", "torch", _torch), ("JAX jit(grad(lax.scan))", "jax", _jax),
         (TF_LABEL, "tensorflow", rnn_tf.tensorflow_grads))


def _tensorflow_apart(steps: int, budget_s: float | None, timed: bool,
                      want: list[np.ndarray]) -> Outcome:
    """TensorFlow in the interpreter ``GRADSERVE_TF_PYTHON`` names, timed alone there."""
    python = os.environ.get(rnn_tf.ENV)
    if not python:
        return Outcome(note=f"missing (not importable here; set {rnn_tf.ENV} to a python "
                            "with tensorflow)")
    try:
        got = rnn_tf.in_subprocess(python, steps, budget_s if timed else None)
    except Exception as exc:  # a peer that fails is reported, never fatal
        return Outcome(note=f"{type(exc).__name__}: {exc}")
    err = rel_err([np.asarray(a) for a in got["grads"]], want)
    o = Outcome(compile_s=got["compile_s"], max_rel_err=err,
                note=f"tensorflow {got['version']} via {rnn_tf.ENV}, timed alone in its own "
                     "process (not interleaved)")
    if err > 1e-8:
        o.note = f"disagrees with the floor ({err:.1e})"
    elif "median" in got:
        o.stats = Stats(got["median"], got["p90"], got["reps"])
    return o


def run(log: Callable[[str], None], steps: int = 50, budget_s: float | None = 1.5, *,
        timed: bool = True, dims: tuple[int, int, int] = PEER_DIMS) -> RnnResult:
    graph, feeds, target = problem(steps, dims)
    floor = _floor(feeds, target)
    want = [np.asarray(a) for a in floor()]
    fns: dict[str, Callable[[], Any]] = {"numpy floor (hand-written BPTT)": floor}
    result = RnnResult(steps, dims)
    makers: list[tuple[str, str | None, Callable[[], dict[str, Callable[[], Any]]]]] = [
        ("ours", None, lambda: _ours(graph, feeds))]
    makers += [(label, module, lambda m=make, label=label: {label: m(feeds, target)})
               for label, module, make in PEERS]
    for label, module, make in makers:
        missing = version(module)[1] if module else None
        if missing and label == TF_LABEL and dims == PEER_DIMS:
            result.outcomes[label] = _tensorflow_apart(steps, budget_s, timed, want)
            continue
        if missing:
            result.outcomes[label] = Outcome(note=f"missing ({missing})" if dims == PEER_DIMS
                                             else f"missing ({missing}); run apart only "
                                             "for the peer case's sizes")
            continue
        try:
            for name, fn in make().items():
                compile_s = first_call(fn) if "jit" in name or "function" in name else None
                err = rel_err([np.asarray(a) for a in fn()], want)
                result.outcomes[name] = Outcome(compile_s=compile_s, max_rel_err=err)
                if err > 1e-8:
                    result.outcomes[name].note = f"disagrees with the floor ({err:.1e})"
                else:
                    fns[name] = fn
        except Exception as exc:  # a peer that fails is reported, never fatal
            result.outcomes[label] = Outcome(note=f"{type(exc).__name__}: {exc}")
    result.outcomes = {"numpy floor (hand-written BPTT)": Outcome(max_rel_err=0.0),
                       **result.outcomes}
    if timed and budget_s:
        log(f"[rnn] timing {len(fns)} implementations of the {steps}-step RNN gradient")
        for name, stats in measure_interleaved(fns, budget_s).items():
            result.outcomes[name].stats = stats
    return result


def section(r: RnnResult) -> str:
    """RESULTS.md's control-flow table."""
    ours = r.outcomes.get("ours (compute_gradients)")
    mine = ours.stats.median if ours and ours.stats else None
    rows = []
    for label, o in r.outcomes.items():
        m = o.stats.median if o.stats else None
        rows.append([label, us(m), us(o.stats.p90 if o.stats else None), ratio(mine, m),
                     "" if o.compile_s is None else f"{o.compile_s:.2f} s",
                     "" if o.max_rel_err is None else f"{o.max_rel_err:.1e}", o.note])
    head = ["implementation", "median us", "p90 us", "ours / this", "first call (apart)",
            "max rel err vs floor", "note"]
    batch, inputs, units = r.dims
    if r.dims != PEER_DIMS:
        return (f"\n### The same RNN over {r.steps} steps, batch {batch}, {inputs} inputs, "
                f"{units} units\n\nWhat grows with the sequence: each step's work and the "
                "rows of xs's cotangent, added back once after the backward loop (a "
                "running sum of a full-size gather_grad per step, what the engine did "
                "before, is O(T^2 row)); the same implementations, interleaved.\n\n"
                + table(head, rows) + "\n")
    return (f"\n## Control flow: the gradient of a {r.steps}-step tanh RNN (while_loop)\n\n"
            f"h_{{t+1}} = tanh(h_t W + x_t U + b), batch {batch}, {inputs} inputs, {units} "
            "units; the gradient of "
            "sum((h - target)^2) w.r.t. h0, W, U, b and xs (TensorFlow 2.21's answer is the "
            "peer case in tests/peers/cases/control_flow_tf.json). Ours is the engine's "
            "while_loop gradient: the one forward loop keeps its rows and the tanh its "
            "VJP reads (while_v2's accumulators), and a backward while_loop runs over "
            "them without running the forward body again (saving xs's cotangent "
            "per step as rows, added back by one gather_grad after it), each loop one "
            "generated function with its cond and body inlined (engine/loops.py); "
            "float64 everywhere.\n\n" + table(head, rows) + "\n")


if __name__ == "__main__":  # this row alone: python -m bench.rnn_bench
    import sys

    print(section(run(lambda text: print(text, file=sys.stderr))))
