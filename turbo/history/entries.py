"""What every stream history records and answers: positions, entries, the protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol


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
