"""The pool's job queue: jobs first come first served, the latest waiter woken first, and a
wake-up given to a waiter cancelled meanwhile passed on (no job left with nobody awake)."""
from __future__ import annotations

import asyncio

from service.jobqueue import JobQueue


async def _waiting(queue: JobQueue[str], name: str, got: list[tuple[str, str]]) -> None:
    got.append((name, await queue.get()))


async def _two_waiters(queue: JobQueue[str], got: list[tuple[str, str]], older: str,
                       latest: str) -> tuple[asyncio.Task[None], asyncio.Task[None]]:
    """Two tasks waiting on ``queue``, ``older`` first (each already waiting)."""
    first = asyncio.create_task(_waiting(queue, older, got))
    await asyncio.sleep(0)
    second = asyncio.create_task(_waiting(queue, latest, got))
    await asyncio.sleep(0)
    return first, second


def test_jobs_in_order_to_the_latest_waiter_first() -> None:
    async def run() -> list[tuple[str, str]]:
        queue: JobQueue[str] = JobQueue()
        got: list[tuple[str, str]] = []
        first, second = await _two_waiters(queue, got, "first", "second")
        queue.put_nowait("a")
        await asyncio.sleep(0)
        queue.put_nowait("b")
        await asyncio.gather(first, second)
        return got

    assert asyncio.run(run()) == [("second", "a"), ("first", "b")]


def test_items_queued_before_anyone_waits_come_out_first_in_first_out() -> None:
    async def run() -> list[str]:
        queue: JobQueue[str] = JobQueue()
        for item in "xyz":
            queue.put_nowait(item)
        assert queue.qsize() == 3
        out = [queue.get_nowait(), await queue.get(), await queue.get()]
        assert queue.empty()
        return out

    assert asyncio.run(run()) == ["x", "y", "z"]


def test_a_wake_up_for_a_cancelled_waiter_goes_to_the_next() -> None:
    async def run() -> list[tuple[str, str]]:
        queue: JobQueue[str] = JobQueue()
        got: list[tuple[str, str]] = []
        older, latest = await _two_waiters(queue, got, "older", "latest")
        queue.put_nowait("job")  # wakes "latest"...
        latest.cancel()  # ...which is cancelled before it runs
        await asyncio.wait_for(older, 1.0)
        return got

    assert asyncio.run(run()) == [("older", "job")]


def test_a_waiter_whose_worker_dies_gets_none_and_the_job_goes_to_another() -> None:
    async def run() -> tuple[str | None, str | None]:
        queue: JobQueue[str] = JobQueue()
        died = asyncio.get_running_loop().create_future()
        older = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        dying = asyncio.create_task(queue.get(unless=died))
        await asyncio.sleep(0)
        queue.put_nowait("job")  # wakes the latest waiter, "dying"...
        died.set_result(None)  # ...whose worker dies before it runs: it passes the job on
        return await asyncio.wait_for(dying, 1.0), await asyncio.wait_for(older, 1.0)

    assert asyncio.run(run()) == (None, "job")


def test_a_death_before_any_job_ends_the_wait() -> None:
    async def run() -> str | None:
        queue: JobQueue[str] = JobQueue()
        died = asyncio.get_running_loop().create_future()
        waiting = asyncio.create_task(queue.get(unless=died))
        await asyncio.sleep(0)
        died.set_result(None)
        got = await asyncio.wait_for(waiting, 1.0)
        assert not queue._waiters  # it left no waiter behind for a put to wake
        return got

    assert asyncio.run(run()) is None


def test_jobs_put_back_come_out_first_in_their_order_and_wake_a_waiter_each() -> None:
    """A lost worker's jobs sent ahead (never started) go back before everything queued."""
    async def run() -> list[tuple[str, str]]:
        queue: JobQueue[str] = JobQueue()
        got: list[tuple[str, str]] = []
        first, second = await _two_waiters(queue, got, "first", "second")
        queue.put_back(["a", "b"])
        await asyncio.wait_for(asyncio.gather(first, second), 1.0)
        queue.put_nowait("z")
        queue.put_back(["c", "d"])
        got += [("-", queue.get_nowait()) for _ in range(3)]
        return got

    assert asyncio.run(run()) == [("second", "a"), ("first", "b"), ("-", "c"), ("-", "d"),
                                  ("-", "z")]
