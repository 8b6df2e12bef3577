"""``python -m bench`` (what ``make bench`` runs): every benchmark, written to RESULTS.md.

Thread counts must be set before numpy, PyTorch or JAX load their thread pools, so this
entry point sets them in the environment and only then imports the benchmarks. By default
every library gets one thread: on a 2-core machine shared with other work, a second BLAS
or OpenMP thread that is not scheduled stalls the first (seen here as a flat ~32 ms per
call), and one thread each keeps the comparison fair. ``--threads 0`` keeps the defaults.

Some machines set OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for old OpenBLAS builds that
crash or misbehave on their processor; they make a current numpy's GEMMs ~2x slower (a
Haswell kernel on a SkylakeX core), which would charge the floor and us, not PyTorch
(MKL). So this entry point removes both for its own run (and the servers it starts),
records what the machine had set and which kernel OpenBLAS then picked, and keeps them
with ``--keep-openblas-env``. Every implementation's answers are checked against the
floor before it is timed, so a kernel that computes wrong would show there.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: What the machine set before this run removed it (bench.environment reports it).
MACHINE_OPENBLAS = "GRADSERVE_BENCH_MACHINE_OPENBLAS"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short budgets, for a trial run")
    p.add_argument("--no-service", action="store_true", help="skip the HTTP benchmarks")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per library (BLAS, OpenMP, XLA); 0 = library defaults")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="leave OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE as the machine set them")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--workloads", type=_keys, default=None, metavar="W3,W6",
                   help="only these engine workloads, printed (RESULTS.md is not written)")
    return p


def _keys(text: str) -> list[str]:
    """The keys as written; checked against the workloads only after the threads are
    pinned (importing bench.workloads loads numpy, and with it BLAS's thread pool)."""
    keys = [k.strip().upper() for k in text.split(",") if k.strip()]
    if not keys:
        raise argparse.ArgumentTypeError(f"no workload named in {text!r}")
    return keys


def check_keys(p: argparse.ArgumentParser, keys: list[str] | None) -> None:
    from .workloads import WORKLOADS

    unknown = [k for k in keys or () if k not in WORKLOADS]
    if unknown:
        p.error(f"argument --workloads: workloads are {', '.join(WORKLOADS)}; "
                f"got {', '.join(unknown)}")


def pin_threads(n: int) -> None:
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (f"{flags} --xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={n}").strip()


def drop_openblas_overrides() -> None:
    seen = [f"{v}={os.environ.pop(v)}" for v in OPENBLAS_OVERRIDES if v in os.environ]
    os.environ[MACHINE_OPENBLAS] = " ".join(seen) or "(none)"


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.keep_openblas_env:
        drop_openblas_overrides()
    if args.threads:
        pin_threads(args.threads)
    check_keys(p, args.workloads)
    from .run import main as run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
