"""One read of a stream's history serves the pages asking at once (turbo.history.reads).

On the real in-memory and Redis histories; reads are counted, held or made to
fail by wrapping the history's ``read``, the boundary the shared read calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from unittest import mock

import pytest

from tests.test_history import KINDS, make_history
from turbo.history import UNKNOWN, Entry, Log, Position, read_since, reads
from turbo.history.reads import within

TIMEOUT = 5.0


class Reads:
    """Wraps ``kept.read``: counts the reads, and can hold or break them."""

    def __init__(self, kept: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = kept.read
        self.made: list[tuple[str, int]] = []
        #: Set: the next read, once it has read, waits for ``release``.
        self.hold = False
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        #: Raised by every read instead of reading, if set.
        self.error: BaseException | None = None
        monkeypatch.setattr(kept, "read", self.read)

    async def read(self, group: str, after: int) -> Any:
        self.made.append((group, after))
        if self.error is not None:
            await asyncio.sleep(0.01)
            raise self.error
        log = await self.real(group, after)
        if self.hold:
            self.hold = False
            self.holding.set()
            await self.release.wait()
        return log


async def gather(kept: Any, group: str, positions: list[Position], **options: Any) -> list[Any]:
    timeout = options.pop("timeout", TIMEOUT)
    calls = [read_since(kept, group, after, timeout) for after in positions]
    return await asyncio.gather(*calls, **options)


@pytest.mark.parametrize("kind", KINDS)
async def test_readers_of_one_stream_at_once_share_one_read_each_getting_its_own(kind, monkeypatch):
    kept = make_history(kind)
    start = await kept.position()
    recorded = [await kept.record("a", f"<{n}>") for n in range(4)]
    await kept.record("b", "<not a>")
    reads = Reads(kept, monkeypatch)
    positions = [Position(start.epoch, r.sequence) for r in recorded] * 25 + [start]

    answers = await gather(kept, "a", positions)

    assert reads.made == [("a", start.sequence)]  # from the lowest position
    for after, answer in zip(positions, answers, strict=True):
        expected = [Entry(r.sequence, r.previous, f"<{n}>") for n, r in enumerate(recorded)]
        assert answer == [e for e in expected if e.sequence > after.sequence]
        monkeypatch.undo()
        assert answer == await kept.since("a", after)  # as a read of its own says


@pytest.mark.parametrize("kind", KINDS)
async def test_each_reader_is_told_what_its_own_position_allows(kind, monkeypatch):
    """A position the history no longer reaches gets a refresh; a later one, its entries."""
    kept = make_history(kind, max_entries=2)
    start = await kept.position()
    for n in range(5 if kind == "memory" else 300):  # Redis trims in whole nodes
        last = await kept.record("a", f"<{n}>")
    reads = Reads(kept, monkeypatch)
    before_last = Position(start.epoch, last.sequence - 1)
    other_epoch = Position("another-run", last.sequence)
    positions = [start, before_last, Position(start.epoch, last.sequence), other_epoch, UNKNOWN]

    answers = await gather(kept, "a", positions)

    assert answers[0] is None  # trimmed away
    assert answers[1] == [Entry(last.sequence, last.previous, f"<{n}>")]
    assert answers[2] == []
    assert answers[3] is None  # another epoch: read on its own, and unanswerable
    assert answers[4] is None  # unknown: answered without a read
    assert sorted(reads.made) == [("a", start.sequence), ("a", last.sequence)]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_forgotten_stream_answers_each_reader_as_alone(kind, monkeypatch):
    kept = make_history(kind)
    start = await kept.position()
    await kept.record("a", "<1>")
    after_first = await kept.position()
    if kind == "memory":
        kept.logs.clear()
        kept.forgotten = after_first.sequence
    else:
        await kept._client().zrem(f"{kept.prefix}:streams", "a")
        await kept._client().set(f"{kept.prefix}:forgotten", after_first.sequence)
    reads = Reads(kept, monkeypatch)

    answers = await gather(kept, "a", [start, after_first])

    assert answers == [None, []]
    assert len(reads.made) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reader_arriving_during_a_read_is_served_by_the_next_one(kind, monkeypatch):
    """The read in flight took its snapshot before the page asked (and joined the group).

    A broadcast recorded between that snapshot and the page's joining is in
    neither that read nor the live socket: the page must be answered by a read
    that starts after it asked, which sees it.
    """
    kept = make_history(kind)
    start = await kept.position()
    first = await kept.record("a", "<1>")
    reads = Reads(kept, monkeypatch)
    reads.hold = True

    early = asyncio.create_task(read_since(kept, "a", start, TIMEOUT))
    await reads.holding.wait()  # its snapshot is taken
    second = await kept.record("a", "<2>")  # before the late page joined: not live for it
    late = [asyncio.create_task(read_since(kept, "a", start, TIMEOUT)) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert len(reads.made) == 1  # the next read waits for the one in flight
    reads.release.set()

    assert await early == [Entry(first.sequence, 0, "<1>")]
    both = [Entry(first.sequence, 0, "<1>"), Entry(second.sequence, first.sequence, "<2>")]
    assert await asyncio.gather(*late) == [both] * 3
    assert reads.made == [("a", start.sequence)] * 2


@pytest.mark.parametrize("kind", KINDS)
async def test_a_failed_read_fails_every_reader_it_serves_and_the_next_one_reads_again(
    kind, monkeypatch, caplog
):
    kept = make_history(kind)
    start = await kept.position()
    await kept.record("a", "<1>")
    reads = Reads(kept, monkeypatch)
    reads.error = ConnectionError("Redis is down")

    answers = await gather(kept, "a", [start] * 10, return_exceptions=True)

    assert [type(answer) for answer in answers] == [ConnectionError] * 10
    assert len(reads.made) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "Reading the history of a failed; 10 page(s) refresh"
    ]
    reads.error = None
    assert [e.html for e in await read_since(kept, "a", start, TIMEOUT)] == ["<1>"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_read_past_the_timeout_times_out_every_reader_and_not_the_next(
    kind, monkeypatch, caplog
):
    kept = make_history(kind)
    start = await kept.position()
    await kept.record("a", "<1>")
    reads = Reads(kept, monkeypatch)
    reads.hold = True  # never released: the first read hangs

    hung = [asyncio.create_task(read_since(kept, "a", start, 0.2)) for _ in range(5)]
    await reads.holding.wait()
    later = asyncio.create_task(read_since(kept, "a", start, 0.2))
    answers = await asyncio.gather(*hung, return_exceptions=True)

    assert [type(answer) for answer in answers] == [TimeoutError] * 5
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        "Reading the history of a took more than TURBO_REDIS_TIMEOUT (0.2 s); 5 page(s) refresh"
    )
    # Served by the read after the one that hung, within its own timeout.
    assert [e.html for e in await later] == ["<1>"]
    assert len(reads.made) == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_readers_of_different_streams_do_not_wait_for_each_other(kind, monkeypatch):
    kept = make_history(kind)
    start = await kept.position()
    await kept.record("a", "<a>")
    await kept.record("b", "<b>")
    reads = Reads(kept, monkeypatch)
    reads.hold = True

    held = asyncio.create_task(read_since(kept, "a", start, TIMEOUT))
    await reads.holding.wait()
    other = await asyncio.wait_for(read_since(kept, "b", start, TIMEOUT), 1)

    assert [e.html for e in other] == ["<b>"]
    assert not held.done()
    reads.release.set()
    assert [e.html for e in await held] == ["<a>"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reader_cancelled_leaves_the_read_to_the_others(kind, monkeypatch):
    kept = make_history(kind)
    start = await kept.position()
    await kept.record("a", "<1>")
    reads = Reads(kept, monkeypatch)
    reads.hold = True

    gone, staying = (asyncio.create_task(read_since(kept, "a", start, TIMEOUT)) for _ in "ab")
    await reads.holding.wait()
    gone.cancel()
    reads.release.set()

    assert [e.html for e in await staying] == ["<1>"]
    assert gone.cancelled()
    assert len(reads.made) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_page_whose_answer_fails_is_logged(kind, monkeypatch, caplog):
    """Not only the shared read: what each page is answered from it may fail too."""
    kept = make_history(kind)
    start = await kept.position()
    await kept.record("a", "<1>")
    monkeypatch.setattr(Log, "answer", mock.Mock(side_effect=ValueError("broken")))

    with pytest.raises(ValueError, match="broken"):
        await read_since(kept, "a", start, TIMEOUT)

    [record] = caplog.records
    assert record.getMessage() == "Answering a page from the history of a failed"
    assert record.exc_info is not None


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reader_cancelled_before_it_ran_leaves_nothing_behind(kind):
    """Its loop closing, a task may be cancelled before it runs, its ``finally`` with it."""
    kept = make_history(kind)
    start = await kept.position()
    call = asyncio.create_task(read_since(kept, "a", start, TIMEOUT))
    await asyncio.sleep(0)  # it asked; its reader has not run yet
    [stream] = [stream for key, stream in reads._streams.items() if key[0] is kept]
    assert stream.reader is not None
    stream.reader.cancel()

    with pytest.raises(asyncio.CancelledError):
        await call
    assert not [key for key in reads._streams if key[0] is kept]


async def test_a_reply_the_busy_loop_made_late_is_not_a_timeout():
    """A server taking the pages of one that died is behind: the reply waits on it."""

    async def reply() -> str:
        await asyncio.sleep(0.1)  # in by then, but read once the loop gets to it
        return "log"

    replying = asyncio.ensure_future(reply())
    await asyncio.sleep(0)
    asyncio.get_running_loop().call_soon(time.sleep, 0.5)  # the loop held up
    with mock.patch("turbo.loops.BUSY_LAG", 0.1):
        # Without the loop's lag left out, the timeout fires first: both
        # timers are past due when the loop gets to them, and it is earlier.
        assert await within(replying, 0.05) == "log"


async def test_a_wait_on_a_loop_behind_for_ever_is_given_up_past_the_limit():
    loop = asyncio.get_running_loop()
    holding = True

    def hold_up() -> None:
        if holding:
            time.sleep(0.05)  # each turn of the loop late
            loop.call_soon(hold_up)

    never = asyncio.ensure_future(asyncio.Event().wait())
    loop.call_soon(hold_up)
    started = time.monotonic()
    with (
        mock.patch("turbo.loops.BUSY_LAG", 0.02),
        mock.patch.object(reads, "BEHIND_LIMIT", 0.3),
        pytest.raises(TimeoutError),
    ):
        await asyncio.wait_for(within(never, 0.01), 5)
    holding = False

    assert time.monotonic() - started >= 0.3  # not at its first timeout
    assert never.cancelled()


async def test_a_wait_on_a_loop_on_time_ends_at_its_timeout():
    never = asyncio.ensure_future(asyncio.Event().wait())
    started = time.monotonic()

    with pytest.raises(TimeoutError):
        await within(never, 0.05)

    assert time.monotonic() - started < reads.BEHIND_LIMIT
    assert never.cancelled()
