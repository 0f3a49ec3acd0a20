"""The websocket consumer: one socket per page, carrying any number of streams.

The frames, rejection reasons and close codes are described in the protocol
documentation (``docs/protocol.rst``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from time import monotonic
from typing import TYPE_CHECKING, Any, Final

from channels.db import database_sync_to_async
from django.core.exceptions import ObjectDoesNotExist

from turbo import conf, history, hub, sessions, signing
from turbo.flow import FlowConsumer
from turbo.following import Following, is_private
from turbo.history import Position
from turbo.limits import (
    CLOSE_FRAME_TOO_BIG,
    CLOSE_RATE_LIMITED,
    Refusals,
    SocketLimits,
    client_address,
    clients,
)
from turbo.loops import note_consumer
from turbo.replay import REFRESH, missed_since

if TYPE_CHECKING:
    from turbo.streams import Stream

logger = logging.getLogger("turbo")

#: Characters of a client's input that an ``error`` frame quotes at most.
QUOTED_INPUT: Final = 40


def _quote(value: object) -> str:
    """``repr(value)``, cut to :data:`QUOTED_INPUT` characters: never echo a whole frame."""
    text = repr(value)
    return text if len(text) <= QUOTED_INPUT else text[: QUOTED_INPUT - 1] + "…"


class TurboStreamConsumer(FlowConsumer):
    """Serves ``subscribe``, ``unsubscribe`` and ``ack`` frames and forwards broadcasts.

    Route it with :data:`turbo.routing.websocket_urlpatterns`. Each subscribe
    carries a token from ``{% turbo_subscribe %}``: the consumer verifies it,
    rebuilds the stream, asks the stream's ``user_passes_test()`` about the
    socket's user as they are now (:meth:`current_user`) unless the stream is
    public, joins the stream and acknowledges. A stream subscribed several
    times on one socket is left after as many unsubscribes, and every stream
    is left when the socket closes.

    Broadcasts reach the socket through the process's :class:`turbo.hub.Hub`,
    not through a channel of the socket's own (see :attr:`own_channel`).
    Frames wait in the socket's :class:`turbo.outbox.Outbox`, and count
    against what the client may leave unacknowledged (:mod:`turbo.flow`): a
    client that stops reading is closed with :data:`turbo.limits.CLOSE_TOO_SLOW`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Subscribe counts of the socket's streams, by group.
        self.subscriptions: dict[str, int] = {}
        self.hub: hub.Hub | None = None
        #: The socket's rate limits, from :data:`turbo.limits.clients` once accepted.
        self.limits: SocketLimits | None = None
        self.address: str | None = None
        #: Recent refusals of subscribes, repeated without a check for a while.
        self.refusals = Refusals()
        #: The socket's session and user, followed (:mod:`turbo.following`).
        self.following = Following(self)

    async def connect(self) -> None:
        # Closing before accepting refuses the handshake (HTTP 403): cheap,
        # and the same on every ASGI server.
        if self.channel_layer is None:
            logger.error("A turbo websocket was refused: no channel layer is configured.")
            await self.close()
            return
        self.address = client_address(self.scope)
        self.limits = clients.open(self.address)
        if self.limits is None:
            await self.close()
            return
        note_consumer()
        self.hub = hub.attach(self.channel_layer)
        await self.accept()
        await self.following.start(self.hub, self.scope)

    async def disconnect(self, code: int) -> None:
        await self.release()

    async def release(self) -> None:
        """Leave every stream and drop what is still queued for the socket."""
        await super().release()
        if self.limits is not None:
            clients.close(self.address, self.limits)
            self.limits = None
        await self.following.stop()
        if self.hub is not None:
            attached, self.hub = self.hub, None
            subscriptions, self.subscriptions = self.subscriptions, {}
            await attached.detach(list(subscriptions), self.outbox)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.outbox.closing or self.limits is None:
            return
        data = text_data if text_data is not None else bytes_data or b""
        if len(data) > conf.max_frame_size():
            await self.close_with(CLOSE_FRAME_TOO_BIG, f"a frame of {len(data)} characters")
            return
        frame: Any = None
        if text_data is not None:
            with contextlib.suppress(ValueError, RecursionError):
                frame = json.loads(text_data)
        # Acks are flow control, owed for every 64 KiB received: one that
        # acknowledges a frame is not counted against the rate limit, and
        # there cannot be more of those than frames sent.
        if not self.acknowledges_a_frame(frame) and not self.limits.frames.allow():
            await self.close_with(CLOSE_RATE_LIMITED, "too many frames")
            return
        if text_data is None:
            await self.send_error("binary", "Frames are JSON text; binary frames are not used.")
            return
        if not isinstance(frame, dict):
            await self.send_error("malformed", "A frame is one JSON object with a 'type'.")
            return
        kind = frame.get("type")
        if not isinstance(kind, str):
            await self.send_error("malformed", "A frame needs a 'type' string.")
        elif kind == "subscribe":
            await self.subscribe(frame.get("token"), frame.get("position"))
        elif kind == "unsubscribe":
            await self.unsubscribe(frame.get("stream"))
        elif kind == "ack":
            await self.acknowledge(frame.get("messages"))
        elif kind == "replay":
            await self.replay(frame.get("stream"), frame.get("position"))
        else:
            await self.send_error(
                "unknown-type",
                f"Unknown frame type {_quote(kind)}: expected 'subscribe', 'unsubscribe', "
                f"'ack' or 'replay'.",
            )

    async def subscribe(self, token: object, position: object = None) -> None:
        """Verify ``token`` and join its stream; answer ``subscribed`` or ``rejected``.

        Given the ``position`` of the last message the page applied (or of its
        rendering), ``subscribed`` carries what the stream broadcast since,
        from the history (:mod:`turbo.history`). :meth:`check` says who may.
        """
        if not isinstance(token, str) or len(token) > signing.MAX_TOKEN_LENGTH:
            await self.send_error(
                "malformed",
                f"A subscribe frame needs a 'token' string of at most "
                f"{signing.MAX_TOKEN_LENGTH} characters.",
            )
            return
        try:
            stream = signing.loads(token)
        except signing.TokenError as error:
            await self.reject(token, error.reason, str(error))
            return
        group = stream.group
        if group not in self.subscriptions and len(self.subscriptions) >= conf.max_subscriptions():
            await self.reject(
                token, "limit", f"This socket already holds {len(self.subscriptions)} streams."
            )
            return
        rejection = await self.check(stream)
        if rejection is not None:
            await self.reject(token, *rejection)
            return
        if self.hub is None:
            return  # the socket closed while the check ran
        if group not in self.subscriptions:
            try:
                await self.hub.join(group, self.outbox)
            except Exception:
                logger.exception("Joining the group of %s failed", stream)
                await self.reject(token, "error", "The server failed to join this stream.")
                return
        # Read after joining: a broadcast recorded meanwhile arrives twice, in
        # the history and live, and the client applies it once; one read
        # before joining could be missed by both.
        self.subscriptions[group] = self.subscriptions.get(group, 0) + 1
        self.following.note(stream, token)
        missed = await self.missed(group, position)
        if missed is None:
            return
        await self.send_frame({"type": "subscribed", "token": token, "stream": group, **missed})

    async def check(self, stream: Stream) -> tuple[str, str] | None:
        """Why the socket may not subscribe to ``stream`` (a reason and a message), if so.

        A stream the socket holds is not checked again: it already receives
        it; nor is a public one (:func:`turbo.following.is_private`), which
        needs no user resolved, nor a trip to a thread. A refusal is repeated
        for :data:`turbo.limits.RECHECK_INTERVAL` seconds without asking the
        database.
        """
        group = stream.group
        if group in self.subscriptions or not is_private(type(stream)):
            return None
        now = monotonic()
        refused = self.refusals.recent(group, now)
        if refused is not None:
            return refused
        try:
            allowed = await database_sync_to_async(self.user_may_subscribe)(stream)
        except ObjectDoesNotExist as error:
            rejection = ("not-found", f"{stream}: {error}")
        except Exception:
            logger.exception("Checking a subscription to %s failed", stream)
            return ("error", "The server failed to check this subscription.")
        else:
            if allowed:
                return None
            rejection = ("forbidden", f"user_passes_test() refused {stream}.")
        self.refusals.remember(group, rejection, now)
        return rejection

    async def replay(self, group: object, position: object) -> None:
        """Send what a subscribed stream broadcast after ``position``, as ``replayed``.

        A client asks when a message arrives before one it has not received.
        """
        if not isinstance(group, str) or group not in self.subscriptions:
            await self.send_error("malformed", "A replay frame needs a subscribed 'stream'.")
            return
        missed = await self.missed(group, position)
        if missed is not None:
            await self.send_frame({"type": "replayed", "stream": group, **(missed or REFRESH)})

    async def missed(self, group: str, position: object) -> dict[str, Any] | None:
        """What ``subscribed`` says of the broadcasts after ``position``.

        ``{"missed": [...]}``, the messages in order, or ``{"refresh": True}``
        when the history no longer reaches back to ``position``, or when what
        was missed is more than half of what the client may leave
        unacknowledged (:setting:`TURBO_MAX_UNACKED_BYTES`). Nothing without a
        position or a history. ``None`` when the socket asked for more history
        than :setting:`TURBO_REPLAY_RATE` allows, and is closed.
        """
        after = Position.parse(position)
        kept = history.for_layer(self.channel_layer)
        if after is None or kept is None:
            return {}
        assert self.limits is not None
        if not self.limits.history_reads.allow():
            await self.close_with(CLOSE_RATE_LIMITED, "too many history reads")
            return None
        max_bytes = self.outbox.window.max_bytes // 2
        return await missed_since(kept, group, after, max_bytes)

    def user_may_subscribe(self, stream: Stream) -> bool:
        """Ask ``stream.user_passes_test()`` about the socket's user (sync: it may query)."""
        return bool(stream.user_passes_test(self.current_user()))

    def current_user(self) -> Any:
        """The socket's user as they are now (sync: it queries).

        A user that Channels' ``AuthMiddleware`` resolved from the session
        when the socket opened is resolved again, by
        :func:`django.contrib.auth.get_user`, from the session as it is now
        stored: after a logout elsewhere (the session deleted) or a password
        change (its auth hash no longer valid) it is ``AnonymousUser``. A user
        put in the scope by other middleware is taken as it is
        (:func:`turbo.sessions.current_user`)::

            consumer.current_user().is_authenticated  # False once logged out

        ``AnonymousUser`` too once the browser's session changed
        (:meth:`turbo.following.Following.session_changed`).
        """
        if self.following.anonymous:
            return sessions.anonymous_user()
        return sessions.current_user(self.scope)

    async def unsubscribe(self, group: object) -> None:
        """Count one unsubscribe of ``group``; leave it when none is left."""
        if not isinstance(group, str):
            await self.send_error("malformed", "An unsubscribe frame needs a 'stream' string.")
            return
        count = self.subscriptions.get(group, 0)
        if count > 1:
            self.subscriptions[group] = count - 1
        elif count == 1:
            await self.drop(group)
        await self.send_frame({"type": "unsubscribed", "stream": group})

    async def drop(self, group: str) -> None:
        """Leave the stream ``group``, however many times the socket subscribed to it."""
        self.following.forget(group)
        if self.subscriptions.pop(group, None) is not None and self.hub is not None:
            await self.hub.leave(group, self.outbox)

    async def reject(self, token: str, reason: str, text: str) -> None:
        logger.debug("Subscription rejected (%s): %s", reason, text)
        await self.send_frame(
            {"type": "rejected", "token": token, "reason": reason, "message": text}
        )
