"""The websocket consumer: one socket per page, carrying any number of streams.

The frames, rejection reasons and close codes are described in the protocol
documentation (``docs/protocol.rst``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from importlib import import_module
from time import monotonic
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final, cast

from channels.auth import UserLazyObject
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from channels.utils import await_many_dispatch
from django.conf import settings
from django.contrib.auth import get_user
from django.core.exceptions import ObjectDoesNotExist

from turbo import conf, history, hub, signing
from turbo.history import Position
from turbo.limits import RECHECK_INTERVAL, AckWindow, SocketLimits, client_address, clients
from turbo.loops import note_consumer

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from django.http import HttpRequest

    from turbo.streams import Stream

logger = logging.getLogger("turbo")

#: What ``subscribed`` or ``replayed`` says when the history cannot say what was missed.
REFRESH: Final = {"refresh": True}

# Close codes are 4000-4999, private to the application: ASGI servers let an
# application send those (and 1000) only, autobahn's daphne refusing RFC
# 6455's others with a traceback and closing with 1011 instead.

#: Close code for a frame longer than ``TURBO_MAX_FRAME_SIZE`` (after RFC 6455's 1009).
CLOSE_FRAME_TOO_BIG: Final = 4009
#: Close code for a socket sending frames, or asking for replays, faster than allowed.
CLOSE_RATE_LIMITED: Final = 4429
#: Close code for a client that stopped acknowledging frames (``TURBO_ACK_TIMEOUT``).
CLOSE_TOO_SLOW: Final = 4408

#: Characters of a client's input that an ``error`` frame quotes at most.
QUOTED_INPUT: Final = 40


def _quote(value: object) -> str:
    """``repr(value)``, cut to :data:`QUOTED_INPUT` characters: never echo a whole frame."""
    text = repr(value)
    return text if len(text) <= QUOTED_INPUT else text[: QUOTED_INPUT - 1] + "…"


# A writer started eagerly (Python 3.12+) runs until it would wait: a send
# that completes at once, as daphne's always do and uvicorn's unless the
# client is slow, then costs no trip through the event loop.
def _start_lazily(
    loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]
) -> asyncio.Task[None]:
    return loop.create_task(coroutine)


_start_task: Callable[[asyncio.AbstractEventLoop, Coroutine[Any, Any, None]], asyncio.Task[None]]
_start_task = getattr(asyncio, "eager_task_factory", _start_lazily)


def frame_sender(send: Any) -> Any:
    """The callable a ``websocket.send`` event can go to, past pass-through wrappers.

    Channels' ``SessionMiddleware`` (in ``AuthMiddlewareStack``) wraps ``send``
    to save the session on the event types it lists, ``http.response.start``
    only; any other event it inspects (two lookups through the session's lazy
    proxy, a tenth of a delivery's cost) and passes on untouched. Message
    frames skip that wrapper, and only it: any other middleware's wrapper sees
    every frame, as does a session wrapper that acts on ``websocket.send``.
    """
    while (
        getattr(send, "__func__", None) is InstanceSessionWrapper.send
        and "websocket.send" not in send.__self__.save_message_types
    ):
        send = send.__self__.real_send
    return send


class _SessionSnapshot(dict[str, Any]):
    """A copy of a session's data, for :func:`django.contrib.auth.get_user` to read.

    ``get_user`` flushes a session whose auth hash fails, and gives one hashed
    with a ``SECRET_KEY_FALLBACKS`` key a new session key. A websocket cannot
    set the browser's cookie, so a new key would log the user out: here both
    change this copy only, and the stored session is left to the next request.
    """

    def flush(self) -> None:
        self.clear()

    def cycle_key(self) -> None:
        pass


class TurboStreamConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Serves ``subscribe``, ``unsubscribe`` and ``ack`` frames and forwards broadcasts.

    Route it with :data:`turbo.routing.websocket_urlpatterns`. Each subscribe
    carries a token from ``{% turbo_subscribe %}``: the consumer verifies it,
    rebuilds the stream, asks the stream's ``user_passes_test()`` about the
    socket's user as they are now (:meth:`current_user`), joins the stream and
    acknowledges. A stream subscribed several times on one socket is left
    after as many unsubscribes, and every stream is left when the socket
    closes.

    Broadcasts reach the socket through the process's :class:`turbo.hub.Hub`,
    not through a channel of the socket's own. Frames wait in an outbox
    written by a task of the socket's own, so a socket whose server blocks on
    a full buffer holds up no other. Every frame queued counts against what
    the client may leave unacknowledged (:class:`turbo.limits.AckWindow`): a
    client that stops reading is closed with :data:`CLOSE_TOO_SLOW`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Subscribe counts of the socket's streams, by group.
        self.subscriptions: dict[str, int] = {}
        self.closing = False
        self.hub: hub.Hub | None = None
        #: The socket's rate limits, from :data:`turbo.limits.clients` once accepted.
        self.limits: SocketLimits | None = None
        self.address: str | None = None
        # A list, not a deque: an idle socket's empty list costs a tenth as much.
        self.outbox: list[str] = []
        self.writer: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None
        self.window = AckWindow()
        #: Recent refusals of subscribes, by group: when, and the reason and message.
        self.verdicts: dict[str, tuple[float, tuple[str, str]]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' own __call__ would give the socket a channel on the layer,
        # and a task waiting on it: the hub makes both unnecessary.
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        self.frame_send = frame_sender(send)
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass
        finally:
            await self.release()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, a
        # hop to the sync thread per frame. The handlers here reach the
        # database only through database_sync_to_async, which does it itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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

    async def disconnect(self, code: int) -> None:
        await self.release()

    async def release(self) -> None:
        """Leave every stream and drop what is still queued for the socket."""
        self.stop_writing()
        if self.limits is not None:
            clients.close(self.address, self.limits)
            self.limits = None
        if self.hub is not None:
            attached, self.hub = self.hub, None
            subscriptions, self.subscriptions = self.subscriptions, {}
            await attached.detach(list(subscriptions), self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.limits is None:
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
                await self.hub.join(group, self)
            except Exception:
                logger.exception("Joining the group of %s failed", stream)
                await self.reject(token, "error", "The server failed to join this stream.")
                return
        # Read after joining: a broadcast recorded meanwhile arrives twice, in
        # the history and live, and the client applies it once; one read
        # before joining could be missed by both.
        self.subscriptions[group] = self.subscriptions.get(group, 0) + 1
        missed = await self.missed(group, position)
        if missed is None:
            return
        await self.send_frame({"type": "subscribed", "token": token, "stream": group, **missed})

    async def check(self, stream: Stream) -> tuple[str, str] | None:
        """Why the socket may not subscribe to ``stream`` (a reason and a message), if so.

        A stream the socket holds is not checked again: it already receives
        it. A refusal is repeated for :data:`turbo.limits.RECHECK_INTERVAL`
        seconds without asking the database.
        """
        group, now = stream.group, monotonic()
        if group in self.subscriptions:
            return None
        refused = self.verdicts.get(group)
        if refused is not None and now - refused[0] < RECHECK_INTERVAL:
            return refused[1]
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
        self.verdicts.pop(group, None)
        self.verdicts[group] = (now, rejection)
        if len(self.verdicts) > conf.max_subscriptions():
            del self.verdicts[next(iter(self.verdicts))]
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
        try:
            # A Redis that does not answer must not hold up the socket's frames.
            entries = await asyncio.wait_for(kept.since(group, after), conf.redis_timeout())
        except Exception:
            logger.exception("Reading the history of %s failed", group)
            entries = None
        if entries is None:
            return REFRESH
        size = 0
        missed = []
        for entry in entries:
            size += len(entry.html)
            if size > self.window.max_bytes // 2:
                return REFRESH
            missed.append(
                {
                    "html": entry.html,
                    "position": str(Position(after.epoch, entry.sequence)),
                    "previous": str(Position(after.epoch, entry.previous)),
                }
            )
        return {"missed": missed}

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
        put in the scope by other middleware is taken as it is::

            consumer.current_user().is_authenticated  # False once logged out
        """
        from django.contrib.auth.models import AnonymousUser

        user = self.scope.get("user")
        session = self.scope.get("session")
        if not isinstance(user, UserLazyObject) or session is None:
            return user or AnonymousUser()
        stored = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
        request = SimpleNamespace(session=_SessionSnapshot(stored.items()))
        return get_user(cast("HttpRequest", request))

    async def unsubscribe(self, group: object) -> None:
        """Count one unsubscribe of ``group``; leave it when none is left."""
        if not isinstance(group, str):
            await self.send_error("malformed", "An unsubscribe frame needs a 'stream' string.")
            return
        count = self.subscriptions.pop(group, 0)
        if count > 1:
            self.subscriptions[group] = count - 1
        elif count == 1 and self.hub is not None:
            await self.hub.leave(group, self)
        await self.send_frame({"type": "unsubscribed", "stream": group})

    def acknowledges_a_frame(self, frame: object) -> bool:
        """Whether ``frame`` is an ack of at least one frame not acknowledged before."""
        if not isinstance(frame, dict) or frame.get("type") != "ack":
            return False
        return self.window.advances(frame.get("messages"))

    async def acknowledge(self, frames: object) -> None:
        """Take the client's count of frames received so far."""
        if not self.window.acknowledge(frames):
            await self.send_error(
                "malformed",
                "An ack frame needs 'messages': the number of frames received, "
                f"{self.window.expected}.",
            )

    def deliver(self, frame: str, size: int) -> None:
        """Queue a frame from the hub: a ``message``, or a ``replayed`` refresh."""
        self.queue(frame, size)

    def queue(self, frame: str, size: int) -> None:
        """Queue ``frame`` (``size`` bytes in UTF-8); close the socket if its client stalled.

        See :class:`turbo.limits.AckWindow` for when a client has stalled.
        """
        if self.closing:
            return
        stalled = self.window.send(size)
        if stalled is not None:
            self.close_too_slow(stalled)
        else:
            self.post(frame)

    def post(self, text: str) -> None:
        """Queue ``text`` for the socket, behind the frames already queued."""
        self.outbox.append(text)
        if self.writer is None:
            loop = asyncio.get_running_loop()
            writer = _start_task(loop, self.write_outbox())
            # An eager writer may be done already, its finally block run.
            if not writer.done():
                self.writer = writer

    async def write_outbox(self) -> None:
        try:
            while self.outbox:
                frames, self.outbox = self.outbox, []
                for frame in frames:
                    await self.frame_send({"type": "websocket.send", "text": frame})
        except Exception:
            # The socket is gone; its disconnect event follows.
            logger.debug("Writing to a turbo websocket failed", exc_info=True)
            self.outbox.clear()
        finally:
            self.writer = None

    def stop_writing(self) -> None:
        """Take no more frames, and drop the ones still queued."""
        self.closing = True
        self.outbox.clear()
        if self.writer is not None:
            self.writer.cancel()

    def close_too_slow(self, why: str) -> None:
        logger.warning(
            "Closing a turbo websocket (%d): the client %s, with %d bytes of messages "
            "unacknowledged.",
            CLOSE_TOO_SLOW,
            why,
            self.window.total,
        )
        self.stop_writing()
        # The close itself may wait on the full buffer: never in the hub's time.
        self.closer = asyncio.create_task(self.close(CLOSE_TOO_SLOW, "too slow"))

    async def reject(self, token: str, reason: str, text: str) -> None:
        logger.debug("Subscription rejected (%s): %s", reason, text)
        await self.send_frame(
            {"type": "rejected", "token": token, "reason": reason, "message": text}
        )

    async def send_error(self, reason: str, text: str) -> None:
        await self.send_frame({"type": "error", "reason": reason, "message": text})

    async def send_frame(self, frame: dict[str, Any]) -> None:
        # ASCII (json.dumps escapes the rest): as many bytes as characters.
        text = json.dumps(frame, separators=(",", ":"))
        self.queue(text, len(text))

    async def close_with(self, code: int, reason: str) -> None:
        self.closing = True
        logger.warning("Closing a turbo websocket (%d): %s", code, reason)
        await self.close(code, reason)
