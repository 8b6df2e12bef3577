"""Per-example gradients of a small MLP over many examples: the single-process engine
against ``python -m service.batch``'s Ray pipeline with 1 and 2 actors, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.batch_bench --examples 1000000

Not part of ``make test`` (the test of the pipeline is tests/batch). Needs the ray extra.
Also measured: the fallback for graphs with an op that has no batching rule (one plan
run per example), on ``--loop-examples`` examples.
Each configuration computes the same gradients; the Ray runs are checked against the
single-process result on a sample of examples.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

IN, HIDDEN = 8, 16


def mlp_graph(inputs: int = IN, hidden: int = HIDDEN) -> dict[str, Any]:
    """loss = sum((tanh(x W1 + b1) W2 + b2 - t)^2) for one example x[1, inputs], t[1, 1];
    the weights are trainable variables from seeded initializers."""
    def var(name: str, shape: list[int], seed: int) -> dict[str, Any]:
        return {"name": name, "op": "variable", "shape": shape, "dtype": "float32",
                "initializer": {"kind": "glorot_uniform", "seed": seed}}

    return {"nodes": [
        {"name": "x", "op": "placeholder", "shape": [1, inputs], "dtype": "float32"},
        {"name": "t", "op": "placeholder", "shape": [1, 1], "dtype": "float32"},
        var("w1", [inputs, hidden], 1), var("b1", [1, hidden], 2),
        var("w2", [hidden, 1], 3), var("b2", [1, 1], 4),
        {"name": "z1", "op": "matmul", "inputs": ["x", "w1"]},
        {"name": "a1", "op": "add", "inputs": ["z1", "b1"]},
        {"name": "h", "op": "tanh", "inputs": ["a1"]},
        {"name": "z2", "op": "matmul", "inputs": ["h", "w2"]},
        {"name": "y", "op": "add", "inputs": ["z2", "b2"]},
        {"name": "d", "op": "sub", "inputs": ["y", "t"]},
        {"name": "sq", "op": "square", "inputs": ["d"]},
        {"name": "loss", "op": "sum", "inputs": ["sq"]},
    ], "inputs": ["x", "t"], "outputs": ["loss"]}


def mlp_data(n: int, seed: int = 0, inputs: int = IN) -> dict[str, np.ndarray]:
    """n examples stacked on axis 0: x[n, 1, inputs], t[n, 1, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, inputs)).astype(np.float32)
    t = np.sin(x.sum(axis=2, keepdims=True)).astype(np.float32)
    return {"x": x, "t": t}


def single_process(graph: Any, data: dict[str, np.ndarray], xs: list[str],
                   batch_size: int = 4096) -> dict[str, np.ndarray]:
    """What one actor does, in this process: a vectorized pass per batch."""
    from service.batch.examples import per_example_gradients

    n = len(next(iter(data.values())))
    parts = [per_example_gradients(graph, {k: v[i:i + batch_size] for k, v in data.items()},
                                   ["loss"], xs) for i in range(0, n, batch_size)]
    return {x: np.concatenate([p[x] for p in parts]) for x in xs}


def one_by_one(graph: Any, data: dict[str, np.ndarray], xs: list[str]) -> dict[str, np.ndarray]:
    """The fallback (no batching rule): one plan run per example."""
    from service.batch.examples import per_example_loop

    return per_example_loop(graph, data, len(data["x"]), ["loss"], xs)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.batch_bench")
    p.add_argument("--examples", type=int, default=1_000_000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--loop-examples", type=int, default=20_000,
                   help="examples for the one-by-one fallback's rate")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from service.batch.examples import build_graph, default_names
    from service.batch.job import JobSpec, dataset, init, write
    from service.settings import Settings

    raw = mlp_graph()
    graph = build_graph(raw, Settings(workers=1))
    _, xs = default_names(raw, graph)
    data = mlp_data(args.examples)
    with tempfile.TemporaryDirectory() as tmp:
        feeds = Path(tmp) / "feeds.npz"
        np.savez(feeds, **data)
        start = time.perf_counter()
        reference = single_process(graph, data, xs)
        base = time.perf_counter() - start
        print(f"single process (engine alone, vectorized per batch of {args.batch_size}): "
              f"{args.examples} examples in {base:.1f} s ({args.examples / base:,.0f} "
              "examples/s)", flush=True)
        few = {k: v[:args.loop_examples] for k, v in data.items()}
        start = time.perf_counter()
        looped = one_by_one(graph, few, xs)
        loop_s = time.perf_counter() - start
        for x in xs:
            np.testing.assert_allclose(looped[x], reference[x][:args.loop_examples], rtol=1e-5,
                                       atol=1e-6)
        print(f"single process, one plan run per example (the fallback): "
              f"{args.loop_examples / loop_s:,.0f} examples/s", flush=True)
        init(None, max(args.workers))
        for workers in args.workers:
            spec = JobSpec(raw, ["loss"], xs, str(feeds), 0, args.batch_size, workers)
            out = str(Path(tmp) / f"grads-{workers}.npz")
            start = time.perf_counter()
            n = write(dataset(spec), spec, out)
            seconds = time.perf_counter() - start
            with np.load(out) as got:
                sample = np.random.default_rng(1).integers(0, n, 1000)
                for x in xs:
                    np.testing.assert_allclose(got[x][sample], reference[x][sample], rtol=1e-5,
                                               atol=1e-6)
            print(f"ray, {workers} worker(s): {n} examples in {seconds:.1f} s "
                  f"({n / seconds:,.0f} examples/s, {base / seconds:.2f}x the single "
                  f"process; includes Ray Data start-up and gathering the .npz)", flush=True)


if __name__ == "__main__":
    main()
