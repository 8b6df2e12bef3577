"""The worker pool: N processes, a bounded queue, a deadline per job, dead workers replaced.

The event loop only moves bytes. Each worker has one slot task that takes jobs from the
shared queue and does the round trip on the loop itself, through asyncio streams over the
worker's socket (framed as multiprocessing's ``Connection`` frames them): no thread hop
per request. When every worker is busy, a slot sends its worker the next queued jobs while
the current one computes (up to ``DEPTH`` in flight, several per write; answers come back
in order), so a busy worker finds its next jobs waiting instead of sleeping until the
parent has read an answer; jobs sent ahead to a worker that is then lost were never
started and go back to the head of the queue. A job over its
deadline gets 504 and its worker is killed and replaced; a worker that dies (kill -9, the
OOM killer) gives its job a 503 and is replaced at once; an idle worker's death is noticed
through its process sentinel, watched with ``loop.add_reader``. Processes come from a
forkserver that has preloaded the engine. Registered models live in the parent's
``Registry``: a new worker gets them all before it takes a job, and a worker is brought up
to date with the models' latest generation (one extra frame pair, only after a PUT or
DELETE) before its next job.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .container import blas_threads
from .jobqueue import JobQueue
from .lanes import SHARED, Lanes, Loan, shared_header
from .metrics import Metrics
from .problems import ProblemError
from .reply import Reply
from .repository import Registry
from .settings import Settings, knob
from .worker import MODELS_TAG, PIPED, READY, frame_header, worker_main

log = logging.getLogger("gradserve.pool")
_CONTEXT: Any = None
DEPTH = 8  # jobs in flight on a busy worker at most; two in the lanes, the rest piped
REFILL = 2  # ...topped up to DEPTH once no more than this many are (one write per refill)
PIPED_BODY = 64 * 1024  # bytes; a larger body is sent ahead only into a free lane


_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _context(workers: int, threads: int = 0) -> Any:
    """One forkserver for the process, with the worker's imports preloaded (fork-safe with a
    running event loop and threads, unlike plain fork). Unless the environment says
    otherwise, each worker gets ``threads`` BLAS threads (0: its share of the cgroup's CPUs)
    instead of one per host CPU; numpy reads them when the forkserver imports it."""
    global _CONTEXT
    if _CONTEXT is None:
        share = str(threads or blas_threads(workers))
        for name in _BLAS_THREADS:
            os.environ.setdefault(name, share)
        _CONTEXT = mp.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["service.worker"])
    return _CONTEXT


class ModelUpdateError(RuntimeError):
    """A worker failed to build models the parent had judged: it is replaced."""


class _Process:
    """One worker process and the parent's end of its pipe. Blocking calls run in threads."""

    def __init__(self, settings: dict[str, Any], index: int):
        ctx = _context(settings["workers"], settings.get("blas_threads", 0))
        self.conn, child = ctx.Pipe(duplex=True)
        for end in (self.conn, child):
            _widen(end.fileno())
        self.lanes, shared = Lanes.create()
        self.proc = ctx.Process(target=worker_main, args=(child, settings, shared),
                                daemon=True, name=f"gradserve-worker-{index}")
        try:
            self.proc.start()
        except BaseException:  # no _Process to end(): let go of its pipe and lanes here
            self.conn.close()
            self.lanes.close()
            raise
        finally:
            child.close()
            shared.close()
        self.jobs = 0  # sent so far: job k's body and answer use lane k % 2
        self._out: list[bytes] = []  # the frames of jobs sent, not yet written (flush)
        self.models: dict[str, str] = {}  # the registered models it holds: name -> version
        self.generation = -1  # the registry generation it was last brought up to

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"worker did not start within {timeout} s")
        if self.conn.recv_bytes() != READY:
            raise RuntimeError("worker sent something other than ready")

    async def open_streams(self) -> None:
        """The parent's end on the event loop (a duplicate of the pipe's socket)."""
        sock = socket.socket(fileno=os.dup(self.conn.fileno()))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self.writer, self.frames = await loop.create_unix_connection(
            lambda: FrameReader(self.lanes), sock=sock)

    def send(self, endpoint_name: str, body: bytes, piped: bool = False) -> None:
        """Hand one job to the worker (its answers come back in the order sent). A
        ``piped`` job (sent while two are in flight: both lanes are taken) has its body
        and its answer in the pipe, never in a lane."""
        tag = (PIPED + endpoint_name if piped else endpoint_name).encode()
        if not piped:
            self.lanes.open_answer(self.jobs)
        if not piped and self.lanes.put_body(self.jobs, body):
            self._out += [frame_header(len(tag)), tag, shared_header(len(body))]
        else:
            self._out += [frame_header(len(tag)), tag, frame_header(len(body)), body]
        self.jobs += 1

    def flush(self) -> None:
        """Write the jobs sent since the last flush, in one system call (the worker is
        woken once for all of them)."""
        if self._out:
            out, self._out = self._out, []
            self.writer.writelines(out)

    async def answer(self, lent: bool = False) -> Reply:
        """The next job's answer. EOFError if the worker is gone. With ``lent`` its body
        may be a view of the lane, on loan until ``Reply.release``."""
        header, body = await self.frames.next(), await self.frames.next()
        if not isinstance(body, Loan):
            return Reply.from_frames(header, body)
        if not lent:
            return Reply.from_frames(header, body.copy())
        reply = Reply.from_frames(header, body.view)
        reply.loan = body
        return reply

    async def roundtrip(self, endpoint_name: str, body: bytes) -> Reply:
        """Send one job, read its reply. EOFError if the worker is gone."""
        self.send(endpoint_name, body)
        self.flush()
        return await self.answer()

    async def update_models(self, registry: Registry) -> None:
        """Bring the worker's models up to the registry's generation (a no-op when it is);
        the descriptions travel once per worker and change, never per request."""
        if self.generation == registry.generation:
            return
        generation, versions = registry.generation, registry.versions()
        build, drop = registry.update_for(self.models)
        if build or drop:
            reply = await self.roundtrip(MODELS_TAG, pickle.dumps((build, drop),
                                                                  pickle.HIGHEST_PROTOCOL))
            if reply.status != 200:
                raise ModelUpdateError(f"the worker could not build the models: "
                                       f"{reply.body[:200]!r}")
        self.models, self.generation = versions, generation

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def end(self, grace: float = 0.0) -> None:
        """Close the pipe (an idle worker then exits by itself); kill it after ``grace``.
        The lanes are unmapped here, not when the last reference goes (a failed start's
        traceback keeps one until a cyclic collection: 3 MiB a restart)."""
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()  # no frame is read from here on, so none from the lanes
        self.conn.close()
        self.lanes.close()
        self.proc.join(grace)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1.0)


