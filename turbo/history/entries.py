"""What every stream history records and answers: positions, entries, the protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


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

#: The ``type`` of the channel-layer messages that carry broadcasts.
MESSAGE_TYPE: Final = "turbo.stream"

#: What the history records in place of a broadcast to a stream no page
#: watches (:meth:`History.watched`): it is never rendered, and a page that
#: replays across it refreshes itself instead, so that a page whose view ran
#: while it was committed still shows the change.
PLACEHOLDER: Final = '<turbo-stream action="refresh"></turbo-stream>'


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


def layer_message(group: str, html: str) -> dict[str, str]:
    """The channel-layer message carrying the markup ``html`` to ``group``."""
    return {"type": MESSAGE_TYPE, "group": group, "html": html}


def positioned(payload: dict[str, Any], recorded: Recorded) -> dict[str, Any]:
    """The layer message ``payload``, telling where the history ``recorded`` it."""
    return {
        **payload,
        "epoch": recorded.epoch,
        "position": recorded.sequence,
        "previous": recorded.previous,
    }


class Log(NamedTuple):
    """What a history held of one stream at one moment, from one read.

    Read once after the lowest of several positions, it answers each of them
    as :meth:`History.since` would have at that moment: so one read serves
    every page asking about the stream at once (:mod:`turbo.history.reads`).
    """

    #: The history's epoch when it was read.
    epoch: str
    #: The sequence of the stream's latest broadcast; 0 if the history holds none.
    last: int
    #: The latest sequence of a stream the history forgot (see :attr:`Entry.previous`).
    forgotten: int
    #: The stream's broadcasts it holds after the sequence it was read after, oldest first.
    entries: list[Entry]

    def answer(self, after: Position) -> list[Entry] | None:
        """What :meth:`History.since` says of ``after``, at or past the sequence read after."""
        if after.epoch != self.epoch:
            return None
        if not self.last:
            return [] if after.sequence >= self.forgotten else None
        return covering(self.entries, self.last, after.sequence)


class History(Protocol):
    """Where broadcasts are recorded, and read back for a returning page.

    It also knows which streams pages watch: a stream is *watched* from the
    moment a page renders ``{% turbo_subscribe %}`` for it until
    :setting:`TURBO_HISTORY_MAX_AGE` after its last socket left, and so as long
    as any page may still replay its broadcasts. A broadcast to a stream
    nobody watches is not rendered; a :data:`PLACEHOLDER` takes its position.
    """

    def watched(self, group: str) -> bool:
        """Whether a page may replay ``group``'s next broadcast; ``True`` when it cannot tell.

        Answered from this process's memory, without a round trip.
        """

    def mark_soon(self, groups: Iterable[str]) -> None:
        """Mark ``groups`` watched, without waiting: what a page's render does."""

    async def mark(self, groups: Iterable[str]) -> None:
        """Mark ``groups`` watched, and return once every process can know it."""

    async def record_placeholders(self, groups: Sequence[str]) -> list[tuple[Recorded, bool]]:
        """Record a :data:`PLACEHOLDER` for each of ``groups``, in order.

        Returns where each went and whether its stream is watched now (a page
        began watching it since :meth:`watched` said no): the placeholder must
        then be sent too.
        """

    async def record(self, group: str, html: str) -> Recorded:
        """Record a broadcast of ``group``, before it is sent."""

    async def position(self) -> Position:
        """The current position: every broadcast recorded so far is at or before it."""

    async def since(self, group: str, after: Position) -> list[Entry] | None:
        """The broadcasts of ``group`` after ``after``, oldest first.

        ``None`` when the history cannot tell: another epoch, broadcasts
        trimmed away since, or a stream it forgot after ``after``.
        """

    async def read(self, group: str, after: int) -> Log | None:
        """What the history holds of ``group`` after the sequence ``after``, read at once.

        ``None`` when it holds no epoch (Redis lost its data). :meth:`Log.answer`
        then tells each position at or past ``after`` what :meth:`since` would.
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
