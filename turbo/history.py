"""Stream history: a position for every broadcast, and what a returning page missed.

Every broadcast is recorded before it is sent, and gets a position: a number
from one sequence shared by all streams, under an *epoch* naming that
sequence. A page is rendered with the position of the moment its request
started; when it subscribes (or subscribes again after a reconnect) with the
last position it applied, the server sends it what the stream broadcast since,
or says that the history no longer reaches back that far. Each message also
carries the position of the stream's previous one, so a client sees a gap
(two processes can publish in the opposite order from the one they recorded
in) and never applies a message twice.

The history lives in the channel layer's Redis with a channels_redis layer, in
the process with the in-memory layer, or nowhere (:setting:`TURBO_HISTORY`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol
from weakref import WeakKeyDictionary

from django.core.exceptions import ImproperlyConfigured

from turbo import conf

if TYPE_CHECKING:
    from collections.abc import Iterator

    from redis.asyncio import Redis

logger = logging.getLogger("turbo")

#: Seconds the last position of a stream is kept in Redis after its last
#: broadcast: a page whose position is older than that and which never saw
#: the broadcast is not told about it.
LAST_POSITION_TTL: Final = 7 * 24 * 3600


@dataclass(frozen=True)
class Position:
    """A point in the history: ``"<epoch>:<sequence>"`` in frames and attributes."""

    epoch: str
    sequence: int

    def __str__(self) -> str:
        return f"{self.epoch}:{self.sequence}"

    @classmethod
    def parse(cls, text: object) -> Position | None:
        """The position ``text`` spells, or ``None`` if it spells none."""
        if not isinstance(text, str) or len(text) > 64:
            return None
        epoch, _, sequence = text.rpartition(":")
        # isdigit() alone would take "²" and other digits int() refuses.
        if not epoch or not (sequence.isascii() and sequence.isdigit()):
            return None
        return cls(epoch, int(sequence))


class Entry(NamedTuple):
    """One recorded broadcast of a stream."""

    #: Its position in the epoch's sequence.
    sequence: int
    #: The sequence of the stream's previous broadcast (0: none recorded).
    previous: int
    html: str


class Recorded(NamedTuple):
    """Where :meth:`History.record` put a broadcast."""

    epoch: str
    sequence: int
    previous: int


class History(Protocol):
    """Where broadcasts are recorded, and read back for a returning page."""

    async def record(self, group: str, html: str) -> Recorded:
        """Record a broadcast of ``group``, before it is sent."""

    async def position(self) -> Position:
        """The current position: every broadcast recorded so far is at or before it."""

    async def since(self, group: str, after: Position) -> list[Entry] | None:
        """The broadcasts of ``group`` after ``after``, oldest first.

        ``None`` when the history cannot tell: another epoch, or broadcasts
        trimmed away since.
        """


def covering(entries: list[Entry], last: int, after: int) -> list[Entry] | None:
    """The entries after ``after``, if they reach back to it; else ``None``.

    ``entries`` are what the log still holds, oldest first, and ``last`` the
    sequence of the stream's latest broadcast.
    """
    if last <= after:
        return []
    missed = [entry for entry in entries if entry.sequence > after]
    if not missed or missed[0].previous > after or missed[-1].sequence != last:
        return None
    return missed


class MemoryHistory:
    """The history of one process, for the in-memory channel layer."""

    def __init__(self, max_entries: int, max_age: float) -> None:
        self.max_entries, self.max_age = max_entries, max_age
        # A new epoch per process: positions of a previous run mean nothing.
        self.epoch = secrets.token_hex(8)
        self.sequence = 0
        self.logs: dict[str, deque[tuple[float, Entry]]] = {}
        self.last: dict[str, int] = {}

    async def record(self, group: str, html: str) -> Recorded:
        self.sequence += 1
        previous = self.last.get(group, 0)
        log = self.logs.setdefault(group, deque(maxlen=self.max_entries))
        log.append((time.monotonic(), Entry(self.sequence, previous, html)))
        self.last[group] = self.sequence
        return Recorded(self.epoch, self.sequence, previous)

    async def position(self) -> Position:
        return Position(self.epoch, self.sequence)

    async def since(self, group: str, after: Position) -> list[Entry] | None:
        if after.epoch != self.epoch:
            return None
        oldest = time.monotonic() - self.max_age
        entries = [entry for recorded, entry in self.logs.get(group, ()) if recorded >= oldest]
        return covering(entries, self.last.get(group, 0), after.sequence)


# KEYS[1] and KEYS[2] of both scripts: the sequence and the epoch. A new
# epoch, made when Redis has none (a first run, or its data lost), tells pages
# rendered before that their positions mean nothing any more.
_EPOCH = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  local now = redis.call('TIME')
  epoch = now[1] .. now[2]
  redis.call('SET', KEYS[2], epoch)
end
"""

