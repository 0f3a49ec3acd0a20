"""One read of a stream's history for all the pages of a process that ask at once.

When a server process dies, its pages reconnect to the others and each asks,
on subscribing, what its streams broadcast since its position: thousands of
reads of the same stream's history within a second, each returning nearly the
same rows, and those at the back of the queue answered too late (the page
refreshes). :func:`read_since` makes one read per stream for all of them.

A page must only be answered by a read that *started after it asked*. It asks
once it has joined the stream's group, so that what the read does not see
reaches it live; a read already in flight may have taken its snapshot before
the page joined, and a broadcast recorded in between would be missed by both.
So a page asking while a read of its stream is in flight waits for the next
one, which starts as soon as that one ends (or at the next turn of the event
loop if none is in flight), from the lowest position of the pages it serves;
each page then gets what it alone would have got (:meth:`Log.answer
<turbo.history.entries.Log.answer>`), gaps and refreshes included.

The process taking those pages is busy, its event loop often seconds behind:
a read whose reply sits unread behind that work is not slow, and failing it
would refresh every page it serves at once. So a read's timeout counts only
while the loop is on time (:func:`within`), and a read that fails is logged
once, not once per page.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final, TypeVar

from turbo import loops
from turbo.history.entries import UNKNOWN

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from turbo.history.entries import Entry, History, Log, Position

T = TypeVar("T")

logger = logging.getLogger("turbo")

#: Seconds after which a read is given up even while the event loop is behind.
BEHIND_LIMIT: Final = 10.0

#: The share of its timeout by which a wait may end late before it shows the
#: loop behind. A read takes a few turns of the loop (the command written, the
#: reply read, the caller woken), each as late as the wait's own end: a loop
#: a fifth of the timeout behind spends most of it on other work.
LATE_SHARE: Final = 0.2


class _Read:
    """One read to be made, from the lowest position of the pages it serves."""

    __slots__ = ("after", "log", "pages")

    def __init__(self, after: int, loop: asyncio.AbstractEventLoop) -> None:
        self.after = after
        self.log: asyncio.Future[Log | None] = loop.create_future()
        #: How many calls it serves, for the log.
        self.pages = 0


class _Stream:
    """The reads of one stream's history in one event loop: the next one, and who reads."""

    __slots__ = ("next", "reader", "reading")

    def __init__(self) -> None:
        #: The read in flight, if any.
        self.reading: _Read | None = None
        #: The pages that asked since the read in flight (if any) started.
        self.next: _Read | None = None
        #: The task making the reads, while one is in flight or waiting.
        self.reader: asyncio.Task[None] | None = None


#: Per history, event loop (futures belong to one), stream and epoch.
_streams: dict[tuple[History, asyncio.AbstractEventLoop, str, str], _Stream] = {}


async def read_since(
    kept: History, group: str, after: Position, timeout: float
) -> list[Entry] | None:
    """What ``kept.since(group, after)`` says, from a read shared with other pages.

    The read serving this call starts after it was made, and fails with
    :exc:`TimeoutError` past ``timeout`` seconds of the event loop on time
    (:func:`within`): this call waits for the read in flight to end, then
    for its own. A read's failure is logged once and raised to every call it
    serves; a call cancelled leaves the read to the others::

        entries = await read_since(kept, group, after, conf.redis_timeout())
    """
    if after.epoch == UNKNOWN.epoch:
        return None  # no history has that epoch: nothing to read
    loop = asyncio.get_running_loop()
    key = (kept, loop, group, after.epoch)
    stream = _streams.get(key)
    if stream is None:
        stream = _streams[key] = _Stream()
    read = stream.next
    if read is None:
        read = stream.next = _Read(after.sequence, loop)
    else:
        read.after = min(read.after, after.sequence)
    read.pages += 1
    if stream.reader is None:
        stream.reader = loop.create_task(_read_while_asked(kept, group, key, stream, timeout))
        stream.reader.add_done_callback(lambda _: _forget_unstarted(key, stream))
    # Shielded: a call cancelled (its socket closed) must not cancel the others' read.
    log = await asyncio.shield(read.log)
    if log is None:
        return None
    try:
        return log.answer(after)
    except Exception:
        # The read's own failures are logged once, by its reader; this is this page's.
        logger.exception("Answering a page from the history of %s failed", group)
        raise


async def _read_while_asked(
    kept: History,
    group: str,
    key: tuple[History, asyncio.AbstractEventLoop, str, str],
    stream: _Stream,
    timeout: float,
) -> None:
    """Make ``stream``'s reads one after the other, as long as pages ask for one."""
    try:
        while (read := stream.next) is not None:
            # From here on, a page asking waits for the next read.
            stream.reading, stream.next = read, None
            try:
                log = await within(kept.read(group, read.after), timeout)
            except Exception as error:
                if isinstance(error, TimeoutError):
                    # One line, not a traceback: the server may be this busy.
                    logger.warning(
                        "Reading the history of %s took more than TURBO_REDIS_TIMEOUT "
                        "(%s s); %s page(s) refresh",
                        group,
                        timeout,
                        read.pages,
                    )
                else:
                    logger.exception(
                        "Reading the history of %s failed; %s page(s) refresh", group, read.pages
                    )
                read.log.set_exception(error)
            else:
                read.log.set_result(log)
            stream.reading = None
    finally:
        _forget(key, stream)


def _forget(key: tuple[History, asyncio.AbstractEventLoop, str, str], stream: _Stream) -> None:
    """Drop ``stream``'s reads: its reader ended, or was cancelled (its loop closing)."""
    del _streams[key]
    for each in (stream.reading, stream.next):
        if each is not None and not each.log.done():
            each.log.cancel()


def _forget_unstarted(
    key: tuple[History, asyncio.AbstractEventLoop, str, str], stream: _Stream
) -> None:
    """Forget ``stream`` if its reader was cancelled before it ran, its ``finally`` with it."""
    if _streams.get(key) is stream:
        _forget(key, stream)


async def within(awaitable: Awaitable[T], timeout: float) -> T:
    """Await ``awaitable``, failing with :exc:`TimeoutError` past ``timeout`` seconds on time.

    A wait that ends more than :data:`LATE_SHARE` of its timeout past it (at
    most :data:`turbo.loops.BUSY_LAG`) shows the event loop behind: the
    awaited reply may be waiting on the loop, not on Redis, so the wait
    starts again. It is given up anyway past :data:`BEHIND_LIMIT` seconds in
    all, once ``awaitable`` is cancelled::

        log = await within(kept.read(group, after), conf.redis_timeout())
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)
    started = loop.time()
    behind = min(timeout * LATE_SHARE, loops.BUSY_LAG)
    try:
        while True:
            waiting_since = loop.time()
            done, _ = await asyncio.wait((task,), timeout=timeout)
            if done:
                return task.result()
            now = loop.time()
            if now - waiting_since - timeout <= behind or now - started >= BEHIND_LIMIT:
                # Its cancellation done, a Redis connection is back in its pool.
                task.cancel()
                await asyncio.wait((task,))
                raise TimeoutError(f"no answer within {timeout} s")
    finally:
        task.cancel()
