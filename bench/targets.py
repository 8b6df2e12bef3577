"""The issue's targets, judged from one run's figures (reported, never enforced)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .codec_bench import CodecResult
from .engine_bench import FLOOR, OURS_API, OURS_PLAN, WorkloadResult
from .service_bench import Load

TORCH = "PyTorch eager"
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
    how = f"median of {len((paired or {}).get('Gradserve') or [])} interleaved runs"
    ours = paired_median(paired, "Gradserve")
    if ours is None:
        how, ours = "one run", rps(loads, "Gradserve", "seed (W1)", 32)
    for peer, limit in (("hand-written FastAPI", 0.6), ("Tesseract", 3.0)):
        other = paired_median(paired, peer) if how != "one run" else None
        if other is None:
            other = rps(loads, peer, "seed (W1)", 32)
        text = f"seed request >= {limit:g}x {peer} at 32 connections"
        out.append(Verdict(text, "missing", None) if ours is None or other is None else
                   Verdict(text, f"{ours:,.0f} / {other:,.0f} req/s = {ours / other:.2f}x "
                           f"({how})", ours / other >= limit))
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