_POSITION = (
    _EPOCH
    + """
return {epoch, tonumber(redis.call('GET', KEYS[1]) or '0')}
"""
)

# KEYS[3] and KEYS[4]: the stream's log and its last sequence. ARGV: the html,
# the log's length, its age in milliseconds, the last sequence's TTL. One
# script, so that positions are handed out in the order the log records them,
# whichever process records.
_RECORD = (
    _EPOCH
    + """
local sequence = redis.call('INCR', KEYS[1])
local previous = tonumber(redis.call('GET', KEYS[4]) or '0')
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], sequence .. '-0',
  'html', ARGV[1], 'previous', previous)
redis.call('PEXPIRE', KEYS[3], ARGV[3])
redis.call('SET', KEYS[4], sequence, 'EX', ARGV[4])
return {epoch, sequence, previous}
"""
)


class RedisHistory:
    """The history in Redis, shared by every process of the project.

    ``host`` is a host as channels_redis takes them (``{"address":
    "redis://..."}``, sentinels...): by default the channel layer's first.
    """

    def __init__(self, host: dict[str, Any], prefix: str, max_entries: int, max_age: float) -> None:
        self.host, self.prefix = host, prefix
        self.max_entries, self.max_age = max_entries, max_age
        # redis.asyncio clients belong to the loop they were made on.
        self._clients: WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = WeakKeyDictionary()

    def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import redis.asyncio
            from channels_redis.utils import create_pool

            pool = create_pool(self.host)
            client = self._clients[loop] = redis.asyncio.Redis(connection_pool=pool)
            _close_with(loop, client)
        return client

    def _keys(self, group: str) -> list[str]:
        return [
            f"{self.prefix}:sequence",
            f"{self.prefix}:epoch",
            f"{self.prefix}:log:{group}",
            f"{self.prefix}:last:{group}",
        ]

    async def record(self, group: str, html: str) -> Recorded:
        arguments: list[str | int] = [
            html,
            self.max_entries,
            int(self.max_age * 1000),
            LAST_POSITION_TTL,
        ]
        result: Any = await self._client().eval(_RECORD, 4, *self._keys(group), *arguments)
        epoch, sequence, previous = result
        return Recorded(_text(epoch), int(sequence), int(previous))

    async def position(self) -> Position:
        result: Any = await self._client().eval(_POSITION, 2, *self._keys("")[:2])
        epoch, sequence = result
        return Position(_text(epoch), int(sequence))

    async def since(self, group: str, after: Position) -> list[Entry] | None:
        _, epoch_key, log_key, last_key = self._keys(group)
        client = self._client()
        epoch, last = await client.mget([epoch_key, last_key])
        if epoch is None or _text(epoch) != after.epoch:
            return None
        rows: Any = await client.xrange(log_key, min=f"({after.sequence}-0")
        entries = [
            Entry(_sequence_of(key), int(fields[b"previous"]), _text(fields[b"html"]))
            for key, fields in rows
        ]
        return covering(entries, int(last or 0), after.sequence)


