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
It holds the streams that broadcast within :setting:`TURBO_HISTORY_MAX_AGE`;
of those it forgot, only the latest position, after which none of them
broadcast (:attr:`Entry.previous`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
import time
from collections import OrderedDict, deque
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

#: Streams a :class:`MemoryHistory` keeps at most: past that, it forgets the
#: one that broadcast least recently, as it does those quiet for longer than
#: :setting:`TURBO_HISTORY_MAX_AGE`.
MEMORY_MAX_STREAMS: Final = 10_000


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


#: The position of a page rendered when the history could not be read (Redis
#: down, or slower than :setting:`TURBO_REDIS_TIMEOUT`). No history has its
#: epoch, so the page's subscribe is answered with a refresh: what was
#: broadcast between its rendering and its subscribe is not lost.
UNKNOWN: Final = Position("unknown", 0)


class Entry(NamedTuple):
    """One recorded broadcast of a stream."""

    #: Its position in the epoch's sequence.
    sequence: int
    #: The sequence of the stream's previous broadcast (0: none recorded). For
    #: a stream the history had forgotten, the latest sequence of any stream
    #: it forgot instead: every broadcast it no longer holds is at or before
    #: that, so a page standing before it may have missed one.
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

        ``None`` when the history cannot tell: another epoch, broadcasts
        trimmed away since, or a stream it forgot after ``after``.
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
    """The history of one process, for the in-memory channel layer.

    It holds the streams that broadcast within ``max_age`` seconds, at most
    ``max_streams`` of them: each record forgets those quiet for longer, and
    the least recently broadcast beyond the count.
    """

    def __init__(
        self, max_entries: int, max_age: float, max_streams: int = MEMORY_MAX_STREAMS
    ) -> None:
        self.max_entries, self.max_age, self.max_streams = max_entries, max_age, max_streams
        # A new epoch per process: positions of a previous run mean nothing.
        self.epoch = secrets.token_hex(8)
        self.sequence = 0
        #: Each stream's recent broadcasts with the time they were recorded,
        #: the stream that broadcast least recently first.
        self.logs: OrderedDict[str, deque[tuple[float, Entry]]] = OrderedDict()
        #: The latest sequence of a stream it forgot (see :attr:`Entry.previous`).
        self.forgotten = 0

    async def record(self, group: str, html: str) -> Recorded:
        now = time.monotonic()
        self.sequence += 1
        log = self.logs.get(group)
        if log is None:
            log = self.logs[group] = deque(maxlen=self.max_entries)
            previous = self.forgotten
        else:
            previous = log[-1][1].sequence
            self.logs.move_to_end(group)
        log.append((now, Entry(self.sequence, previous, html)))
        self._forget(now - self.max_age)
        return Recorded(self.epoch, self.sequence, previous)

    def _forget(self, oldest: float) -> None:
        # Oldest first, so the loop stops at the first stream to keep: the one
        # just recorded, at the latest. Each stream is forgotten at most once
        # per time it was added, so a record costs O(1) amortised.
        while len(self.logs) > self.max_streams or next(iter(self.logs.values()))[-1][0] < oldest:
            _, log = self.logs.popitem(last=False)
            self.forgotten = max(self.forgotten, log[-1][1].sequence)

    async def position(self) -> Position:
        return Position(self.epoch, self.sequence)

    async def since(self, group: str, after: Position) -> list[Entry] | None:
        if after.epoch != self.epoch:
            return None
        log = self.logs.get(group)
        if log is None:
            return [] if after.sequence >= self.forgotten else None
        oldest = time.monotonic() - self.max_age
        entries = [entry for recorded, entry in log if recorded >= oldest]
        return covering(entries, log[-1][1].sequence, after.sequence)


# KEYS[1] and KEYS[2] of the next two scripts: the sequence and the epoch. A new
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

# KEYS[3], KEYS[4] and KEYS[5]: the stream's log, the sorted set of the
# streams the history holds (scored by their last sequence) and the latest
# sequence of a stream it forgot (Entry.previous). ARGV: the html, the log's
# length, its age in milliseconds, the group, the prefix of log keys. One
# script, so that positions are handed out in the order the log records them,
# whichever process records. Then it forgets a few streams whose log expired:
# the lowest scores broadcast least recently, so their logs expire first.
_RECORD = (
    _EPOCH
    + """
local sequence = redis.call('INCR', KEYS[1])
local previous = tonumber(redis.call('ZSCORE', KEYS[4], ARGV[4])
  or redis.call('GET', KEYS[5]) or '0')
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], sequence .. '-0',
  'html', ARGV[1], 'previous', string.format('%d', previous))
redis.call('PEXPIRE', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[4], sequence, ARGV[4])
local oldest = redis.call('ZRANGE', KEYS[4], 0, 7, 'WITHSCORES')
for i = 1, #oldest, 2 do
  if redis.call('EXISTS', ARGV[5] .. oldest[i]) == 1 then break end
  redis.call('ZREM', KEYS[4], oldest[i])
  local forgotten = tonumber(oldest[i + 1])
  if forgotten > tonumber(redis.call('GET', KEYS[5]) or '0') then
    redis.call('SET', KEYS[5], string.format('%d', forgotten))
  end
end
return {epoch, sequence, previous}
"""
)

# KEYS: the epoch, the stream's log, the streams, the forgotten sequence; ARGV:
# the group, the sequence to read after. One script, so that no broadcast
# recorded meanwhile makes the stream's last sequence and its log disagree.
_SINCE = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  return false
end
local last = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not last then
  return {epoch, 0, tonumber(redis.call('GET', KEYS[4]) or '0'), {}}
end
return {epoch, tonumber(last), 0, redis.call('XRANGE', KEYS[2], '(' .. ARGV[2] .. '-0', '+')}
"""


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
            f"{self.prefix}:streams",
            f"{self.prefix}:forgotten",
        ]

    async def record(self, group: str, html: str) -> Recorded:
        arguments: list[str | int] = [
            html,
            self.max_entries,
            int(self.max_age * 1000),
            group,
            f"{self.prefix}:log:",
        ]
        result: Any = await self._client().eval(_RECORD, 5, *self._keys(group), *arguments)
        epoch, sequence, previous = result
        return Recorded(_text(epoch), int(sequence), int(previous))

    async def position(self) -> Position:
        result: Any = await self._client().eval(_POSITION, 2, *self._keys("")[:2])
        epoch, sequence = result
        return Position(_text(epoch), int(sequence))

    async def since(self, group: str, after: Position) -> list[Entry] | None:
        if after.epoch == UNKNOWN.epoch:
            return None
        _, epoch_key, log_key, streams_key, forgotten_key = self._keys(group)
        keys = [epoch_key, log_key, streams_key, forgotten_key]
        result: Any = await self._client().eval(_SINCE, 4, *keys, group, after.sequence)
        if result is None or _text(result[0]) != after.epoch:
            return None
        _, last, forgotten, rows = result
        if not last:
            return [] if after.sequence >= int(forgotten) else None
        entries = []
        for key, values in rows:
            fields = dict(zip(values[::2], values[1::2], strict=True))
            entries.append(
                Entry(_sequence_of(key), int(fields[b"previous"]), _text(fields[b"html"]))
            )
        return covering(entries, int(last), after.sequence)


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

    ``None`` without a history; :data:`UNKNOWN` if it cannot be read within
    :setting:`TURBO_REDIS_TIMEOUT` (logged).
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
        return run_in_loop(lambda: _read_position(kept))
    except Exception as error:
        return _unknown(error)


async def apage_position(layer: Any) -> Position | None:
    """Async twin of :func:`page_position`, for async middleware."""
    kept = for_layer(layer)
    if kept is None:
        return None
    try:
        return await _read_position(kept)
    except Exception as error:
        return _unknown(error)


async def _read_position(kept: History) -> Position:
    return await asyncio.wait_for(kept.position(), conf.redis_timeout())


def _unknown(error: Exception) -> Position:
    if isinstance(error, TimeoutError):
        logger.warning(
            "Reading the position of the stream history took longer than "
            "TURBO_REDIS_TIMEOUT (%s s): the page renders the position unknown, and refreshes "
            "once it subscribes.",
            conf.redis_timeout(),
        )
    else:
        logger.error("Reading the position of the stream history failed", exc_info=error)
    return UNKNOWN
