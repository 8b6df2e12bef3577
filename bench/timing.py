"""Repeated timing: median and p90 over as many calls as a budget allows.

Each run is timed on its own (``perf_counter_ns`` around one call) so that the spread is
visible; the garbage collector is paused while timing so that a collection triggered by
one implementation's garbage is not billed to another.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Seconds per call over ``reps`` timed calls."""

    median: float
    p90: float
    reps: int

    def scaled(self, factor: float) -> Stats:
        return Stats(self.median * factor, self.p90 * factor, self.reps)


def _burst(fn: Callable[[], Any], budget_s: float, min_reps: int, max_reps: int) -> list[int]:
    """Nanoseconds of each call, until ``budget_s`` is spent (at least ``min_reps`` calls)."""
    gc.collect()
    gc.disable()
    try:
        samples: list[int] = []
        clock = time.perf_counter_ns
        deadline = clock() + int(budget_s * 1e9)
        while len(samples) < max_reps:
            t0 = clock()
            fn()
            t1 = clock()
            samples.append(t1 - t0)
            if t1 >= deadline and len(samples) >= min_reps:
                break
    finally:
        gc.enable()
    return samples


def _stats(samples: list[int]) -> Stats:
    arr = np.asarray(samples, dtype=np.float64) * 1e-9
    return Stats(float(np.median(arr)), float(np.percentile(arr, 90)), len(samples))


def measure(fn: Callable[[], Any], budget_s: float, *, min_reps: int = 5,
            max_reps: int = 20_000, warmup: int = 3) -> Stats:
    """Time ``fn`` until ``budget_s`` seconds are spent (at least ``min_reps`` calls)."""
    for _ in range(warmup):
        fn()
    return _stats(_burst(fn, budget_s, min_reps, max_reps))


def measure_interleaved(fns: Mapping[str, Callable[[], Any]], budget_s: float, *,
                        rounds: int = 10, min_reps: int = 5, max_reps: int = 20_000,
                        warmup: int = 3) -> dict[str, Stats]:
    """Time several callables in ``rounds`` alternating bursts (the order rotating each
    round), ``budget_s`` each in all: on a machine shared with other work, a busy spell
    then hits every implementation alike instead of whichever ran during it."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    samples: dict[str, list[int]] = {name: [] for name in names}
    per_min = max(1, -(-min_reps // rounds))
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name] += _burst(fns[name], budget_s / rounds, per_min, max_reps // rounds)
    return {name: _stats(samples[name]) for name in names}


def first_call(fn: Callable[[], Any]) -> float:
    """Seconds of one call: a JIT's trace and compile, when it is the first call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
