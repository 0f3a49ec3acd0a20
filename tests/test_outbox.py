"""The outbox: frames written in order, from one callback while sends complete at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from turbo.outbox import Outbox


class Socket:
    """An ASGI ``send`` that completes at once, or waits on a future while ``full`` is set."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.full: asyncio.Future[None] | None = None
        self.fail_with: Exception | None = None
        self.tasks: set[asyncio.Task[Any] | None] = set()
        self.closed_waiting = False

    async def send(self, event: dict[str, Any]) -> None:
        self.tasks.add(asyncio.current_task())
        if self.fail_with is not None:
            raise self.fail_with
        if self.full is not None:
            try:
                await self.full
            except GeneratorExit:
                self.closed_waiting = True
                raise
        self.written.append(event["text"])


def outbox_of(socket: Socket) -> Outbox:
    return Outbox(socket.send, stalled=lambda why: pytest.fail(f"stalled: {why}"))


async def turns(count: int = 3) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_frames_are_written_once_the_loop_turns_in_order_without_a_task_per_socket():
    sockets = [Socket() for _ in range(3)]
    outboxes = [outbox_of(s) for s in sockets]
    for outbox in outboxes:
        outbox.queue("one", 3)
        outbox.queue("two", 3)

    assert all(s.written == [] for s in sockets)  # not before the loop turns
    await turns()

    assert [s.written for s in sockets] == [["one", "two"]] * 3
    # Driven from the loop's callback: no task of their own.
    assert all(s.tasks == {None} for s in sockets)
    assert all(o.writer is None for o in outboxes)


async def test_a_send_that_waits_goes_on_in_a_task_with_the_frames_behind_it_in_order():
    slow, quick = Socket(), Socket()
    slow.full = asyncio.get_running_loop().create_future()
    slow_box, quick_box = outbox_of(slow), outbox_of(quick)
    for frame in ("a", "b", "c"):
        slow_box.queue(frame, 1)
        quick_box.queue(frame, 1)
    await turns()

    # The slow socket holds up no other.
    assert quick.written == ["a", "b", "c"]
    assert slow.written == []
    assert isinstance(slow_box.writer, asyncio.Task)
    slow_box.queue("d", 1)  # behind the ones waiting

    slow.full.set_result(None)
    slow.full = None
    await turns(5)

    assert slow.written == ["a", "b", "c", "d"]
    assert slow_box.writer is None


@pytest.mark.parametrize("when", ["at once", "after waiting"])
async def test_a_send_that_fails_drops_the_frames_queued(when):
    socket = Socket()
    if when == "at once":
        socket.fail_with = OSError("the socket is gone")
    else:
        # The send waits on a future that fails, and reads its exception.
        socket.full = asyncio.get_running_loop().create_future()
    outbox = outbox_of(socket)
    outbox.queue("a", 1)
    outbox.queue("b", 1)
    await turns()
    if socket.full is not None:
        socket.full.set_exception(ConnectionResetError("gone"))
        await turns(5)

    assert socket.written == []
    assert outbox.frames == []
    assert outbox.writer is None


async def test_stopping_an_outbox_whose_send_waits_closes_that_send():
    socket = Socket()
    socket.full = asyncio.get_running_loop().create_future()
    outbox = outbox_of(socket)
    outbox.queue("a", 1)
    await turns()
    writer = outbox.writer
    assert isinstance(writer, asyncio.Task)

    outbox.stop()
    await turns()

    assert writer.cancelled()
    # The future it waited on was cancelled, and the send closed where it waited.
    assert socket.full.cancelled()
    assert socket.closed_waiting
    assert socket.written == []


async def test_a_close_waits_for_the_frames_queued_and_one_that_waits():
    socket = Socket()
    socket.full = asyncio.get_running_loop().create_future()
    outbox = outbox_of(socket)
    closed = asyncio.Event()

    async def close() -> None:
        assert socket.written == ["error"]
        closed.set()

    outbox.queue("error", 5)
    outbox.close_after(close)
    await turns()
    assert not closed.is_set()

    socket.full.set_result(None)
    socket.full = None
    await asyncio.wait_for(closed.wait(), 1)


async def test_a_close_with_nothing_queued_is_sent_once_the_loop_turns():
    socket = Socket()
    outbox = outbox_of(socket)
    closed = asyncio.Event()

    async def close() -> None:
        closed.set()

    outbox.close_after(close)
    await asyncio.wait_for(closed.wait(), 1)
    assert outbox.writer is None


async def test_a_send_that_is_no_coroutine_is_awaited_in_a_task():
    written: list[str] = []

    def send(event: dict[str, Any]) -> asyncio.Future[None]:
        written.append(event["text"])
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    outbox = Outbox(send, stalled=lambda why: pytest.fail(why))
    outbox.queue("a", 1)
    outbox.queue("b", 1)
    await turns(5)

    assert written == ["a", "b"]
    assert outbox.writer is None


async def test_a_send_that_yields_no_future_fails_as_in_a_task():
    class Odd:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield "not a future"

    async def send(event: dict[str, Any]) -> None:
        await Odd()

    outbox = Outbox(send, stalled=lambda why: pytest.fail(why))
    outbox.queue("a", 1)
    outbox.queue("b", 1)
    await turns(5)

    assert outbox.frames == []
    assert outbox.writer is None
