"""Numba loops the kernels use once they are compiled, compiled lazily (one helper for
``window_loops`` and ``array_loops``).

Compiling costs ~1 s from numba's cache (its import included; ~4 s without), so, like
fusion, it happens once per process on the fusion thread (``fusion.later``), asked for at
the ``fusion.FUSE_AFTER``-th ask: a worker that served a few requests compiles nothing (the
cold path never pays; the compile holds the GIL for ~1 s). Until it is done, or without
numba, or with ``GRADSERVE_FUSION=0``, ``get`` answers None and the kernels take their
numpy paths.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from .. import fusion

T = TypeVar("T")


class Lazy(Generic[T]):
    """What ``build`` makes (on the fusion thread), once it is asked for often enough."""

    def __init__(self, build: Callable[[], T]):
        self.build = build
        self.compiled: list[T] = []
        self.calls = 0  # asks so far, up to fusion.FUSE_AFTER
        self._ask = threading.Lock()

    def get(self) -> T | None:
        """The compiled loops, or None while they are not (yet) compiled."""
        if self.compiled:
            return self.compiled[0]
        if self.calls < fusion.FUSE_AFTER and fusion.enabled():
            with self._ask:
                self.calls += 1
                if self.calls == fusion.FUSE_AFTER:
                    fusion.later(self.compile)
        return None

    def compile(self) -> None:
        """Build now (the fusion thread calls it; tests do too)."""
        self.compiled[:] = [self.build()]


def njit(fn: Callable[..., Any], sigs: Sequence[Any], **options: Any) -> Any:
    """``fn`` compiled by numba for ``sigs`` (nogil), cached on disk where it can be."""
    import numba

    try:
        return numba.njit(list(sigs), cache=True, nogil=True, **options)(fn)
    except RuntimeError:  # no writable cache directory: compile for this process only
        return numba.njit(list(sigs), nogil=True, **options)(fn)
