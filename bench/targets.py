"""The issue's targets, judged from one run's figures (reported, never enforced)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .codec_bench import CodecResult
from .cold_path import per_emitted_node_us
from .engine_bench import FLOOR, OURS_API, OURS_PLAN, WorkloadResult
from .service_bench import Load

TORCH = "PyTorch eager"
JAX = "JAX jit(grad)"
PER_NODE_LIMIT_S = 2e-6


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: could not be measured

    @property
    def mark(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.met]


def median(results: Sequence[WorkloadResult], key: str, impl: str) -> float | None:
    for r in results:
        if r.workload.key == key:
            o = r.outcomes.get(impl)
            return o.stats.median if o is not None and o.stats is not None else None
    return None


def _ratio(results: Sequence[WorkloadResult], key: str, peer: str, limit: float,
           text: str) -> Verdict:
    api, plan, other = (median(results, key, OURS_API), median(results, key, OURS_PLAN),
                        median(results, key, peer))
    if api is None or other is None:
        return Verdict(text, "missing", None)
    shown = f"compute_gradients {api / other:.2f}x"
    if plan is not None:
        shown += f" (Plan.run {plan / other:.2f}x)"
    return Verdict(text, shown, api / other <= limit)


def per_node(results: Sequence[WorkloadResult]) -> tuple[float, float, int] | None:
    """W4's (seconds per plan step via compute_gradients, via Plan.run, step count)."""
    for r in results:
        if r.workload.key == "W4" and r.node_count:
            api, plan = median(results, "W4", OURS_API), median(results, "W4", OURS_PLAN)
            if api is not None and plan is not None:
                return api / r.node_count, plan / r.node_count, r.node_count
    return None


def rps(loads: Sequence[Load], server: str, request: str, connections: int) -> float | None:
    for x in loads:
        if (x.server, x.request, x.connections) == (server, request, connections):
            return x.rps
    return None


def paired_median(paired: dict[str, list[float]] | None, server: str) -> float | None:
    runs = (paired or {}).get(server) or []
    return float(np.median(runs)) if runs else None


def judge(results: Sequence[WorkloadResult], loads: Sequence[Load],
          codec: Sequence[CodecResult],
          paired: dict[str, list[float]] | None = None) -> list[Verdict]:
    """Each target's verdict. The service targets use the interleaved rounds' medians
    when there are some (else the sweep's single run at 32 connections)."""
    out = [_ratio(results, "W1", TORCH, 0.5, "W1 <= 0.5x PyTorch eager"),
           _ratio(results, "W2", FLOOR, 1.1, "W2 <= 1.1x the numpy floor"),
           _ratio(results, "W3", FLOOR, 1.05, "W3 <= 1.05x the numpy floor"),
           _ratio(results, "W4", TORCH, 1.0, "W4 <= 1.0x PyTorch eager")]
    pn = per_node(results)
    out.append(Verdict("W4 per-node overhead <= 2 us", "missing", None) if pn is None else
               Verdict("W4 per-node overhead <= 2 us",
                       f"{pn[0] * 1e6:.2f} us/step via compute_gradients "
                       f"({pn[1] * 1e6:.2f} via Plan.run), {pn[2]} steps",
                       pn[0] <= PER_NODE_LIMIT_S))
    out += _seed(loads, paired, (("hand-written FastAPI", 0.6), ("Tesseract", 3.0)))
    by_form = {c.form: c for c in codec}
    nested, b64 = by_form.get("nested"), by_form.get("base64")
    text = "1M base64 decodes >= 8x faster than nested"
    if nested is None or b64 is None or nested.decode is None or b64.decode is None:
        out.append(Verdict(text, "missing", None))
    else:
        speedup = nested.decode.median / b64.decode.median
        out.append(Verdict(text, f"{nested.decode.median * 1e3:.1f} ms / "
                           f"{b64.decode.median * 1e3:.1f} ms = {speedup:.1f}x", speedup >= 8))
    return out


