"""N websocket clients in the harness's event loop, and what they received.

Each client is a ``websockets`` connection (compression off) with a reader task
that hands every frame to the system's ``on_frame()`` and records each delivery
it returns, with the time it was read, into the shared :class:`Recorder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from typing import TYPE_CHECKING

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from bench.system import System

#: Connections opened at once: a server's accept backlog is finite.
CONNECT_CONCURRENCY = 50


def raise_open_files_limit(needed: int) -> None:
    """Let this process (and the servers it starts) hold ``needed`` descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Recorder:
    """The deliveries of one window of sequence numbers: a scenario, or the warm-up.

    In a scenario the window is complete once every client got every message
    (``goal="all"``); in the warm-up, once every client got any message of it
    (``goal="any"``), since the warm-up repeats until they all have.
    """

    def __init__(self) -> None:
        self.open(0, 0, 0)
        #: ``time.monotonic()`` of the last frame any client received.
        self.last_frame = time.monotonic()

    def open(self, first: int, count: int, clients: int, goal: str = "all") -> None:
        """Start recording ``count`` messages from ``first`` on, for ``clients`` clients."""
        self.first, self.end, self.clients, self.goal = first, first + count, clients, goal
        self.expected = clients * count
        self.seen: list[set[int]] = [set() for _ in range(clients)]
        self.reached = 0
        self.delivered = 0
        self.duplicates = 0
        self.stray = 0
        self.latencies: list[float] = []
        self.first_receive: float | None = None
        self.last_receive: float | None = None
        self.done = asyncio.Event()
        if count == 0:
            self.done.set()

    def add(self, client: int, seq: int, received: float, t0: float) -> None:
        """Record that ``client`` read message ``seq`` at ``received`` (sent at ``t0``)."""
        if not self.first <= seq < self.end:
            self.stray += 1  # a late one from an earlier window
            return
        seen = self.seen[client]
        if seq in seen:
            self.duplicates += 1
            return
        if not seen:
            self.reached += 1
        seen.add(seq)
        self.delivered += 1
        self.latencies.append(received - t0)
        if self.first_receive is None:
            self.first_receive = received
        self.last_receive = received
        if (self.goal == "all" and self.delivered >= self.expected) or (
            self.goal == "any" and self.reached >= self.clients
        ):
            self.done.set()


class Clients:
    """The N connected, subscribed clients of one measurement."""

    def __init__(self, system: System, url: str, origin: str, recorder: Recorder) -> None:
        self.system, self.url, self.origin, self.recorder = system, url, origin, recorder
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        #: Close codes and reasons of sockets the server closed during the measurement.
        self.closed: list[str] = []

    async def connect(self, count: int) -> None:
        """Open ``count`` sockets, ``CONNECT_CONCURRENCY`` at a time, and subscribe each."""
        raise_open_files_limit(count + 1024)
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(index: int) -> ClientConnection:
            async with gate:
                socket = await connect(
                    self.url,
                    origin=self.origin,  # type: ignore[arg-type]
                    compression=None,
                    # A system whose JavaScript offers subprotocols lists them.
                    subprotocols=getattr(self.system, "subprotocols", None),
                    proxy=None,
                    # The server's pings (daphne's) are answered; ours would be load.
                    ping_interval=None,
                    open_timeout=60,
                    close_timeout=2,
                    max_size=2**24,
                    # Room to queue frames while the loop serves a thousand readers,
                    # so that the client does not throttle the server in a burst.
                    max_queue=4096,
                )
                try:
                    await self.system.subscribe(socket)
                except BaseException:
                    await socket.close()
                    raise
                return socket

        results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
        self.sockets = [r for r in results if not isinstance(r, BaseException)]
        for index, socket in enumerate(self.sockets):
            self.readers.append(asyncio.create_task(self.read(index, socket)))
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise RuntimeError(
                f"{len(failures)} of {count} clients failed to connect and subscribe; "
                f"first: {failures[0]!r}"
            )

    async def read(self, index: int, socket: ClientConnection) -> None:
        """Feed every frame of ``socket`` to the system; record its deliveries."""
        recorder, on_frame = self.recorder, self.system.on_frame
        try:
            async for frame in socket:
                received = time.time()
                recorder.last_frame = time.monotonic()
                for seq, t0 in await on_frame(socket, frame):
                    recorder.add(index, seq, received, t0)
        except ConnectionClosed as closed:
            self.closed.append(f"{closed.rcvd.code if closed.rcvd else 'no close frame'}")
            return
        self.closed.append(str(socket.close_code))

    async def close(self, timeout: float = 10.0) -> None:
        """Close every socket (the close handshake if the server answers in time)."""
        for reader in self.readers:
            reader.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True),
                timeout,
            )
        for socket in self.sockets:
            if socket.transport is not None:
                socket.transport.abort()
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.sockets, self.readers = [], []
