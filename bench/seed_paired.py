"""Only the issue-13 target case: the seed request at 32 connections, Gradserve against the
hand-written FastAPI app, in interleaved rounds (``service_bench.paired_rounds``), with
each server's CPU per answer (main process, workers). ``--base DIR`` adds a Gradserve run
from another checkout (say ``git archive`` of main), so before and after are measured in
the same rounds on the same loaded machine.

    python -m bench.seed_paired --rounds 5 --duration 3 [--base /tmp/main-copy]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

from . import service_bench as sb
from .servers import ROOT, uvicorn_argv


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=sb.PAIRED_ROUNDS)
    p.add_argument("--duration", type=float, default=sb.DURATION_S)
    p.add_argument("--connections", type=int, default=sb.PAIRED_CONNECTIONS)
    p.add_argument("--base", type=Path, help="another checkout's Gradserve, run beside")
    a = p.parse_args(argv)
    tool = sb.load_tool()
    with tempfile.TemporaryDirectory(prefix="gradserve-seed-") as tmp, \
            contextlib.ExitStack() as stack:
        repository = sb.write_repository(Path(tmp))
        specs = [("Gradserve", sb.gradserve_argv(repository), ROOT),
                 ("hand-written FastAPI", lambda port: uvicorn_argv(
                     "bench.handwritten_app:app", port), ROOT)]
        if a.base is not None:
            specs.append(("Gradserve base", sb.gradserve_argv(repository), a.base.resolve()))
        ready, running = {}, {}
        for name, make_argv, cwd in specs:
            server = _start(name, make_argv, cwd, stack)
            running[name] = server
            targets = [t for t in sb.baseline_targets() if t.request == sb.PAIRED_REQUEST]
            ready[name] = sb._prepare(server, targets, Path(tmp), print)
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in ready}
        paired = sb.paired_rounds(ready, running, sb.PAIRED_REQUEST, a.connections, tool,
                                  a.duration, print, cpu, a.rounds)
    for name, runs in paired.items():
        main_us = statistics.median(c[0] for c in cpu[name]) * 1e6 if cpu[name] else 0.0
        rest_us = statistics.median(c[1] for c in cpu[name]) * 1e6 if cpu[name] else 0.0
        print(f"{name:22s} median {statistics.median(runs):8.1f} req/s  runs "
              f"{', '.join(f'{r:.0f}' for r in runs)}  CPU/answer main {main_us:.0f} us, "
              f"workers {rest_us:.0f} us")
    hand = statistics.median(paired["hand-written FastAPI"])
    print(f"Gradserve / hand-written: {statistics.median(paired['Gradserve']) / hand:.2f}x")


def _start(name: str, make_argv, cwd: Path, stack: contextlib.ExitStack) -> sb.Server:
    port = sb.free_port()
    server = sb.start(name, make_argv(port), port, "/healthz", sb.LOGS, cwd=cwd)
    return stack.enter_context(server)


if __name__ == "__main__":
    main(sys.argv[1:])
