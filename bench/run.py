"""Every benchmark in one run, written to RESULTS.md (entered from ``bench/__main__.py``).

Order: peers that need installing first (untimed), then the engine workloads, the codec,
and the service under load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import (
    codec_bench,
    cold_path,
    conv_floor,
    engine_bench,
    environment,
    functional_bench,
    http_stages,
    onnx_bench,
    report,
    rnn_bench,
    service_bench,
    steps,
    targets,
)
from .workloads import WORKLOADS, make_all

PROFILED = ("W1", "W2", "W4", "W5")  # the workloads whose steps RESULTS.md breaks down


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def workloads_only(a: argparse.Namespace) -> int:
    """``--workloads``: just those engine workloads, their table printed."""
    chosen = [WORKLOADS[k]("full") for k in a.workloads]
    results = engine_bench.run_all(chosen, log, budget_s=0.3 if a.quick else None)
    print(report.engine_section(results))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def main(a: argparse.Namespace) -> int:
    if getattr(a, "workloads", None):
        return workloads_only(a)
    start = time.perf_counter()
    env = environment.snapshot()
    env["threads per library"] = (os.environ.get("OMP_NUM_THREADS", "") + " (pinned by --threads)"
                                  if a.threads else "each library's default")
    if not a.no_service:
        service_bench.tesseract_runtime(log)  # install before anything is timed
    results = engine_bench.run_all(make_all("full"), log, budget_s=0.3 if a.quick else None)
    breakdowns = {}
    for w in make_all("full"):
        if w.key in PROFILED:
            try:
                breakdowns[w.key] = steps.breakdown(w, reps=50 if a.quick else 300)
            except Exception as exc:  # an op the engine lacks: the table says so already
                log(f"[steps] {w.key}: {type(exc).__name__}: {exc}")
    conv = conv_floor.run(WORKLOADS["W5"]("full"), 0.3 if a.quick else 3.0, log)
    rnn = rnn_bench.run(log, budget_s=0.3 if a.quick else 1.5)
    rnn_long = rnn_bench.run(log, budget_s=0.3 if a.quick else 1.5, **rnn_bench.LONG)
    codec = codec_bench.run(0.3 if a.quick else 1.5, log=log)
    functional = functional_bench.run(0.3 if a.quick else 2.0, log=log)
    loads, info = [], {"tool": service_bench.load_tool()}
    if not a.no_service:
        loads, info = service_bench.run(log, duration=1.0 if a.quick else
                                        service_bench.DURATION_S)
    env["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cold = cold_path.run_apart(log=log)
    stages = None if a.no_service else http_stages.run(log)
    verdicts = targets.judge(results, loads, codec, info.get("paired"))
    round2 = targets.judge_round2(results, loads, info.get("paired"), functional, stages, cold)
    text = report.render(env, verdicts, results, loads, info, codec,
                         time.perf_counter() - start, breakdowns)
    text += ("\n## Round 2 targets\n\n" + targets.table(round2) + "\nW1, W3 and W4 compare "
             f"with `{targets.JAX}` (compile time apart), W5 with `{targets.TORCH}`; the same run."
             + "\n" + conv_floor.section(conv) + "\n" + rnn_bench.section(rnn)
             + rnn_bench.section(rnn_long))
    text += "\n" + functional_bench.render(functional)
    if stages is not None:
        text += "\n" + onnx_bench.section(0.5 if a.quick else 2.0)
        text += http_stages.section(stages, http_stages.before()) + http_stages.chain_section(
            stages["chain"])
    text += cold_path.section(cold)
    Path(a.output).write_text(text)
    print(text)
    log(f"[bench] wrote {a.output}")
    return 0

