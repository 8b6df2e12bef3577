"""``python -m service.batch``: per-example gradients of one graph over a dataset, on Ray.

    python -m service.batch --graph model.json --feeds data.jsonl --out grads.npz
    python -m service.batch --graph model.json --feeds data.npz --axis 0 --workers 2 \\
        --out grads/ --address ray://head:10001

The graph file is the wire ``graph`` object of API.md (nodes, optional inputs/outputs).
ys default to its outputs, xs to its trainable variables (else its inputs).
"""
from __future__ import annotations

import argparse
import sys
import time

from .examples import BatchError, default_names, load_graph


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m service.batch", description=(
        "Per-example gradients of one graph over a dataset of feed sets, with Ray Data."))
    p.add_argument("--graph", required=True, help="graph description (JSON) file")
    p.add_argument("--feeds", required=True, help=(
        "the dataset: .jsonl (a feed set per line), .parquet or a directory of them (a "
        "column per placeholder), or .npz (arrays split along --axis)"))
    p.add_argument("--out", required=True, help=(
        "where the gradients go: FILE.npz (one array per x, stacked over examples) or a "
        "directory for DIR/gradients.parquet (a row per example, in the feeds' order)"))
    p.add_argument("--ys", nargs="+", help="tensors to differentiate (default: outputs)")
    p.add_argument("--xs", nargs="+", help="tensors to differentiate with respect to "
                   "(default: trainable variables, else inputs)")
    p.add_argument("--axis", type=int, default=0, help="the vmap axis of an .npz "
                   "(default: 0)")
    p.add_argument("--workers", type=int, default=1, help="Ray actors (default: 1)")
    p.add_argument("--batch-size", type=int, default=1024, help="examples per batch "
                   "(default: 1024)")
    p.add_argument("--address", default=None, help="a Ray cluster to join (default: start a "
                   "local one)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from .job import JobSpec, dataset, init, write
    except ImportError as exc:  # pragma: no cover - ray missing
        print(f"Ray is not installed ({exc}): pip install -e '.[ray]'", file=sys.stderr)
        return 2
    try:
        raw, graph = load_graph(args.graph)
        ys, xs = default_names(raw, graph)
        spec = JobSpec(raw, args.ys or ys, args.xs or xs, args.feeds, args.axis,
                       args.batch_size, args.workers)
        spec.kind  # noqa: B018 - refuses an unknown dataset kind before Ray starts
        if not spec.ys:
            raise BatchError("no ys: the graph has no outputs; name them with --ys")
        init(args.address, args.workers)
        start = time.perf_counter()
        n = write(dataset(spec), spec, args.out)
    except Exception as exc:  # a refusal inside an actor arrives wrapped by Ray
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, BatchError):
            cause = cause.__cause__
        if cause is None and not isinstance(exc, OSError):
            raise
        print(f"error: {cause or exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(f"{n} examples, gradients of {', '.join(spec.ys)} with respect to "
          f"{', '.join(spec.xs)} -> {args.out} in {seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
