"""The frames on their way to one socket: queued in order, within the client's ack window.

The consumer (:mod:`turbo.consumers`) has an :class:`Outbox` per socket, and
the process's hub (:mod:`turbo.hub`) hands broadcasts to it. Frames wait
there until the event loop turns; then one callback sends the frames of every
socket, each send driven to its end there as long as it does not wait, as
daphne's never do and uvicorn's only for a slow client. A send that waits
(the socket's buffer is full) goes on in a task of the socket's own, with the
frames behind it, so a slow socket holds up no other, and a broadcast to a
thousand sockets makes no thousand tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final
from weakref import WeakKeyDictionary

from turbo.limits import AckWindow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

logger = logging.getLogger("turbo")


# A writer started eagerly (Python 3.12+) runs until it would wait: a send
# that completes at once, as daphne's always do and uvicorn's unless the
# client is slow, then costs no trip through the event loop.
def _start_lazily(
    loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]
) -> asyncio.Task[None]:
    return loop.create_task(coroutine)


_start_task: Callable[[asyncio.AbstractEventLoop, Coroutine[Any, Any, None]], asyncio.Task[None]]
_start_task = getattr(asyncio, "eager_task_factory", _start_lazily)


#: An outbox's writer, before it starts: due once the loop turns.
DUE: Final = "due"

# Per loop, the outboxes whose writers are due: one callback starts them all.
# One per outbox would keep a thousand handles alive per broadcast, for the
# garbage collector to count and walk.
_due: WeakKeyDictionary[asyncio.AbstractEventLoop, list[Outbox]] = WeakKeyDictionary()


def _start_due(due: list[Outbox]) -> None:
    outboxes = due.copy()
    due.clear()
    for outbox in outboxes:
        if outbox.writer is DUE:  # not stopped meanwhile
            outbox.start_writer()


async def _finish(sending: Coroutine[Any, Any, Any], waiting_on: object) -> None:
    """Drive ``sending``, started outside a task and now waiting on ``waiting_on``, to its end.

    What a task does with the coroutine it runs: wait for the future it
    yielded (``None``: a bare yield, as ``asyncio.sleep(0)`` makes), then
    resume it, which reads the future's result or exception. Cancelled
    meanwhile, ``sending`` is closed: the socket is going away.
    """
    while True:
        if waiting_on is not None and not asyncio.isfuture(waiting_on):
            sending.close()
            raise RuntimeError(f"A websocket send yielded {waiting_on!r}, not a future.")
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                # Taken, as a task takes a future its coroutine yields: a
                # future still marked as yielded refuses to be awaited.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except asyncio.CancelledError:
            sending.close()
            raise
        except Exception:
            pass  # raised again in the send, which reads the future's exception
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            return


class Outbox:
    """The frames queued for one socket, and the task writing them.

    Every frame queued counts against what the client may leave
    unacknowledged (:class:`turbo.limits.AckWindow`). A frame that finds the
    client stalled is not queued: ``stalled`` is called with why, once, and
    the outbox takes no more frames. ``send`` takes the ``websocket.send``
    events::

        outbox = Outbox(send, stalled=lambda why: ...)
        outbox.queue('{"type":"message",…}', size)
    """

    __slots__ = ("closer", "closing", "frames", "send", "stalled", "window", "writer")

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        stalled: Callable[[str], None],
    ) -> None:
        self.send = send
        self.stalled = stalled
        #: What the client has not acknowledged yet.
        self.window = AckWindow()
        #: Whether the socket is closing: frames queued from now on are dropped.
        self.closing = False
        # A list, not a deque: an idle socket's empty list costs a tenth as much.
        self.frames: list[str] = []
        #: The task writing, or :data:`DUE` to start once the loop turns.
        self.writer: asyncio.Task[None] | str | None = None
        # What closes the socket once the frames queued are written.
        self.closer: Callable[[], Awaitable[None]] | None = None

    def deliver(self, frame: str, size: int) -> None:
        """Queue a frame from the hub (:class:`turbo.hub.Subscriber`): a message, or a refresh."""
        self.queue(frame, size)

    def queue(self, frame: str, size: int) -> None:
        """Queue ``frame`` (``size`` bytes in UTF-8), unless the client has stalled.

        See :class:`turbo.limits.AckWindow` for when a client has stalled::

            outbox.queue(text, len(text.encode()))
        """
        if self.closing:
            return
        stalled = self.window.send(size)
        if stalled is not None:
            self.stop()
            self.stalled(stalled)
        else:
            self.post(frame)

    def post(self, text: str) -> None:
        """Queue ``text`` behind the frames already queued, outside the ack window.

        Starts a writer once the loop turns, if none is due or running::

            outbox.post('{"type":"error",…}')
        """
        self.frames.append(text)
        self._write_soon()

    def close_after(self, close: Callable[[], Awaitable[None]]) -> None:
        """Take no more frames; ``await close()`` once those queued are written.

        The frames explaining a close (an ``error``, say) reach the page
        before it, however fast the socket's frames come in::

            outbox.close_after(lambda: consumer.close(4008, "too many frames"))
        """
        self.closing = True
        self.closer = close
        self._write_soon()

    def _write_soon(self) -> None:
        # Not at once: the hub hands a burst over in slices without letting
        # the loop turn (turbo.hub.BURST_SLICE), and a writer started per
        # frame would be a task per frame. Started once the loop turns, one
        # writer sends all the frames a slice gave the socket.
        if self.writer is not None:
            return
        self.writer = DUE
        loop = asyncio.get_running_loop()
        due = _due.get(loop)
        if due is None:
            due = _due[loop] = []
        if not due:
            loop.call_soon(_start_due, due)
        due.append(self)

    def start_writer(self) -> None:
        """Write the frames queued, now, from a callback (:func:`_start_due` calls it).

        Each send runs here until it completes or would wait; the first that
        would wait goes on, with the frames behind it, in a task (:meth:`write`).
        """
        self.writer = None
        try:
            while self.frames:
                frames, self.frames = self.frames, []
                for index, frame in enumerate(frames):
                    sending = self.send({"type": "websocket.send", "text": frame})
                    if isinstance(sending, Coroutine):
                        try:
                            waiting_on = sending.send(None)
                        except StopIteration:
                            continue
                        sending = _finish(sending, waiting_on)
                    # It waits (or is an awaitable of another kind): the rest in a task.
                    self.frames[:0] = frames[index + 1 :]
                    self._write_in_task(self.write(sending))
                    return
        except Exception:
            self._write_failed()
            return
        if self.closer is not None:
            self._write_in_task(self.write())

    def _write_failed(self) -> None:
        # The socket is gone; its disconnect event follows.
        logger.debug("Writing to a turbo websocket failed", exc_info=True)
        self.frames.clear()

    def _write_in_task(self, write: Coroutine[Any, Any, None]) -> None:
        writer = _start_task(asyncio.get_running_loop(), write)
        # An eager writer may be done already, its finally block run.
        self.writer = None if writer.done() else writer

    async def write(self, sending: Awaitable[None] | None = None) -> None:
        """Finish ``sending``, a send under way, then send the queued frames until none is left."""
        try:
            if sending is not None:
                await sending
            while self.frames:
                frames, self.frames = self.frames, []
                for frame in frames:
                    await self.send({"type": "websocket.send", "text": frame})
            close, self.closer = self.closer, None
            if close is not None:
                await close()
        except Exception:
            self._write_failed()
        finally:
            self.writer = None

    def stop(self) -> None:
        """Take no more frames, and drop the ones still queued."""
        self.closing = True
        self.frames.clear()
        if isinstance(self.writer, asyncio.Task):
            self.writer.cancel()
        self.writer = None
