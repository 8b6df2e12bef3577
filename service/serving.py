"""uvicorn, with a shutdown that answers every request the replica has accepted.

uvicorn's own SIGTERM handling closes the listening socket (the kernel resets every
connection still in its accept backlog) and then closes each connection that has no
request in progress, including one whose request bytes have arrived but were not read
yet. Behind a load balancer those resets are 502s. ``DrainingServer`` instead:

1. turns not ready (``/readyz`` answers 503, so load balancers stop sending);
2. takes every connection already in the kernel's backlog, then stops listening (a new
   connection is refused from then on);
3. lets each connection finish: one mid-request gets its answer (then ``Connection:
   close``); one that is idle is closed only when it has no unread bytes and has been
   quiet for ``QUIET`` seconds (so a request that just arrived is read and answered);
4. after ``shutdown_timeout`` seconds at most, runs the app's shutdown (the pool ends
   its workers) and exits.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import uvicorn

from .settings import Settings

log = logging.getLogger("gradserve.serving")
QUIET = 0.5  # seconds an idle connection must be silent before a draining server closes it


class _OneWrite:
    """A connection's transport that sends a response's head together with its first body
    chunk: uvicorn writes the head as soon as the app starts the response, and that extra
    send (the one that wakes the client) was 18% of the main process's samples under the
    seed request's load. The head is held until the next write (one ``writelines``: a
    single ``writev``, nothing copied), the response's end, or ``close``; an interim
    ``100 Continue`` is never held (the client is waiting for it).

    A body given as a ``memoryview`` (an answer lent from a worker's lane, ``front.py``) is
    never kept: it is written to the socket at once when nothing is queued before it (the
    kernel copies it from the lane), and what the socket does not take is copied and
    queued, so the lane can be given back as soon as this returns."""

    __slots__ = ("_fd", "_held", "_transport")

    def __init__(self, transport: Any):
        self._transport = transport
        self._held: bytes | None = None
        sock = transport.get_extra_info("socket")
        plain = sock is not None and transport.get_extra_info("sslcontext") is None
        self._fd: int | None = sock.fileno() if plain else None  # never past TLS

    def write(self, data: bytes | memoryview) -> None:
        if type(data) is memoryview:
            held, self._held = self._held, None
            self._write_view(data if held is None else (held, data))
            return
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 100"):
            self._held = data
        else:
            self._transport.write(data)

    def _write_view(self, data: memoryview | tuple[bytes, memoryview]) -> None:
        parts = (data,) if type(data) is memoryview else data
        sent = 0
        transport = self._transport
        if (self._fd is not None and not transport.get_write_buffer_size()
                and not transport.is_closing()):
            try:
                sent = os.writev(self._fd, parts)
            except OSError:  # would block, or broken: the transport's write finds out
                sent = 0
        rest = []
        for part in parts:
            if sent >= len(part):
                sent -= len(part)
                continue
            rest.append(bytes(part[sent:]))
            sent = 0
        if rest:
            transport.writelines(rest)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _tracked(base: type) -> type:
    """uvicorn's HTTP protocol, also noting when each connection last received bytes, and
    writing each response's head with its body (``_OneWrite``)."""

    class Tracked(base):  # type: ignore[misc, valid-type]
        last_data = 0.0

        def connection_made(self, transport: Any) -> None:
            self.last_data = time.monotonic()
            super().connection_made(_OneWrite(transport))

        def on_response_complete(self) -> None:  # a HEAD answer has no body write
            self.transport.flush()
            super().on_response_complete()

        def data_received(self, data: bytes) -> None:
            self.last_data = time.monotonic()
            super().data_received(data)

    Tracked.__name__ = f"Tracked{base.__name__}"
    return Tracked


def _has_unread(transport: Any) -> bool:
    """Whether bytes wait in the connection's socket that the loop has not read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        with socket.socket(fileno=os.dup(sock.fileno())) as peek:
            return bool(peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # BlockingIOError: nothing waiting
        return False


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose shutdown drains (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, app: Any, drain_timeout: float):
        super().__init__(config)
        self.app = app
        self.drain_timeout = drain_timeout

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        pool = getattr(self.app.state, "pool", None)
        if pool is not None:
            pool.drain()
        log.info("draining: not ready, taking the accept backlog, then no new connections")
        await asyncio.gather(*self._take_backlog(), return_exceptions=True)
        for sock in sockets or []:
            sock.close()
        deadline = time.monotonic() + self.drain_timeout
        while self.server_state.connections and not self.force_exit:
            if time.monotonic() >= deadline:
                log.error("drain: %d connections still open after %.1f s; closing them",
                          len(self.server_state.connections), self.drain_timeout)
                break
            self._close_quiet_connections()
            await asyncio.sleep(0.02)
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for task in list(self.server_state.tasks):
            task.cancel()
        if not self.force_exit:
            await self.lifespan.shutdown()

    def _take_backlog(self) -> list[Any]:
        """Accept what the kernel has queued, hand it to the protocol, stop listening."""
        loop = asyncio.get_running_loop()
        adopting = []
        for server in self.servers:
            listeners = [socket.socket(fileno=os.dup(s.fileno())) for s in server.sockets]
            server.close()  # the duplicates keep the sockets (and their backlogs) alive
            for listener in listeners:
                listener.setblocking(False)
                while True:
                    try:
                        conn, _ = listener.accept()
                    except OSError:  # BlockingIOError: the backlog is empty
                        break
                    conn.setblocking(False)
                    adopting.append(loop.connect_accepted_socket(self._protocol, conn))
                listener.close()
        return adopting

    def _protocol(self) -> asyncio.Protocol:
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state)

    def _close_quiet_connections(self) -> None:
        now = time.monotonic()
        for connection in list(self.server_state.connections):
            cycle = connection.cycle
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False  # answered, then closed
                continue
            quiet = now - getattr(connection, "last_data", 0.0) >= QUIET
            if quiet and not _has_unread(connection.transport):
                connection.transport.close()


def serve(settings: Settings) -> None:
    """Run the app until SIGTERM or SIGINT, then drain and exit."""
    from .app import create_app
    from .front import FrontDoor

    app = create_app(settings)
    app.state.lane_views = True  # this server's transports keep no view (_OneWrite)
    config = uvicorn.Config(FrontDoor(app), host=settings.host, port=settings.port,
                            log_level=settings.log_level, access_log=settings.access_log,
                            loop="auto", http="auto",
                            timeout_graceful_shutdown=settings.shutdown_timeout)
    config.load()
    config.http_protocol_class = _tracked(config.http_protocol_class)
    DrainingServer(config, app, settings.shutdown_timeout).run()
