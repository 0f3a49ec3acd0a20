"""What one socket, and one client, may cost the server.

The websocket consumer (:mod:`turbo.consumers`) holds one :class:`SocketLimits`
per socket: its frame rate, its rate of history reads, and the
:class:`AckWindow` of what it was sent and has not acknowledged.
:data:`clients` counts the sockets of each client address in this process, and
keeps the rate limits of the sockets it closed, so that reconnecting does not
start a client's limits afresh. ``docs/security.rst`` states the bounds.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING, Any, Final

from turbo import conf
from turbo.conf import ACK_INTERVAL_BYTES

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger("turbo")

#: Seconds a socket's refused subscription is refused again without a new check.
RECHECK_INTERVAL: Final = 2.0

#: Client addresses whose closed sockets' limits a process remembers at most.
REMEMBERED: Final = 10_000

# Close codes are 4000-4999, private to the application: ASGI servers let an
# application send those (and 1000) only, autobahn's daphne refusing RFC
# 6455's others with a traceback and closing with 1011 instead.

#: Close code for a frame longer than ``TURBO_MAX_FRAME_SIZE`` (after RFC 6455's 1009).
CLOSE_FRAME_TOO_BIG: Final = 4009
#: Close code for a socket sending frames, or asking for replays, faster than allowed.
CLOSE_RATE_LIMITED: Final = 4429
#: Close code for a client that stopped acknowledging frames (``TURBO_ACK_TIMEOUT``).
CLOSE_TOO_SLOW: Final = 4408


class RateLimit:
    """A token bucket: ``burst`` actions at once, then ``rate`` actions per second."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.updated = monotonic()

    def allow(self) -> bool:
        """Take one action's token; false when the bucket is empty."""
        self._refill()
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def full(self) -> bool:
        """Whether the bucket has refilled: keeping it would limit nothing."""
        self._refill()
        return self.tokens >= self.burst

    def _refill(self) -> None:
        now = monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class AckWindow:
    """The bytes sent to a socket that its client has not acknowledged yet.

    Every frame counts, whatever its type (``docs/protocol.rst``). A client
    owes an ack once more than 64 KiB are unacknowledged; it has stalled when
    it has owed one for :setting:`TURBO_ACK_TIMEOUT` seconds, or when more
    than :setting:`TURBO_MAX_UNACKED_BYTES` would be unacknowledged.
    """

    __slots__ = ("acknowledged", "max_bytes", "owing_since", "sizes", "timeout", "total")

    def __init__(self) -> None:
        self.max_bytes = conf.max_unacked_bytes()
        self.timeout = conf.ack_timeout()
        #: Since when the client has owed an ack (``monotonic()``), if it does.
        self.owing_since: float | None = None
        # A list, not a deque: an idle socket's empty list costs a tenth as much.
        #: Sizes of the frames sent and not yet acknowledged, oldest first.
        self.sizes: list[int] = []
        self.total = 0
        self.acknowledged = 0

    def send(self, size: int) -> str | None:
        """Count a frame of ``size`` bytes; why the client has stalled, if it has.

        A frame that would stall the client is not counted: it is not sent.
        """
        if self.total + size > self.max_bytes:
            return f"would be over {self.max_bytes} bytes behind"
        if self.total + size > ACK_INTERVAL_BYTES:
            now = monotonic()
            if self.owing_since is None:
                self.owing_since = now
            elif now - self.owing_since > self.timeout:
                return f"has owed an ack for over {self.timeout:g} s"
        self.sizes.append(size)
        self.total += size
        return None

    def possible(self, frames: object) -> bool:
        """Whether ``frames`` could be the client's count of frames received."""
        return (
            isinstance(frames, int)
            and not isinstance(frames, bool)
            and 0 <= frames - self.acknowledged <= len(self.sizes)
        )

    def advances(self, frames: object) -> bool:
        """Whether ``frames`` is a possible count that acknowledges a frame more."""
        return self.possible(frames) and frames != self.acknowledged

    def acknowledge(self, frames: object) -> bool:
        """Take the client's count of frames received; false if it is impossible."""
        if not self.possible(frames):
            return False
        assert isinstance(frames, int)
        newly = frames - self.acknowledged
        self.total -= sum(self.sizes[:newly])
        del self.sizes[:newly]
        self.acknowledged = frames
        # Progress: the client owes the next ack from now, if it owes one.
        self.owing_since = monotonic() if self.total > ACK_INTERVAL_BYTES else None
        return True

    @property
    def expected(self) -> str:
        """The acks that would be possible now, for an error message."""
        return f"between {self.acknowledged} and {self.acknowledged + len(self.sizes)}"


