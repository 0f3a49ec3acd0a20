"""The stream history of one process, for the in-memory channel layer."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Final

from turbo.history.entries import PLACEHOLDER, Entry, Log, Position, Recorded
from turbo.history.marks import WatchedTable

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

#: Streams a :class:`MemoryHistory` keeps at most: past that, it forgets the
#: one that broadcast least recently, as it does those quiet for longer than
#: :setting:`TURBO_HISTORY_MAX_AGE`.
MEMORY_MAX_STREAMS: Final = 10_000


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
        #: When each watched stream stops being watched, unless marked again.
        self.marks = WatchedTable(time.monotonic)

    def watched(self, group: str) -> bool:
        return self.marks.watched(group)

    def mark_soon(self, groups: Iterable[str]) -> None:
        self.marks.note(groups, time.monotonic() + self.max_age)

    async def mark(self, groups: Iterable[str]) -> None:
        self.mark_soon(groups)

    async def record_placeholders(self, groups: Sequence[str]) -> list[tuple[Recorded, bool]]:
        return [(self._record(group, PLACEHOLDER), self.watched(group)) for group in groups]

    async def record(self, group: str, html: str) -> Recorded:
        return self._record(group, html)

    def _record(self, group: str, html: str) -> Recorded:
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
        return self._read(group, after.sequence).answer(after)

    async def read(self, group: str, after: int) -> Log:
        return self._read(group, after)

    def _read(self, group: str, after: int) -> Log:
        log = self.logs.get(group)
        if log is None:
            return Log(self.epoch, 0, self.forgotten, [])
        oldest = time.monotonic() - self.max_age
        entries = [
            entry for recorded, entry in log if recorded >= oldest and entry.sequence > after
        ]
        return Log(self.epoch, log[-1][1].sequence, self.forgotten, entries)
