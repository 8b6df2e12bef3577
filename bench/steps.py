"""Where an engine workload's time goes: each plan step timed on its own, and the layers
around the steps (``Plan.run``'s feed checks and loop, ``compute_gradients``' bookkeeping).

The step loop below mirrors ``Plan.run`` on the plan's compiled steps; it reads the plan's
private fields on purpose (a measuring tool, not a second engine; it reads only the leading
fields of each feed and step, so that the plan may grow more), and skips nothing the
arithmetic needs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import ours
from .workloads import Workload


@dataclass
class StepTime:
    node: str
    kernel: str
    seconds: float


@dataclass
class Breakdown:
    steps: list[StepTime]
    steps_total: float  # the sum of the steps' own times
    plan_run: float  # Plan.run, median per call
    api: float  # compute_gradients, median per call


def _median_call(fn, reps: int) -> float:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return float(np.median(samples)) * 1e-9


def breakdown(w: Workload, reps: int = 200) -> Breakdown:
    plan, fed = ours.program(w)
    plan.run(fed)
    steps = plan._steps
    samples = np.zeros((reps, len(steps)))
    clock = time.perf_counter_ns
    for r in range(reps):
        slots = list(plan._initial)
        for feed in plan._feeds:  # (name, slot, ...): only the first two are read
            if feed[0] in fed:
                slots[feed[1]] = fed[feed[0]]
        row = samples[r]
        for i, (fn, ins, out, *_rest) in enumerate(steps):
            t0 = clock()
            slots[out] = fn(*[slots[j] for j in ins])
            row[i] = clock() - t0
    totals = np.median(samples, axis=0) * 1e-9
    rows = [StepTime(plan._step_nodes[i], _kernel_name(steps[i][0]), float(totals[i]))
            for i in np.argsort(-totals)]
    api = ours.make_api_runner(w)
    return Breakdown(rows, float(totals.sum()), _median_call(lambda: plan.run(fed), reps),
                     _median_call(api, reps))


def _kernel_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return str(name or type(fn).__name__)