def _close_with(loop: asyncio.AbstractEventLoop, client: Redis) -> None:
    """Close ``client``'s connections when ``loop`` closes, as channels_redis does its own.

    Each loop (a test's, say) has a client of its own; left open, its
    connections would outlive the loop they belong to.
    """
    close = loop.close

    def close_client_first() -> None:
        loop.close = close  # type: ignore[method-assign]
        if not loop.is_closed():
            loop.run_until_complete(client.aclose(close_connection_pool=True))
        close()

    loop.close = close_client_first  # type: ignore[method-assign]


def _sequence_of(entry_id: bytes) -> int:
    return int(entry_id.partition(b"-")[0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# Per channel layer (tests make several), then per TURBO_HISTORY.
_histories: WeakKeyDictionary[Any, dict[str | None, History | None]] = WeakKeyDictionary()


def for_layer(layer: Any) -> History | None:
    """The history kept beside ``layer``, per :setting:`TURBO_HISTORY`; ``None`` if off."""
    if layer is None:
        return None
    kind = conf.history()
    kept = _histories.setdefault(layer, {})
    if kind not in kept:
        kept[kind] = _make(layer)
    return kept[kind]


def _make(layer: Any) -> History | None:
    from channels.layers import InMemoryChannelLayer

    kind, max_entries, max_age = conf.history(), conf.history_max_entries(), conf.history_max_age()
    if kind == "memory" or (kind == "auto" and isinstance(layer, InMemoryChannelLayer)):
        return MemoryHistory(max_entries, max_age)
    if kind in ("auto", "redis"):
        redis_layer = _redis_layer_config(layer)
        if redis_layer is not None:
            host, prefix = redis_layer
            return RedisHistory(host, f"{prefix}:turbo-history", max_entries, max_age)
        if kind == "redis":
            raise ImproperlyConfigured(
                "TURBO_HISTORY = 'redis' keeps the history in the channel layer's Redis, "
                "but the channel layer is not a channels_redis one."
            )
    return None


def _redis_layer_config(layer: Any) -> tuple[dict[str, Any], str] | None:
    """The first host and the prefix of a channels_redis layer, or ``None``."""
    try:
        from channels_redis.core import RedisChannelLayer
        from channels_redis.pubsub import RedisPubSubChannelLayer
        from channels_redis.utils import decode_hosts
    except ImportError:  # channels_redis is optional
        return None
    if isinstance(layer, RedisChannelLayer):
        return layer.hosts[0], layer.prefix
    if isinstance(layer, RedisPubSubChannelLayer):
        # A proxy making one layer per event loop: its configuration is what it keeps.
        config = layer._kwargs
        return decode_hosts(config.get("hosts"))[0], config.get("prefix", "asgi")
    return None


_page_position: contextvars.ContextVar[Position | None] = contextvars.ContextVar(
    "turbo_page_position", default=None
)


@contextmanager
def page_rendered_from(position: Position | None) -> Iterator[None]:
    """Render the pages of the block as of ``position``.

    :class:`~turbo.middleware.TurboMiddleware` reads the position when a
    request starts, before its view queries anything: a broadcast committed
    while the view runs is then after the page's position, and replayed to it.
    """
    token = _page_position.set(position)
    try:
        yield
    finally:
        _page_position.reset(token)


def page_position(layer: Any) -> Position | None:
    """The position ``{% turbo_subscribe %}`` renders: the request's, or the current one.

    ``None`` without a history, or if it cannot be read (logged).
    """
    position = _page_position.get()
    if position is not None:
        return position
    kept = for_layer(layer)
    if kept is None:
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        # A template rendered in an async view: waiting here would block the
        # loop that would answer. TurboMiddleware reads it beforehand.
        return None
    from turbo.broadcast import run_in_loop

    try:
        return run_in_loop(kept.position)
    except Exception:
        logger.exception("Reading the position of the stream history failed")
        return None


async def apage_position(layer: Any) -> Position | None:
    """Async twin of :func:`page_position`, for async middleware."""
    kept = for_layer(layer)
    if kept is None:
        return None
    try:
        return await kept.position()
    except Exception:
        logger.exception("Reading the position of the stream history failed")
        return None