def _seed(loads: Sequence[Load], paired: dict[str, list[float]] | None,
          limits: Sequence[tuple[str, float]]) -> list[Verdict]:
    """The seed request's throughput at 32 connections against each peer's."""
    how = f"median of {len((paired or {}).get('Gradserve') or [])} interleaved runs"
    ours = paired_median(paired, "Gradserve")
    if ours is None:
        how, ours = "one run", rps(loads, "Gradserve", "seed (W1)", 32)
    out = []
    for peer, limit in limits:
        other = paired_median(paired, peer) if how != "one run" else None
        if other is None:
            other = rps(loads, peer, "seed (W1)", 32)
        text = f"seed request >= {limit:g}x {peer} at 32 connections"
        out.append(Verdict(text, "missing", None) if ours is None or other is None else
                   Verdict(text, f"{ours:,.0f} / {other:,.0f} req/s = {ours / other:.2f}x "
                           f"({how})", ours / other >= limit))
    return out


def _stated(target: str) -> tuple[str, float] | None:
    """A functional row's target text ("<= 1.5", ">= 10") as (comparison, bound)."""
    parts = target.split()
    if len(parts) == 2 and parts[0] in ("<=", ">="):
        return parts[0], float(parts[1])
    return None


def judge_round2(results: Sequence[WorkloadResult], loads: Sequence[Load],
                 paired: dict[str, list[float]] | None, functional: Sequence[Any],
                 stages: dict[str, Any] | None, cold: dict[str, float] | None
                 ) -> list[Verdict]:
    """Issue 13's and issue 8's targets (round 2), from the same run's figures."""
    out = [_ratio(results, "W1", JAX, 1.0, f"W1 <= 1.0x {JAX}"),
           _ratio(results, "W2", FLOOR, 1.0, "W2 <= 1.0x the numpy floor"),
           _ratio(results, "W3", JAX, 0.5, f"W3 <= 0.5x {JAX}"),
           _ratio(results, "W4", JAX, 3.0, f"W4 <= 3x {JAX}"),
           _ratio(results, "W5", TORCH, 1.2, "W5 <= 1.2x PyTorch eager"),
           _ratio(results, "W6", FLOOR, 1.1, "W6 <= 1.1x the numpy floor")]
    for row in functional:
        for what, (value, target) in row.ratios.items():
            stated = _stated(target)
            if stated is not None:
                op, bound = stated
                out.append(Verdict(f"{row.key} {what} {target}", f"{value:.2f}",
                                   value <= bound if op == "<=" else value >= bound))
    out += _seed(loads, paired, (("hand-written FastAPI", 1.0), ("Tesseract", 5.0)))
    text = "W2 over HTTP <= 1.5x in-process + 0.3 ms (one connection)"
    if stages is None:
        out.append(Verdict(text, "missing", None))
    else:
        http, inproc = stages["http"]["wall"], stages["engine"]
        out.append(Verdict(text, f"{http:.2f} ms vs {inproc:.2f} ms in-process "
                           f"(limit {1.5 * inproc + 0.3:.2f} ms)", http <= 1.5 * inproc + 0.3))
        cold_wall = stages["chain"]["cold"]["wall"] / 1e3
        out.append(Verdict("100k-node chain cold over HTTP <= 1.5 s", f"{cold_wall:.2f} s",
                           cold_wall <= 1.5))
    text = "differentiate + plan <= 5 us per emitted node"
    if cold is None:
        out.append(Verdict(text, "missing", None))
    else:
        us = per_emitted_node_us(cold)
        out.append(Verdict(text, f"{us:.1f} us (the chain, in-process)", us <= 5.0))
    return out


def table(verdicts: Sequence[Verdict]) -> str:
    rows = [f"| {v.target} | {v.measured} | {v.mark} |" for v in verdicts]
    return "| target | measured | verdict |\n|---|---|---|\n" + "\n".join(rows) + "\n"
