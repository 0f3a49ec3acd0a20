"""The stream history in Redis, shared by every process of the project."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from turbo.compat import run_before_close
from turbo.history.entries import UNKNOWN, Entry, Position, Recorded, covering

if TYPE_CHECKING:
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


def _sequence_of(entry_id: bytes) -> int:
    return int(entry_id.partition(b"-")[0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
