"""Two shared-memory lanes between the parent and one worker, for bodies and answers.

A job's body and its answer's body pass through a mapping both processes share when they
fit, instead of through the pipe: one copy into the mapping and one out, where the pipe
made the kernel copy them into socket buffers and out again (W2's 272 kB body and
1.09 MB answer: the parent's write of the body alone was 15% of its samples). The pipe
still carries every frame's header, so order and wake-ups stay the pipe's. Job k (counted
alike on both sides: every job is one tag frame and one body frame) uses lane k % 2; the
parent sends a job that uses its lane only while at most one other is in flight on that
worker (one sent further ahead is *piped*: its body and its answer travel in the pipe), and
it copies an answer out as soon as its frame arrives, so a lane is never written while it
is still read.
The mapping is a ``memfd`` (no file to leak, no /dev/shm size to run into) handed to the
worker as a file descriptor.

The parent may lend an answer out of its lane instead of copying it (``lend_answer``): the
front hands that view to the HTTP transport, which sends it from the mapping, and gives
it back once the transport holds nothing of it. While a lane's answer is lent, the flag
byte of the lane (after the lanes) tells the worker not to write its next answer there;
that one takes the pipe. The parent sets the flag when it sends a job and when a loan
ends, so a lent answer is never overwritten.
"""
from __future__ import annotations

import contextlib
import mmap
import os
import struct
import tempfile
from multiprocessing import reduction
from typing import Any

SHARED = -2  # a frame's size field: its bytes are in the lane; the 8-byte size follows
BODY_BYTES = 1 << 20  # room in each lane for a request body
ANSWER_BYTES = 2 << 20  # and for an answer's body
_LANE = BODY_BYTES + ANSWER_BYTES
_FLAGS = 2 * _LANE  # one byte per lane: 1 the answer may be written in the lane, 0 not
_SIZE = _FLAGS + 2


def shared_header(size: int) -> bytes:
    return struct.pack("!iQ", SHARED, size)


class Lanes:
    """One side's view of the two lanes."""

    def __init__(self, fd: int):
        self.map = mmap.mmap(fd, _SIZE)
        os.close(fd)
        self._lent = [False, False]  # the parent's: a lane's answer is out on loan

    @classmethod
    def create(cls) -> tuple[Lanes, SharedFd]:
        """The parent's lanes and what to pass the worker (as a ``Process`` argument)."""
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("gradserve-lanes", os.MFD_CLOEXEC)
        else:  # not Linux: an unlinked temporary file
            with tempfile.TemporaryFile() as file:
                fd = os.dup(file.fileno())
        os.ftruncate(fd, _SIZE)
        return cls(os.dup(fd)), SharedFd(fd)

    def put_body(self, job: int, body: bytes) -> bool:
        """Put a request body in job ``job``'s lane; False if it does not fit."""
        return self._put(_LANE * (job % 2), BODY_BYTES, body)

    def body(self, job: int, size: int) -> memoryview:
        """The worker's view of job ``job``'s body, not a copy: the parent writes that lane
        again only for job ``job + 2``, sent after this job's answer has arrived, and the
        worker keeps nothing of a body past its answer (it parses it)."""
        _check(size, BODY_BYTES)
        start = _LANE * (job % 2)
        return memoryview(self.map)[start:start + size]

    def open_answer(self, job: int) -> None:
        """The parent, sending job ``job``: may its answer use the lane (not lent)?"""
        self.map[_FLAGS + job % 2] = 0 if self._lent[job % 2] else 1

    def put_answer(self, job: int, pieces: list[bytes], size: int) -> bool:
        """Put an answer's body, given in pieces of ``size`` bytes in all, in job ``job``'s
        lane, one piece after the other; False if it does not fit or the lane's answer
        is still lent."""
        if size > ANSWER_BYTES or not self.map[_FLAGS + job % 2]:
            return False
        at = _LANE * (job % 2) + BODY_BYTES
        for piece in pieces:
            self.map[at:at + len(piece)] = piece
            at += len(piece)
        return True

    def lend_answer(self, job: int, size: int) -> Loan:
        """Job ``job``'s answer in its lane, as a view lent until ``Loan.release``."""
        _check(size, ANSWER_BYTES)
        lane = job % 2
        start = _LANE * lane + BODY_BYTES
        self._lent[lane] = True
        return Loan(self, lane, memoryview(self.map)[start:start + size])

    def _return(self, lane: int) -> None:
        self._lent[lane] = False
        self.map[_FLAGS + lane] = 1

    def close(self) -> None:
        """Unmap the lanes (the memfd goes once the worker's side is gone too)."""
        with contextlib.suppress(BufferError):  # an answer still lent: unmapped when it goes
            self.map.close()

    def _put(self, start: int, room: int, data: bytes) -> bool:
        if len(data) > room:
            return False
        self.map[start:start + len(data)] = data
        return True


class Loan:
    """An answer's bytes in its lane, lent out of it (``Lanes.lend_answer``)."""

    __slots__ = ("_lane", "_lanes", "view")

    def __init__(self, lanes: Lanes, lane: int, view: memoryview):
        self._lanes: Lanes | None = lanes
        self._lane = lane
        self.view = view

    def copy(self) -> bytes:
        """The bytes as a copy of their own, the loan ended."""
        data = bytes(self.view)
        self.release()
        return data

    def release(self) -> None:
        """Give the lane back (the view must not be read after); once is enough."""
        lanes, self._lanes = self._lanes, None
        if lanes is not None:
            lanes._return(self._lane)


def _check(size: int, room: int) -> None:
    """A size a frame header announced, checked against the lane's room before a byte is
    read: a size past it would read the other lane's bytes as this frame's."""
    if not 0 <= size <= room:
        raise EOFError(f"a lane frame of {size} bytes announced; the lane holds {room}")


class SharedFd:
    """A file descriptor that multiprocessing duplicates into the child it starts (the way
    it passes the pipe's ``Connection``); the child gets the number back from ``fd()``."""

    def __init__(self, fd: int):
        self._fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _rebuild, (reduction.DupFd(self._fd),)

    def close(self) -> None:
        os.close(self._fd)


def _rebuild(dup: Any) -> int:
    return dup.detach()
