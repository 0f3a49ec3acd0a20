"""Which streams pages watch, across processes: marks in Redis, mirrored in each process.

A broadcast to a stream nobody watches is not rendered
(:meth:`turbo.history.History.watched`), and the saving thread must learn
that without a round trip. So the marks live in a sorted set in Redis (each
stream scored by the time, in Redis's clock, until which it counts as
watched), every mark is also published, and each process that broadcasts
keeps a copy: it loads the set once it has subscribed to the publications,
then follows them. Until its copy is loaded, or while its connection is
down, a process takes every stream as watched, and broadcasts as it would
without marks.

The copy may lag a mark by the time a publication takes: the history's
record of a placeholder tells whether the stream turned out to be watched,
and the placeholder is then sent (:func:`turbo.history.placeholders.flush_placeholders`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Final
from weakref import WeakSet

from turbo import conf
from turbo.loops import background_loop, submit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from redis.asyncio import Redis

logger = logging.getLogger("turbo")

#: Seconds without a question after which a process stops following the
#: marks (it follows them again at the next one, taking every stream as
#: watched until its copy is loaded).
IDLE_AFTER: Final = 60.0

#: Seconds between attempts to follow the marks after a failure.
RETRY_DELAY: Final = 1.0

# KEYS[1]: the sorted set of marks. ARGV: how long a mark lasts (ms), the
# channel marks are published on, then the streams. Expired marks go first.
_MARK = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local watched_until = ms + tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], watched_until, ARGV[i])
end
redis.call('PUBLISH', ARGV[2], watched_until .. ' ' .. table.concat(ARGV, ' ', 3))
return watched_until
"""


def _now_ms() -> float:
    return time.time() * 1000


class WatchedTable:
    """Until when each stream counts as watched, by the clock ``now``.

    Expired entries are dropped whenever the table has doubled since the last
    time, so it holds about twice the streams watched at most.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.until: dict[str, float] = {}
        self._pruned_at = 1024

    def watched(self, group: str) -> bool:
        """Whether ``group`` counts as watched now."""
        return self.until.get(group, 0.0) > self.now()

    def note(self, groups: Iterable[str], until: float) -> None:
        """Take ``groups`` as watched until ``until``."""
        for group in groups:
            self.until[group] = until
        if len(self.until) > self._pruned_at:
            self.load(self.until)

    def load(self, until: dict[str, float]) -> None:
        """Hold ``until``, but for what has expired, in place of what it held."""
        now = self.now()
        self.until = {group: when for group, when in until.items() if when > now}
        self._pruned_at = max(1024, 2 * len(self.until))


# Every copy, so that a forked child starts over: its parent's follower is not its own.
_all: WeakSet[Marks] = WeakSet()


def _forget_after_fork() -> None:
    for marks in _all:
        marks.ready = marks.following = False


os.register_at_fork(after_in_child=_forget_after_fork)


class Marks(WatchedTable):
    """This process's copy of the marks in Redis under ``key``, which last ``max_age`` s.

    Its table holds ms since the epoch, as Redis's clock gives them; the marks
    are published on a channel of the same name. ``client()`` is the
    history's Redis client on the running loop.
    """

    def __init__(self, key: str, max_age: float, client: Callable[[], Redis]) -> None:
        super().__init__(_now_ms)
        self.key, self.max_age, self.client = key, max_age, client
        #: Whether :attr:`until` holds every mark made since it was loaded.
        self.ready = False
        self.following = False
        self.asked_at = time.monotonic()
        _all.add(self)

    def watched(self, group: str) -> bool:
        """Whether ``group`` is marked; ``True`` until the copy is loaded."""
        self.asked_at = time.monotonic()
        if not self.ready:
            self.follow()
            return True
        return super().watched(group)

    def mark_locally(self, groups: Iterable[str]) -> None:
        """Take ``groups`` as marked in this process, for :attr:`max_age`."""
        self.note(groups, _now_ms() + self.max_age * 1000)

    def mark_soon(self, groups: Iterable[str]) -> None:
        """Mark ``groups`` here at once, and in Redis without waiting."""
        groups = list(groups)
        self.mark_locally(groups)
        submit(lambda: self.mark(self.client(), groups), "Marking streams as watched failed")

    async def mark(self, client: Redis, groups: Iterable[str]) -> None:
        """Mark ``groups`` in Redis, and return once the mark is published."""
        groups = list(groups)
        if groups:
            self.mark_locally(groups)
            arguments: list[str | int] = [int(self.max_age * 1000), self.key, *groups]
            await asyncio.wait_for(
                client.eval(_MARK, 1, self.key, *arguments), conf.redis_timeout()
            )

    def follow(self) -> None:
        """Start following the marks, on the process's background loop, unless it does."""
        if not self.following:
            self.following = True
            submit(self._follow_while_asked, "Following the marks failed", background_loop())

    async def _follow_while_asked(self) -> None:
        try:
            failing = False
            while time.monotonic() - self.asked_at < IDLE_AFTER:
                try:
                    await self._follow()
                except Exception as error:
                    if not failing:  # once per outage, not once per attempt
                        logger.warning(
                            "Following which streams are watched failed (%s); every broadcast "
                            "is rendered until it works again.",
                            error,
                        )
                    failing = not self.ready
                self.ready = False
                await asyncio.sleep(RETRY_DELAY)
        finally:
            self.ready = self.following = False

    async def _follow(self) -> None:
        client = self.client()
        pubsub: Any = client.pubsub()
        try:
            await pubsub.subscribe(self.key)
            # Loaded once subscribed: a mark made meanwhile is in one or the other.
            while await pubsub.get_message(timeout=1.0) is None:
                pass
            rows: Any = await client.zrange(self.key, 0, -1, withscores=True)
            self.load({group.decode(): until for group, until in rows})
            self.ready = True
            while time.monotonic() - self.asked_at < IDLE_AFTER:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    self._take(message["data"])
        finally:
            await pubsub.aclose()

    def _take(self, data: bytes) -> None:
        until, *groups = data.decode().split(" ")
        self.note(groups, float(until))