@dataclass
class _Job:
    """One request waiting for (or on) a worker."""

    endpoint_name: str
    body: bytes
    future: asyncio.Future[Reply]
    lent: bool  # its answer's body may be lent from the lane (Pool.submit)
    queued_at: float = field(default_factory=time.perf_counter)


class _Slot:
    """A place for one worker: its current process, whether it is busy, its death signal."""

    def __init__(self, index: int):
        self.index = index
        self.process: _Process | None = None
        self.busy = False
        self.died: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.deadline: float | None = None  # loop time the answer awaited is due by
        self.watch: asyncio.TimerHandle | None = None  # fires at a deadline (Pool._watch)


class Pool:
    """Hands request bodies to worker processes and relays their answers."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None,
                 registry: Registry | None = None):
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.registry = registry or Registry()
        self._payload = settings.model_dump()
        self._slots = [_Slot(i) for i in range(settings.workers)]
        # Only starting a worker blocks (fork, then waiting for its "ready"): in threads.
        self._threads = ThreadPoolExecutor(max_workers=settings.workers,
                                           thread_name_prefix="gradserve-start")
        self._queue: JobQueue[_Job] = JobQueue()  # the warmest idle worker takes the next
        self._in_system = 0
        self._closing = False
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.metrics.queue_depth.set_function(self._queue.qsize)
        self.metrics.busy_workers.set_function(lambda: sum(s.busy for s in self._slots))

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker (in parallel) and their slot tasks."""
        await asyncio.gather(*(self._start_worker(s) for s in self._slots))
        for slot in self._slots:
            slot.task = asyncio.create_task(self._serve(slot), name=f"slot-{slot.index}")

    async def stop(self) -> None:
        """Refuse new work, let queued and running jobs finish (up to shutdown_timeout),
        then end the workers."""
        self._closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), self.settings.shutdown_timeout)
        except TimeoutError:
            log.warning("shutdown: %d jobs unfinished after %.1f s", self._in_system,
                        self.settings.shutdown_timeout)
        for slot in self._slots:
            if slot.task is not None:
                slot.task.cancel()
            if slot.watch is not None:
                slot.watch.cancel()
                slot.watch = None
        for slot in self._slots:
            self._forget(slot, grace=1.0)
        self._threads.shutdown(wait=False, cancel_futures=True)

    def drain(self) -> None:
        """Report not ready (the load balancer stops sending) while accepted work is still
        taken and answered; ``stop`` comes once the connections are done."""
        self._draining = True

    @property
    def ready(self) -> bool:
        return not (self._closing or self._draining) and all(
            s.process is not None and s.process.proc.is_alive() for s in self._slots)

    def describe(self) -> list[dict[str, Any]]:
        return [{"index": s.index, "pid": s.process.pid if s.process else None,
                 "alive": bool(s.process and s.process.proc.is_alive()), "busy": s.busy}
                for s in self._slots]

    # -- submitting -------------------------------------------------------------------------

    async def submit(self, endpoint_name: str, body: bytes, lent: bool = False) -> Reply:
        """Queue a job and wait for its answer; refuses with 503 (closing) or 429 (full).
        With ``lent`` the answer's body may be a view of the worker's lane: the caller
        hands it to something that keeps no reference to it, then calls
        ``Reply.release``."""
        if self._closing:
            raise ProblemError("unavailable", "the server is shutting down")
        if self._in_system >= self.settings.workers + self.settings.queue_size:
            raise ProblemError("queue-full", f"{self._in_system} requests are already in the "
                               "server; retry later",
                               headers={"Retry-After": str(self.settings.retry_after)})
        job = _Job(endpoint_name, body, asyncio.get_running_loop().create_future(), lent)
        self._in_system += 1
        self._idle.clear()
        self._queue.put_nowait(job)
        try:
            return await job.future
        except asyncio.CancelledError:  # answered as the caller was cancelled: end its loan
            if job.future.done() and not job.future.cancelled() and not job.future.exception():
                job.future.result().release()
            raise
        finally:
            self._in_system -= 1
            if self._in_system == 0:
                self._idle.set()

    # -- slots --------------------------------------------------------------------------------

    async def _serve(self, slot: _Slot) -> None:
        while True:
            if slot.process is None or slot.died is None or slot.died.done():
                await self._replace(slot, "died")
                continue
            if self._queue.empty():  # wait for a job or the worker's death, whichever first
                waited = await self._queue.get(unless=slot.died)
                if waited is None:
                    continue
                job = waited
            else:  # busy: take the next job without a task and a wait per request
                job = self._queue.get_nowait()
            if job.future.done():  # the client went away while it waited
                continue
            # jobs sent ahead to a worker lost before it started them: first in line again
            self._queue.put_back(await self._run(slot, job))

    async def _run(self, slot: _Slot, job: _Job) -> list[_Job]:
        """Run ``job`` on the slot's worker, and the jobs sent ahead behind it. Returns those
        sent ahead that the worker never started because it was lost (to run on its
        replacement, or another worker)."""
        process = slot.process
        assert process is not None
        slot.busy = True
        try:
            started = time.perf_counter()
            try:
                await process.update_models(self.registry)  # a PUT or DELETE since its last job
                process.send(job.endpoint_name, job.body)
            except (EOFError, OSError, ConnectionError, ModelUpdateError):
                await self._lost(slot, job, "died")
                return []
            flight = collections.deque([job])  # sent, not answered yet, in order
            loop = asyncio.get_running_loop()
            while flight:
                self._send_ahead(process, flight)
                self._watch(slot, loop.time() + self.settings.timeout)
                current = flight[0]
                try:
                    process.flush()  # a broken pipe shows as EOF at the answer
                    reply = await process.answer(current.lent)
                except TimeoutError:
                    flight.popleft()
                    await self._lost(slot, current, "timeout")
                    return list(flight)
                except (EOFError, OSError, ConnectionError):
                    flight.popleft()
                    await self._lost(slot, current, "died")
                    return list(flight)
                self._answered(flight.popleft(), reply, started)
                started = time.perf_counter()
            return []
        finally:
            slot.deadline = None
            slot.busy = False

    def _watch(self, slot: _Slot, deadline: float) -> None:
        """Time the answer the slot awaits out at ``deadline``: its worker's next frame
        raises TimeoutError from then on. One timer per slot, moved on lazily (when it
        fires before the latest deadline it is set again for that one), instead of an
        ``asyncio.timeout`` per job: that scheduled and cancelled a timer per answer,
        ~3.6 us of the event loop's time (of ~45 us per job in the pool)."""
        slot.deadline = deadline
        if slot.watch is None:
            slot.watch = asyncio.get_running_loop().call_at(deadline, self._expire, slot)

    def _expire(self, slot: _Slot) -> None:
        slot.watch = None
        deadline = slot.deadline
        if deadline is None:  # the answer came: nothing is awaited
            return
        loop = asyncio.get_running_loop()
        if loop.time() < deadline:  # a later job's deadline: wait for that one
            slot.watch = loop.call_at(deadline, self._expire, slot)
            return
        slot.deadline = None
        if slot.process is not None:
            slot.process.frames.expire()

    def _send_ahead(self, process: _Process, flight: collections.deque[_Job]) -> None:
        """Queued jobs, handed to this worker while it computes when every worker is busy
        (up to ``DEPTH`` in ``flight``, once it is down to ``REFILL``): the worker then
        finds them waiting instead of sleeping until the parent has read an answer and
        sent the next (a wake-up of each process per job), and several go in one write
        (topped up at every answer, it was one write per job). Beyond the two lanes a job
        travels in the pipe, so only a small one is sent that far ahead. Never past a
        models update (its answer would come between)."""
        if (len(flight) > REFILL or process.generation != self.registry.generation
                or not all(s.busy for s in self._slots)):
            return
        queue = self._queue
        while not queue.empty() and len(flight) < DEPTH:
            piped = len(flight) >= 2
            if piped and len(queue.peek().body) > PIPED_BODY:
                return
            job = queue.get_nowait()
            if job.future.done():  # the client went away while it waited
                continue
            process.send(job.endpoint_name, job.body, piped)
            flight.append(job)

    async def _lost(self, slot: _Slot, job: _Job, reason: str) -> None:
        if reason == "timeout":
            _settle(job, ProblemError("timeout", f"the computation took longer than "
                                      f"{self.settings.timeout:g} s; it was stopped (raise "
                                      f"the limit with {knob('timeout')})"))
        else:
            _settle(job, ProblemError("worker-died", "the worker computing this request "
                                      "died (killed, or out of memory); it has been replaced"))
        await self._replace(slot, reason)

    def _answered(self, job: _Job, reply: Reply, started: float) -> None:
        reply.timings["queue"] = started - job.queued_at
        reply.timings["ipc"] = max(0.0, time.perf_counter() - started - reply.worker_seconds)
        self.metrics.cache_flags(reply.plan_cache_hit, reply.graph_cache_hit)
        if not job.future.done():
            job.future.set_result(reply)
        else:  # nobody waits for it any more
            reply.release()

    async def _replace(self, slot: _Slot, reason: str) -> None:
        """End the slot's process (if any) and start a new one, retrying on failure."""
        if slot.process is not None:
            self.metrics.restarts.labels(reason).inc()
            log.warning("worker %d (pid %s) %s; starting a replacement", slot.index,
                        slot.process.pid, "ran over its deadline" if reason == "timeout"
                        else "died")
        self._forget(slot)
        delay = 0.1
        while True:
            try:
                await self._start_worker(slot)
                return
            except Exception as exc:
                log.error("could not start worker %d: %s; retrying", slot.index, exc)
                self._forget(slot)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _start_worker(self, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        process = await loop.run_in_executor(self._threads, _Process, self._payload, slot.index)
        slot.process = process
        await loop.run_in_executor(self._threads, process.wait_ready,
                                   self.settings.worker_start_timeout)
        await process.open_streams()
        await asyncio.wait_for(process.update_models(self.registry),
                               self.settings.worker_start_timeout)
        died = loop.create_future()
        sentinel = process.proc.sentinel

        def on_exit() -> None:
            loop.remove_reader(sentinel)
            if not died.done():
                died.set_result(None)

        loop.add_reader(sentinel, on_exit)
        slot.died = died

    def _forget(self, slot: _Slot, grace: float = 0.0) -> None:
        process, slot.process = slot.process, None
        if process is None:
            return
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            asyncio.get_running_loop().remove_reader(process.proc.sentinel)
        process.end(grace)


PIPE_BUFFER = 4 * 2**20  # bytes; the kernel caps it at net.core.wmem_max / rmem_max


def _widen(fd: int) -> None:
    """Room in the pipe's socket for a whole W2-sized answer (1 MB) or request: the writer
    hands it over in one call and the reader is woken once, instead of the two processes
    taking turns on the default ~200 kB (each turn a wake-up on a busy machine)."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, PIPE_BUFFER)


class FrameReader(asyncio.BufferedProtocol):
    """The worker's frames as they arrive: small ones cut from a scratch buffer, a large
    one (an answer of megabytes) received straight into its own buffer, so it is neither
    gathered chunk by chunk nor copied out again."""

    SCRATCH = 64 * 1024

    def __init__(self, lanes: Lanes) -> None:
        self._lanes = lanes
        self._count = 0  # frames so far: two per answer, the second one its body
        self._scratch = bytearray(self.SCRATCH)
        self._pending = bytearray()  # received, not yet cut into frames
        self._large: bytearray | None = None  # the large frame being received
        self._filled = 0
        self._frames: collections.deque[bytes | bytearray | Loan] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._expired = False  # the awaited answer is past its deadline (Pool._watch)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._large is not None:
            return memoryview(self._large)[self._filled:]
        return memoryview(self._scratch)

    def buffer_updated(self, nbytes: int) -> None:
        if self._large is not None:
            self._filled += nbytes
            if self._filled == len(self._large):
                self._push(self._large)
                self._large = None
            return
        self._pending += memoryview(self._scratch)[:nbytes]
        self._cut()

    def _cut(self) -> None:
        pending = self._pending
        while len(pending) >= 4:
            (size,) = struct.unpack_from("!i", pending)
            start = 4
            if size < 0:  # -1: a size too large for 4 bytes; SHARED: the bytes are in a lane
                if len(pending) < 12:
                    return
                (length,) = struct.unpack_from("!Q", pending, 4)
                if size == SHARED:
                    del pending[:12]
                    self._push(self._lanes.lend_answer(self._count // 2, length))
                    continue
                size, start = length, 12
            if len(pending) - start >= size:
                self._push(bytes(pending[start:start + size]))
                del pending[:start + size]
                continue
            if size > self.SCRATCH:  # the rest goes straight into the frame's own buffer
                self._large = bytearray(size)
                self._filled = len(pending) - start
                self._large[:self._filled] = pending[start:]
                pending.clear()
            return

    def _push(self, frame: bytes | bytearray | Loan) -> None:
        self._count += 1
        self._frames.append(frame)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()

    def eof_received(self) -> bool:
        self._closed = True
        self._wake()
        return False

    def expire(self) -> None:
        """The answer awaited is overdue: ``next`` raises TimeoutError from now on (the
        pool then ends this worker)."""
        self._expired = True
        self._wake()

    async def next(self) -> bytes | bytearray | Loan:
        """The next whole frame; EOFError if the worker closed its end first,
        TimeoutError once ``expire`` was called."""
        while not self._frames:
            if self._expired:
                raise TimeoutError("the worker's answer is past its deadline")
            if self._closed:
                raise EOFError("the worker closed its pipe")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._frames.popleft()


def _settle(job: _Job, exc: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
