"""The consumer base that sends a socket's frames through an outbox, within its ack window.

:class:`FlowConsumer` is a Channels websocket consumer whose frames go out
through an :class:`turbo.outbox.Outbox`: every frame counts against what the
client may leave unacknowledged (:class:`turbo.limits.AckWindow`), the
client's ``ack`` frames give it back, and a client that stalls is closed with
:data:`turbo.limits.CLOSE_TOO_SLOW`. Its socket gets no channel on the layer
unless it asks (:attr:`FlowConsumer.own_channel`). The turbo protocol on top is
:class:`turbo.consumers.TurboStreamConsumer`'s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, ClassVar

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from turbo import compat
from turbo.limits import CLOSE_TOO_SLOW
from turbo.outbox import Outbox

logger = logging.getLogger("turbo")


class FlowConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """A websocket consumer whose frames go out through its outbox, acknowledged by the client.

    Send frames with :meth:`send_frame`; pass the client's ``ack`` frames to
    :meth:`acknowledge`. See :class:`turbo.consumers.TurboStreamConsumer`.
    """

    #: Whether the socket gets a channel of its own on the layer, as any
    #: Channels consumer does, in :attr:`channel_name`: set it in a subclass
    #: that joins groups or takes messages of its own from the layer
    #: (:doc:`transport`). Turbo's broadcasts need none: without one, a
    #: socket costs the layer nothing.
    own_channel: ClassVar[bool] = False

    #: The socket's frames on their way, set when the consumer starts serving it.
    outbox: Outbox

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closer: asyncio.Task[None] | None = None
        self._channel_name: str | None = None

    @property
    def channel_name(self) -> str:
        """The socket's own channel on the layer, given only with :attr:`own_channel`."""
        if self._channel_name is None:
            raise AttributeError(
                f"{type(self).__name__} has no channel_name: set own_channel = True on it "
                f"to give its sockets channels of their own."
            )
        return self._channel_name

    @channel_name.setter
    def channel_name(self, name: str) -> None:
        self._channel_name = name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.outbox = Outbox(compat.frame_sender(send), self.close_too_slow)
        # The hub's receive, and Channels' for a socket with its own channel,
        # must outlast an idle Redis connection's read timeout; a layer made
        # after startup (settings overridden in tests) was not fitted yet.
        compat.bound_blocking_receive(get_channel_layer(self.channel_layer_alias))
        try:
            if self.own_channel:
                await super().__call__(scope, receive, send)
            else:
                # A channel of the socket's own, and a task waiting on it,
                # which Channels' __call__ would give it: the hub makes both
                # unnecessary.
                await compat.serve_without_channel(self, scope, receive, send)
        finally:
            await self.release()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Without closing stale database connections before every handler, as
        # Channels' dispatch does: a hop to the sync thread per frame.
        await compat.dispatch_to_handler(self, message)

    async def release(self) -> None:
        """Drop what is still queued for the socket, and take no more."""
        self.outbox.stop()

    def acknowledges_a_frame(self, frame: object) -> bool:
        """Whether ``frame`` is an ack of at least one frame not acknowledged before."""
        if not isinstance(frame, dict) or frame.get("type") != "ack":
            return False
        return self.outbox.window.advances(frame.get("messages"))

    async def acknowledge(self, frames: object) -> None:
        """Take the client's count of frames received so far."""
        if not self.outbox.window.acknowledge(frames):
            await self.send_error(
                "malformed",
                "An ack frame needs 'messages': the number of frames received, "
                f"{self.outbox.window.expected}.",
            )

    def close_too_slow(self, why: str) -> None:
        """Close the socket of a client that stalled (``why``), its outbox stopped."""
        logger.warning(
            "Closing a turbo websocket (%d): the client %s, with %d bytes of messages "
            "unacknowledged.",
            CLOSE_TOO_SLOW,
            why,
            self.outbox.window.total,
        )
        # The close itself may wait on the full buffer: never in the hub's time.
        self.closer = asyncio.create_task(self.close(CLOSE_TOO_SLOW, "too slow"))

    async def send_error(self, reason: str, text: str) -> None:
        await self.send_frame({"type": "error", "reason": reason, "message": text})

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Queue ``frame``, a JSON object, for the page, behind the frames already queued.

        The way for a subclass to send the page frames of its own: the
        client counts every frame it receives in its acks, and so does the
        outbox. ``websocket.send`` events sent past it would put the count out
        of step, and the client's acks would be refused::

            await self.send_frame({"type": "notice", "text": "Back at 5"})
        """
        # ASCII (json.dumps escapes the rest): as many bytes as characters.
        text = json.dumps(frame, separators=(",", ":"))
        self.outbox.queue(text, len(text))

    async def close_with(self, code: int, reason: str) -> None:
        """Close the socket with ``code`` once the frames queued are sent; log ``reason``."""
        logger.warning("Closing a turbo websocket (%d): %s", code, reason)
        self.outbox.close_after(lambda: self.close(code, reason))
