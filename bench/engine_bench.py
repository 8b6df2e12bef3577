"""Engine workloads W1-W6: ours against the numpy floor and each installed peer.

Every implementation's gradients are first checked against the floor (so that the peers
time the same function), then all are timed on warm callables in interleaved rounds.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import fusion

from . import floor, ours
from .peers import VARIANTS, PeerRun, version
from .timing import Stats, measure_interleaved
from .workloads import Workload

FLOOR, OURS_API, OURS_PLAN = "numpy floor", "ours (compute_gradients)", "ours (Plan.run)"
BUDGET_S = {"W3": 4.0, "W5": 3.0}  # per implementation; the slow ones get more, for reps


@dataclass
class Outcome:
    """One implementation on one workload: its timing, or why there is none."""

    stats: Stats | None = None
    note: str = ""
    compile_s: float | None = None
    max_rel_err: float | None = None


@dataclass
class WorkloadResult:
    workload: Workload
    outcomes: dict[str, Outcome]
    node_count: int | None = None


def _plain(run: Callable[[], list[np.ndarray]]) -> PeerRun:
    return PeerRun(run, lambda r: [np.asarray(a) for a in r])


def _warmed(run: Callable[[], list[np.ndarray]]) -> PeerRun:
    """Ours, run until its plan has fused (what a served graph reaches after a few
    requests), the time that took shown apart as a JIT's compile is."""
    t0 = time.perf_counter()
    for _ in range(fusion.FUSE_AFTER + 1):
        run()
    fusion.wait()
    return PeerRun(run, lambda r: [np.asarray(a) for a in r], time.perf_counter() - t0)


def implementations() -> list[tuple[str, Callable[[Workload], PeerRun], str | None]]:
    """(label, maker, why missing or None), ours and the floor first."""
    impls: list[tuple[str, Callable[[Workload], PeerRun], str | None]] = [
        (FLOOR, lambda w: _plain(floor.make(w)), None),
        (OURS_API, lambda w: _warmed(ours.make_api_runner(w)), None),
        (OURS_PLAN, lambda w: _warmed(ours.make_plan_runner(w)), None),
    ]
    for v in VARIANTS:
        _, missing = version(v.module)
        impls.append((v.label, v.make, f"missing ({missing})" if missing else None))
    return impls


def rel_err(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> float:
    """Largest |got - want| relative to the largest |want|, over all gradients."""
    if len(got) != len(want):
        raise ValueError(f"{len(got)} gradients for {len(want)}")
    worst = 0.0
    for g, r in zip(got, want, strict=True):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != r.shape:
            raise ValueError(f"gradient shape {g.shape}, expected {r.shape}")
        scale = max(float(np.max(np.abs(r))), 1e-30)
        worst = max(worst, float(np.max(np.abs(g - r))) / scale)
    return worst


def run_workload(w: Workload, budget_s: float | None = None, *, timed: bool = True,
                 tolerance: float = 2e-3, only: Sequence[str] | None = None) -> WorkloadResult:
    """All implementations on ``w``: checked against the floor, then timed."""
    budget = BUDGET_S.get(w.key, 1.2) if budget_s is None else budget_s
    want = [np.asarray(a, dtype=np.float64) for a in floor.make(w)()]
    result = WorkloadResult(w, {})
    try:
        result.node_count = ours.make_plan(w).node_count
    except Exception:  # an op the engine lacks: ours' rows below say which
        result.node_count = None
    runners: dict[str, Callable[[], Any]] = {}
    for label, make, missing in implementations():
        if only is not None and label not in only:
            continue
        if missing:
            result.outcomes[label] = Outcome(note=missing)
            continue
        result.outcomes[label], run = _checked(make, w, want, tolerance)
        if run is not None:
            runners[label] = run
    if timed and runners:
        for label, stats in measure_interleaved(runners, budget).items():
            result.outcomes[label].stats = stats
    return result


def _checked(make: Callable[[Workload], PeerRun], w: Workload, want: list[np.ndarray],
             tolerance: float) -> tuple[Outcome, Callable[[], Any] | None]:
    """Build one implementation and check its gradients; its runner if they are right."""
    try:
        peer = make(w)
        err = rel_err(peer.to_numpy(peer.run()), want)
    except Exception as exc:  # a peer or an op we lack: report it, go on with the rest
        return Outcome(note=f"error: {type(exc).__name__}: {str(exc)[:160]}"), None
    if err > tolerance:
        return Outcome(note=f"wrong: max relative error {err:.2e} vs the floor",
                       max_rel_err=err), None
    return Outcome(compile_s=peer.compile_s, max_rel_err=err), peer.run


def run_all(workloads: Sequence[Workload], log: Callable[[str], Any] = print,
            budget_s: float | None = None) -> list[WorkloadResult]:
    results = []
    for w in workloads:
        log(f"[engine] {w.key}: {w.title}")
        r = run_workload(w, budget_s)
        for label, o in r.outcomes.items():
            shown = (f"median {o.stats.median * 1e6:,.1f} us, p90 {o.stats.p90 * 1e6:,.1f} us, "
                     f"{o.stats.reps} reps" if o.stats else o.note)
            log(f"    {label:28s} {shown}")
        results.append(r)
    return results
