"""The stream history in Redis, shared by every process of the project."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from turbo.compat import run_before_close
from turbo.history.entries import PLACEHOLDER, UNKNOWN, Entry, Log, Position, Recorded
from turbo.history.marks import Marks

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from redis.asyncio import Redis


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

# KEYS[3], KEYS[4] and KEYS[5]: the sorted set of the streams the history
# holds (scored by their last sequence), the latest sequence of a stream it
# forgot (Entry.previous) and the watched streams (turbo.history.marks). ARGV:
# the html, the logs' length, their age in milliseconds, the prefix of log
# keys, then the streams to record the html for, each of which gets a
# position and tells its previous one and whether it is watched. One script,
# so that positions are handed out in the order the logs record them,
# whichever process records. Then it forgets a few streams whose log expired:
# the lowest scores broadcast least recently, so their logs expire first.
_RECORD = (
    _EPOCH
    + """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
local recorded = {epoch}
for g = 5, #ARGV do
  local group = ARGV[g]
  local log = ARGV[4] .. group
  local sequence = redis.call('INCR', KEYS[1])
  local previous = tonumber(redis.call('ZSCORE', KEYS[3], group)
    or redis.call('GET', KEYS[4]) or '0')
  redis.call('XADD', log, 'MAXLEN', '~', ARGV[2], sequence .. '-0',
    'html', ARGV[1], 'previous', string.format('%d', previous))
  redis.call('PEXPIRE', log, ARGV[3])
  redis.call('ZADD', KEYS[3], sequence, group)
  local watched = tonumber(redis.call('ZSCORE', KEYS[5], group) or '0') > now_ms
  table.insert(recorded, sequence)
  table.insert(recorded, previous)
  table.insert(recorded, watched and 1 or 0)
end
local oldest = redis.call('ZRANGE', KEYS[3], 0, 7, 'WITHSCORES')
for i = 1, #oldest, 2 do
  if redis.call('EXISTS', ARGV[4] .. oldest[i]) == 1 then break end
  redis.call('ZREM', KEYS[3], oldest[i])
  local forgotten = tonumber(oldest[i + 1])
  if forgotten > tonumber(redis.call('GET', KEYS[4]) or '0') then
    redis.call('SET', KEYS[4], string.format('%d', forgotten))
  end
end
return recorded
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
        self.marks = Marks(f"{prefix}:watched", max_age, self._client)

    def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from channels_redis.utils import create_pool

            pool = create_pool(self.host)
            client = self._clients[loop] = _waiting_client(pool)
            # Its connections must not outlive the loop they belong to.
            run_before_close(loop, lambda: client.aclose(close_connection_pool=True))
        return client

    def _keys(self, group: str) -> list[str]:
        return [
            f"{self.prefix}:sequence",
            f"{self.prefix}:epoch",
            f"{self.prefix}:log:{group}",
            f"{self.prefix}:streams",
            f"{self.prefix}:forgotten",
        ]

    async def _record(self, html: str, groups: Sequence[str]) -> list[tuple[Recorded, bool]]:
        """Record ``html`` for each of ``groups``: where, and whether the stream is watched."""
        sequence, epoch, _, streams, forgotten = self._keys("")
        keys = [sequence, epoch, streams, forgotten, self.marks.key]
        age = int(self.max_age * 1000)
        arguments: list[str | int] = [html, self.max_entries, age, f"{self.prefix}:log:", *groups]
        result: Any = await self._client().eval(_RECORD, len(keys), *keys, *arguments)
        epoch = _text(result[0])
        rows = result[1:]
        return [
            (Recorded(epoch, int(rows[i]), int(rows[i + 1])), bool(rows[i + 2]))
            for i in range(0, len(rows), 3)
        ]

    async def record(self, group: str, html: str) -> Recorded:
        [(recorded, _)] = await self._record(html, [group])
        return recorded

    def watched(self, group: str) -> bool:
        return self.marks.watched(group)

    def mark_soon(self, groups: Iterable[str]) -> None:
        self.marks.mark_soon(groups)

    async def mark(self, groups: Iterable[str]) -> None:
        await self.marks.mark(self._client(), groups)

    async def record_placeholders(self, groups: Sequence[str]) -> list[tuple[Recorded, bool]]:
        placed = await self._record(PLACEHOLDER, groups)
        # A page began watching meanwhile, and this process had not heard yet.
        self.marks.mark_locally(g for g, (_, seen) in zip(groups, placed, strict=True) if seen)
        return placed

    async def position(self) -> Position:
        result: Any = await self._client().eval(_POSITION, 2, *self._keys("")[:2])
        epoch, sequence = result
        return Position(_text(epoch), int(sequence))

    async def since(self, group: str, after: Position) -> list[Entry] | None:
        if after.epoch == UNKNOWN.epoch:
            return None
        log = await self.read(group, after.sequence)
        return None if log is None else log.answer(after)

    async def read(self, group: str, after: int) -> Log | None:
        _, epoch_key, log_key, streams_key, forgotten_key = self._keys(group)
        keys = [epoch_key, log_key, streams_key, forgotten_key]
        result: Any = await self._client().eval(_SINCE, 4, *keys, group, after)
        if result is None:
            return None
        epoch, last, forgotten, rows = result
        entries = []
        for key, values in rows:
            fields = dict(zip(values[::2], values[1::2], strict=True))
            entries.append(
                Entry(_sequence_of(key), int(fields[b"previous"]), _text(fields[b"html"]))
            )
        return Log(_text(epoch), int(last), int(forgotten), entries)


def _waiting_client(pool: Any) -> Redis:
    """A Redis client on ``pool`` whose commands wait for a free connection of it.

    redis-py's pool raises ``MaxConnectionsError`` once all its connections
    (100 by default) are in use: as when the pages of a server that died
    resubscribe to another all at once, each reading the history. Waiting,
    within the caller's :setting:`TURBO_REDIS_TIMEOUT`, they are answered in
    turn. One connection stays free for the marks' subscription (:class:`Marks`).
    """
    slots = max(1, getattr(pool, "max_connections", 100) - 1)
    client: Redis = _waiting_client_class()(connection_pool=pool, slots=slots)
    return client


@functools.cache
def _waiting_client_class() -> Any:
    import redis.asyncio  # here: channels_redis, and redis with it, is optional

    class WaitingRedis(redis.asyncio.Redis):
        def __init__(self, *, connection_pool: Any, slots: int) -> None:
            super().__init__(connection_pool=connection_pool)
            self.slots = asyncio.Semaphore(slots)

        async def execute_command(self, *args: Any, **options: Any) -> Any:
            async with self.slots:
                return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    return WaitingRedis


def _sequence_of(entry_id: bytes) -> int:
    return int(entry_id.partition(b"-")[0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
