"""The cyclic garbage collector paused while a big graph or program is made.

Building a graph, differentiating it and planning it allocate hundreds of thousands of
objects that all live on (nodes, specs, refs) and form no garbage cycles worth finding:
with the collector running, each generation-2 pass walks everything allocated so far,
~40% of a 100,000-node chain's cold time. Paused, they are walked once, by the first
young collection after the pause (~0.25 s after the chain). They are not frozen into the
oldest generation to spare that walk: the collector's own accounting would then hardly
ever call a full collection for them, and the cycles among them (a builder and its handles,
an exception's frames) would pile up in a long-running worker.
Nested and threaded uses are counted: the collector comes back when the last one ends,
and only if it was running when the first began.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting goes on as ever)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


def young() -> int:
    """Tracked objects allocated since the last collection: what the next one walks."""
    if not gc.isenabled():
        return gc.get_count()[0]
    gc.disable()  # reading the count makes a tuple, which could set off the walk itself
    try:
        return gc.get_count()[0]
    finally:
        gc.enable()


def settle(least: int = 100_000) -> None:
    """The walk a pause put off, now (call it when idle, e.g. once an answer is sent):
    if at least ``least`` tracked objects are new since the last collection, collect the
    two young generations, so survivors move to the oldest one as the collector's own
    accounting expects (else the next allocation, whoever makes it, pays for the walk)."""
    if gc.isenabled() and young() >= least:
        gc.collect(1)


def pausing(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run with the collector ``paused``."""
    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused():
            return fn(*args, **kwargs)
    return run
