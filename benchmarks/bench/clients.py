"""N websocket clients in one event loop, and what they received.

Each client is a ``websockets`` connection (compression off) with a reader task
that hands every frame to the system's ``on_frame()`` and records each delivery
it returns, with the time it was read, into the shared :class:`Recorder`.
The harness runs them in its own loop; the scale scenario in client processes
(:mod:`bench.clientproc`), where a client that loses its socket reconnects as
the browser's does (:class:`ReconnectPolicy`), if the system can resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from bench.system import System

#: Connections opened at once: a server's accept backlog is finite.
CONNECT_CONCURRENCY = 50


#: What a failed attempt to open and subscribe a socket raises.
OPEN_FAILED = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, RuntimeError)


def raise_open_files_limit(needed: int) -> None:
    """Let this process (and the servers it starts) hold ``needed`` descriptors.

    Raises the hard limit too where the process may (root, or CAP_SYS_RESOURCE):
    a balancer in front of 10,000 sockets holds twice that.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, needed))
            hard = needed
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@dataclass(frozen=True)
class ReconnectPolicy:
    """``RECONNECT_POLICY`` of ``turbo_streams.js``, in seconds, and how it waits.

    A socket fails when it closes before opening, or within ``stable_after`` of
    opening. The wait after a socket that did not fail is a random time between
    0 and ``spread`` ("full jitter"): what spreads the pages of a killed server
    over the survivors. After n failed sockets in a row it is ``first_delay *
    2**n``, up to ``max_delay``; after ``fast_attempts`` failed sockets,
    ``slow_delay``; each a random time between half and all of that ("equal
    jitter").
    """

    spread: float = 5.0
    first_delay: float = 0.5
    max_delay: float = 30.0
    fast_attempts: int = 10
    slow_delay: float = 60.0
    stable_after: float = 10.0

    def delay(self, failures: int) -> float:
        """The wait before the next socket, after ``failures`` failed ones in a row."""
        if failures == 0:
            return random.random() * self.spread
        if failures >= max(1, self.fast_attempts):
            backoff = self.slow_delay
        else:
            backoff = min(self.max_delay, self.first_delay * 2**failures)
        return backoff / 2 + random.random() * backoff / 2


@dataclass
class Outage:
    """A client's socket closed under it, and (``time.time()``) when it was back."""

    closed_at: float
    code: str
    #: Sockets tried until one opened and subscribed.
    attempts: int = 0
    #: When the subscribe on the new socket was answered (and what it replayed applied).
    resubscribed_at: float | None = None


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

    def open(
        self, first: int, count: int, clients: int, goal: str = "all", receipts: bool = False
    ) -> None:
        """Start recording ``count`` messages from ``first`` on, for ``clients`` clients.

        With ``receipts``, keep when each client read each message, and each
        message's ``t0``: what tells when a client that reconnected had caught up.
        """
        self.first, self.end, self.clients, self.goal = first, first + count, clients, goal
        self.receipts: list[dict[int, float]] | None = (
            [{} for _ in range(clients)] if receipts else None
        )
        self.t0: dict[int, float] = {}
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
        if self.receipts is not None:
            self.receipts[client][seq] = received
            self.t0[seq] = t0
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
    """The N connected, subscribed clients of one measurement.

    With ``resume`` (a system that :attr:`~bench.system.System.resumes`), a
    client whose socket closes reconnects after the :class:`ReconnectPolicy`'s
    wait and subscribes from where it stood; each such outage is kept in
    :attr:`outages`.
    """

    def __init__(
        self,
        system: System,
        url: str,
        origin: str,
        recorder: Recorder,
        resume: bool = False,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        self.system, self.url, self.origin, self.recorder = system, url, origin, recorder
        self.resume, self.policy = resume, policy or ReconnectPolicy()
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        #: Close codes and reasons of sockets the server closed during the measurement.
        self.closed: list[str] = []
        #: Per client (its index), the outages it went through, when it resumes.
        self.outages: dict[int, list[Outage]] = {}

    async def open_socket(
        self, index: int | None, previous: ClientConnection | None = None
    ) -> ClientConnection:
        """Open a socket and subscribe it; record what the subscription delivered.

        ``index`` is the client's in the recorder (None while connecting: the
        first subscribe has nothing to replay).
        """
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
            found = await self.system.subscribe(socket, previous)
        except BaseException:
            await socket.close()
            raise
        if index is not None:
            received = time.time()
            for seq, t0 in found:
                self.recorder.add(index, seq, received, t0)
        return socket

    async def connect(self, count: int) -> None:
        """Open ``count`` sockets, ``CONNECT_CONCURRENCY`` at a time, and subscribe each."""
        raise_open_files_limit(count + 1024)
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one() -> ClientConnection:
            async with gate:
                return await self.open_socket(None)

        results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
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
        """Feed every frame of ``socket`` to the system; record its deliveries.

        Without ``resume``, returns when the socket closes; with it, reconnects.
        """
        recorder, on_frame = self.recorder, self.system.on_frame
        failures = 0
        while True:
            opened = time.monotonic()
            try:
                async for frame in socket:
                    received = time.time()
                    recorder.last_frame = time.monotonic()
                    for seq, t0 in await on_frame(socket, frame):
                        recorder.add(index, seq, received, t0)
            except ConnectionClosed as closed:
                code = f"{closed.rcvd.code if closed.rcvd else 'no close frame'}"
            else:
                code = str(socket.close_code)
            self.closed.append(code)
            if not self.resume:
                return
            # A socket closed soon after opening failed, as in the browser.
            stable = time.monotonic() - opened >= self.policy.stable_after
            failures = 0 if stable else failures + 1
            socket, failures = await self.reconnect(index, socket, code, failures)

    async def reconnect(
        self, index: int, previous: ClientConnection, code: str, failures: int
    ) -> tuple[ClientConnection, int]:
        """Wait, open a socket and resubscribe from where ``previous`` stood, until it works.

        Returns the new socket and the count of failed sockets in a row.
        """
        outage = Outage(time.time(), code)
        self.outages.setdefault(index, []).append(outage)
        while True:
            await asyncio.sleep(self.policy.delay(failures))
            outage.attempts += 1
            try:
                socket = await self.open_socket(index, previous)
            except OPEN_FAILED:
                failures += 1
                continue
            outage.resubscribed_at = time.time()
            self.sockets[index] = socket
            return socket, failures

    async def close(self, timeout: float = 10.0) -> None:
        """Close every socket (the close handshake if the server answers in time)."""
        for reader in self.readers:
            reader.cancel()
        # Cancelled first: a reader that resumes must not open a socket meanwhile.
        await asyncio.gather(*self.readers, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True),
                timeout,
            )
        for socket in self.sockets:
            if socket.transport is not None:
                socket.transport.abort()
        self.sockets, self.readers = [], []