class SocketLimits:
    """The rate limits of one socket: the frames it sends, and its history reads."""

    __slots__ = ("frames", "history_reads")

    def __init__(self) -> None:
        self.frames = RateLimit(*conf.frame_rate())
        # A reconnected page reads the history of each of its streams at once.
        self.history_reads = RateLimit(conf.replay_rate(), conf.max_subscriptions())

    def spent(self) -> bool:
        """Whether either bucket is short of full: worth handing to the next socket."""
        return not (self.frames.full() and self.history_reads.full())


class Refusals:
    """A socket's recent refusals of subscriptions, so that a refused one is not checked again.

    Within :data:`RECHECK_INTERVAL` seconds of a refusal, a subscribe to the
    same stream gets the same answer without asking the database. At most
    :setting:`TURBO_MAX_SUBSCRIPTIONS` streams are remembered, the oldest
    forgotten first. Times are ``monotonic()`` seconds, those of the checks::

        refusals.remember(group, ("forbidden", "…"), checked_at)
        refusals.recent(group, monotonic())  # ("forbidden", "…") for a while, then None
    """

    __slots__ = ("refused",)

    def __init__(self) -> None:
        #: When each group was refused, and the reason and message.
        self.refused: dict[str, tuple[float, tuple[str, str]]] = {}

    def recent(self, group: str, now: float) -> tuple[str, str] | None:
        """The reason and message of a refusal of ``group`` made recently, if any."""
        refused = self.refused.get(group)
        if refused is not None and now - refused[0] < RECHECK_INTERVAL:
            return refused[1]
        return None

    def remember(self, group: str, rejection: tuple[str, str], checked_at: float) -> None:
        """Note that ``group`` was refused by a check at ``checked_at``, with ``rejection``."""
        self.refused.pop(group, None)
        self.refused[group] = (checked_at, rejection)
        if len(self.refused) > conf.max_subscriptions():
            del self.refused[next(iter(self.refused))]


def client_address(scope: Mapping[str, Any]) -> str | None:
    """The address a socket comes from, as the ASGI server reports it.

    Behind a proxy that is the proxy's, unless the server is told to read the
    client's from the proxy's headers (daphne ``--proxy-headers``, uvicorn
    ``--proxy-headers --forwarded-allow-ips``).
    """
    client = scope.get("client")
    return str(client[0]) if client else None


class Clients:
    """The sockets of each client address open in this process.

    :meth:`open` refuses a client that already holds
    :setting:`TURBO_MAX_SOCKETS_PER_CLIENT` sockets, and gives a new socket the
    limits a closed socket of the same client left, while they still limit
    anything: a client that reconnects continues where it stood.
    """

    def __init__(self) -> None:
        self.open_sockets: dict[str, int] = {}
        self.left: dict[str, list[SocketLimits]] = {}
        # Addresses refused since they were last under the cap: logged once.
        self.refused: set[str] = set()

    def open(self, address: str | None) -> SocketLimits | None:
        """The limits of a new socket from ``address``; ``None`` to refuse it."""
        if address is None:
            return SocketLimits()
        cap = conf.max_sockets_per_client()
        count = self.open_sockets.get(address, 0)
        if cap is not None and count >= cap:
            if address not in self.refused:
                self.refused.add(address)
                logger.warning(
                    "Refused turbo websockets from %s: it holds %d already "
                    "(TURBO_MAX_SOCKETS_PER_CLIENT). Behind a proxy, let the ASGI server read "
                    "client addresses from its headers, or every client shares the proxy's.",
                    address,
                    count,
                )
            return None
        self.open_sockets[address] = count + 1
        left = self.left.get(address)
        if left:
            limits = left.pop()
            if not left:
                del self.left[address]
            return limits
        return SocketLimits()

    def close(self, address: str | None, limits: SocketLimits) -> None:
        """Count a socket of ``address`` closed, keeping its limits if they are spent."""
        if address is None:
            return
        count = self.open_sockets.pop(address, 0) - 1
        if count > 0:
            self.open_sockets[address] = count
        self.refused.discard(address)
        if limits.spent():
            self.left.setdefault(address, []).append(limits)
        # Amortised: limits that have refilled bound nothing, and are dropped.
        if len(self.left) > 2 * len(self.open_sockets) + 100:
            self.forget_refilled()

    def forget_refilled(self) -> None:
        """Drop the limits that have refilled, then the oldest beyond :data:`REMEMBERED`."""
        for address, left in list(self.left.items()):
            left[:] = [limits for limits in left if limits.spent()]
            if not left:
                del self.left[address]
        for address in list(self.left)[: max(0, len(self.left) - REMEMBERED)]:
            del self.left[address]


#: The clients of this server process.
clients = Clients()
