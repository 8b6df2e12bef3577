"""RESULTS.md: the run's environment, the targets, and every figure with its unit and what
it is compared with. The same text is printed at the end of ``make bench``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .codec_bench import CodecResult
from .engine_bench import FLOOR, OURS_API, OURS_PLAN, WorkloadResult
from .service_bench import MODEL_ROWS, Load
from .steps import Breakdown
from .targets import TORCH, Verdict, rps


def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def us(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e6:,.1f}"


def ratio(a: float | None, b: float | None) -> str:
    return "" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def engine_section(results: Sequence[WorkloadResult]) -> str:
    parts = ["## Engine workloads\n",
             "Forward + full gradient (W6: forward + Hessian-vector product) on warm, "
             "pre-converted float32 inputs; wall time per call in microseconds, median and "
             "p90 over `reps` calls. Ratios are ours / that implementation (below 1: ours is "
             "faster); `api` = `engine.compute_gradients` (what the service calls), `plan` = "
             "the cached `engine.Plan.run`. Every implementation's gradients were checked "
             "against the numpy floor first (max relative error shown). Ours is run past "
             "the runs after which a plan fuses its elementwise chains (engine/fusion.py) "
             "before timing, as a served graph is after a few requests; its \"JIT compile\" "
             "is that warm-up, the fusion's compile included (bench/FUSION.md).\n"]
    for r in results:
        w = r.workload
        api = r.outcomes.get(OURS_API)
        plan = r.outcomes.get(OURS_PLAN)
        a = api.stats.median if api and api.stats else None
        p = plan.stats.median if plan and plan.stats else None
        rows = []
        for label, o in r.outcomes.items():
            m = o.stats.median if o.stats else None
            rows.append([label, us(m), us(o.stats.p90 if o.stats else None),
                         o.stats.reps if o.stats else "", ratio(a, m), ratio(p, m),
                         "" if o.compile_s is None else f"{o.compile_s * 1e3:,.0f} ms",
                         "" if o.max_rel_err is None else f"{o.max_rel_err:.0e}",
                         o.note])
        steps = f"; {r.node_count} plan steps" if r.node_count else ""
        parts.append(f"### {w.key}: {w.title}{steps}\n")
        parts.append(table(["implementation", "median us", "p90 us", "reps", "api / this",
                            "plan / this", "JIT compile (apart)", "max rel err", "note"], rows))
        parts.append("")
    return "\n".join(parts)


def steps_section(breakdowns: dict[str, Breakdown], top: int = 8) -> str:
    """Per workload: the costliest plan steps, and what the layers around them add."""
    if not breakdowns:
        return ""
    parts = ["## Where the engine's time goes\n",
             "Each plan step timed on its own (median over the reps, in us, including "
             "about 0.1 us of the timer itself), the costliest first; then the layers: "
             "the sum of all steps, `Plan.run` (adds feed checks, errstate, the loop), "
             "`compute_gradients` (adds the program-cache key, feed-name checks, result "
             "assembly).\n"]
    for key, b in breakdowns.items():
        rows = [[s.node, s.kernel, f"{s.seconds * 1e6:,.1f}",
                 f"{s.seconds / b.steps_total * 100:.0f}%" if b.steps_total else ""]
                for s in b.steps[:top]]
        parts.append(f"### {key}: {len(b.steps)} steps\n")
        parts.append(table(["step (node)", "kernel", "us", "share of steps"], rows))
        parts.append(f"\nsteps {b.steps_total * 1e6:,.1f} us; Plan.run {b.plan_run * 1e6:,.1f} "
                     f"us ({(b.plan_run - b.steps_total) * 1e6:+,.1f}); compute_gradients "
                     f"{b.api * 1e6:,.1f} us ({(b.api - b.plan_run) * 1e6:+,.1f})\n")
    return "\n".join(parts)


def models_note(loads: Sequence[Load]) -> str:
    """The W2 model named per request vs its graph (weights included) sent per request."""
    named, inline = MODEL_ROWS
    rows = [[x.connections, ratio(x.rps, rps(loads, "Gradserve", inline, x.connections))]
            for x in loads if x.server == "Gradserve" and x.request == named]
    if not rows:
        return ""
    return ("\n`" + named + "` and `" + inline + "`: the W2 MLP with its weights' values, "
            "registered once (`--model-repository`) and named by each request, or sent whole "
            "with each request (about 1.1 MB of JSON, parsed and hashed per request, then "
            "found in the graph cache). Registered / inline req/s:\n\n"
            + table(["connections", "registered / inline"], rows) + "\n")


def service_section(loads: Sequence[Load], info: dict[str, Any]) -> str:
    parts = ["## Service under load\n",
             f"Driven by `{info.get('tool')}` from a separate process over loopback, one "
             "bounded run per row (time-bounded; a request cap as a safety). req/s is "
             "2xx answers per second (a fast 429 is not throughput); p50/p99 are latencies "
             "in ms; errors are socket errors plus non-2xx answers. Ratios are Gradserve / "
             "the baseline at the same request and connection count.\n"]
    rows = []
    for x in loads:
        base = rps(loads, "hand-written FastAPI", _baseline_request(x.request), x.connections)
        tess = rps(loads, "Tesseract", "seed (W1)" if x.request == "seed (W1)" else
                   "GET /health" if x.request == "GET /healthz" else "", x.connections)
        ours = x.server == "Gradserve"
        rows.append([x.server, x.request, x.connections,
                     "" if x.rps is None else f"{x.rps:,.1f}",
                     "" if x.p50 is None else f"{x.p50 * 1e3:.2f}",
                     "" if x.p99 is None else f"{x.p99 * 1e3:.2f}",
                     "" if x.errors is None else x.errors,
                     ratio(x.rps, base) if ours else "", ratio(x.rps, tess) if ours else "",
                     x.note])
    parts.append(table(["server", "request", "connections", "req/s", "p50 ms", "p99 ms",
                        "errors", "vs hand-written", "vs Tesseract", "note"], rows))
    parts.append(models_note(loads))
    paired = info.get("paired") or {}
    if paired:
        parts.append("\nThe targets' case, `seed (W1)` at 32 connections, in interleaved "
                     "rounds (the servers take turns, the order rotating each round), so that "
                     "a busy spell on the shared machine hits each alike; the verdicts use "
                     "the medians.\n")
        cpu = info.get("paired_cpu") or {}

        def per_request(name: str, k: int) -> str:
            runs = cpu.get(name) or []
            return f"{np.median([r[k] for r in runs]) * 1e6:,.0f}" if runs else ""

        parts.append(table(["server", "req/s per round", "median req/s",
                            "main process CPU us/request", "its other processes CPU us/request"],
                           [[name, ", ".join(f"{x:,.0f}" for x in runs),
                             f"{np.median(runs):,.0f}" if runs else "",
                             per_request(name, 0), per_request(name, 1)]
                            for name, runs in paired.items()]))
        parts.append("\nCPU per request is the server's own CPU time over the run divided by "
                     "its answers: a main process near one core's worth (1e6 / req/s) is the "
                     "bottleneck.\n")
    check = info.get("fallback_check") or []
    if check:
        parts.append("\nLoad tool check (against Gradserve's /healthz, the framework "
                     "ceiling): if the Python fallback reached fewer req/s than wrk, then "
                     "it, not the server, was the bottleneck there.\n")
        parts.append(table(["tool", "connections", "req/s", "p50 ms", "p99 ms"],
                           [[x.tool, x.connections, "" if x.rps is None else f"{x.rps:,.1f}",
                             "" if x.p50 is None else f"{x.p50 * 1e3:.2f}",
                             "" if x.p99 is None else f"{x.p99 * 1e3:.2f}"] for x in check]))
    return "\n".join(parts) + "\n"


def _baseline_request(request: str) -> str:
    return request if request in ("GET /healthz", "seed (W1)") else ""


def codec_section(codec: Sequence[CodecResult]) -> str:
    rows = []
    for c in codec:
        rows.append([c.form, f"{c.wire_bytes / 1e6:.2f}" if c.wire_bytes else "",
                     "" if c.decode is None else f"{c.decode.median * 1e3:.1f}",
                     "" if c.decode is None else f"{c.mb_per_s(c.decode):,.0f}",
                     "" if c.encode is None else f"{c.encode.median * 1e3:.1f}",
                     "" if c.encode is None else f"{c.mb_per_s(c.encode):,.0f}", c.note])
    return ("## Codec\n\n`service/codec.py` on a 1,000,000-element float32 tensor. Decode: "
            "request bytes -> `orjson.loads` -> `codec.decode`; encode: `codec.encode` -> "
            "`orjson.dumps`. MB/s counts the tensor's 4 MB (not the wire bytes); ms is the "
            "median per call.\n\n" +
            table(["form", "wire MB", "decode ms", "decode MB/s", "encode ms", "encode MB/s",
                   "note"], rows) + "\n")


def render(env: dict[str, Any], verdicts: Sequence[Verdict],
           results: Sequence[WorkloadResult], loads: Sequence[Load], info: dict[str, Any],
           codec: Sequence[CodecResult], elapsed_s: float,
           breakdowns: dict[str, Breakdown] | None = None) -> str:
    head = ["# Gradserve benchmarks\n",
            "Written by `make bench` (`python -m bench`); every figure below comes from this "
            f"one run, which took {elapsed_s:.0f} s. Targets are reported, never enforced.\n",
            "## Machine\n", table(["what", "value"], [[k, v] for k, v in env.items()]), "",
            "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE: what the machine set is shown above; "
            "`python -m bench` removes both for its run (they force an older kernel on "
            "numpy's GEMMs, ~2x slower here) unless `--keep-openblas-env`, and the kernel "
            "OpenBLAS then picked is shown. The floor and Gradserve use "
            "numpy's BLAS above; PyTorch uses its own (MKL), JAX uses XLA's CPU backend. "
            f"Threads per library: {env.get('threads per library', 'library defaults')} "
            "(the servers inherit the same setting). Other processes on the machine share "
            "its 2 cores: the load averages at start and end say how busy it was.\n",
            "## Targets\n",
            table(["target", "measured", "verdict"],
                  [[v.target, v.measured, v.mark] for v in verdicts]), "",
            f"W1 and W4 compare with `{TORCH}`; W2 and W3 with `{FLOOR}`. The verdict uses "
            "`engine.compute_gradients`; `Plan.run` is shown beside it.\n"]
    return "\n".join([*head, engine_section(results), steps_section(breakdowns or {}),
                      codec_section(codec),
                      service_section(loads, info)])
