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
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from turbo.history.entries import UNKNOWN

if TYPE_CHECKING:
    from turbo.history.entries import Entry, History, Log, Position


class _Read:
    """One read to be made, from the lowest position of the pages it serves."""

    __slots__ = ("after", "log")

    def __init__(self, after: int, loop: asyncio.AbstractEventLoop) -> None:
        self.after = after
        self.log: asyncio.Future[Log | None] = loop.create_future()


class _Stream:
    """The reads of one stream's history in one event loop: the next one, and who reads."""

    __slots__ = ("next", "reader")

    def __init__(self) -> None:
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
    :exc:`TimeoutError` past ``timeout`` seconds: this call waits at most for
    the read in flight to end, then for its own, twice ``timeout``. A read's
    failure is raised to every call it serves; a call cancelled leaves the
    read to the others::

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
    if stream.reader is None:
        stream.reader = loop.create_task(_read_while_asked(kept, group, key, stream, timeout))
    # Shielded: a call cancelled (its socket closed) must not cancel the others' read.
    log = await asyncio.shield(read.log)
    return None if log is None else log.answer(after)


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
            stream.next = None
            try:
                log = await asyncio.wait_for(kept.read(group, read.after), timeout)
            except Exception as error:
                read.log.set_exception(error)
            else:
                read.log.set_result(log)
    finally:
        del _streams[key]
        # Cancelled (its loop closing): so are the calls it would have served.
        for each in (read, stream.next):
            if each is not None and not each.log.done():
                each.log.cancel()
