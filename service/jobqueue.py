"""The pool's queue of jobs: first come, first served, handed to the slot idle the shortest.

``asyncio.Queue`` wakes its waiting getters in the order they began to wait, so at one
connection two idle workers took turns: each job found the worker whose caches (its
graph's buffers, the lane it answers in) the other job had just pushed out of the CPU's.
Here the most recent waiter is woken first, so a lightly loaded server keeps using the
same warm worker; under load every slot is busy and takes jobs without waiting.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class JobQueue(Generic[T]):
    """The subset of ``asyncio.Queue`` the pool uses, with last-in-first-out waiters."""

    def __init__(self) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._waiters: list[asyncio.Future[None]] = []

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._wake()

    def peek(self) -> T:
        """The job ``get_nowait`` would take next (the queue must not be empty)."""
        return self._items[0]

    def put_back(self, items: list[T]) -> None:
        """Jobs taken but not run go back to the head of the line, in their order."""
        self._items.extendleft(reversed(items))
        for _ in items:
            self._wake()

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get(self, unless: asyncio.Future[Any] | None = None) -> T | None:
        """The oldest job, waiting for one if there is none; None if ``unless`` (a
        worker's death) is done first. One waiter future and a callback per idle spell,
        where a task for ``get`` and ``asyncio.wait`` on it and the death cost ~10 us of
        the event loop's time."""
        while not self._items:
            if unless is not None and unless.done():
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)

            def stop(_: object, waiter: asyncio.Future[None] = waiter) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            if unless is not None:
                unless.add_done_callback(stop)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                self._give_up(waiter)
                raise
            finally:
                if unless is not None:
                    unless.remove_done_callback(stop)
            if unless is not None and unless.done():
                self._give_up(waiter)
                return None
        return self._items.popleft()

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        """A waiter leaves without taking a job: a wake-up it may have had is passed on."""
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        if self._items:
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop()  # the latest to wait: the warmest worker
            if not waiter.done():
                waiter.set_result(None)
                return
