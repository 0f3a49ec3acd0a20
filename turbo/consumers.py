"""The websocket consumer: one socket per page, carrying any number of streams.

The frames, rejection reasons and close codes are described in the protocol
documentation (``docs/protocol.rst``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ObjectDoesNotExist

from turbo import conf, signing
from turbo.broadcast import note_consumer

if TYPE_CHECKING:
    from turbo.streams import Stream

logger = logging.getLogger("turbo")

#: Close code for a frame longer than ``TURBO_MAX_FRAME_SIZE`` (RFC 6455's "message too big").
CLOSE_FRAME_TOO_BIG: Final = 1009
#: Close code for a socket sending frames faster than ``TURBO_FRAME_RATE`` allows.
CLOSE_RATE_LIMITED: Final = 4429
#: Close code when the server has no channel layer to subscribe with.
CLOSE_NO_CHANNEL_LAYER: Final = 1011


class RateLimit:
    """A token bucket: ``burst`` frames at once, then ``rate`` frames per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def allow(self) -> bool:
        """Take one frame's token; false when the bucket is empty."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class TurboStreamConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Serves ``subscribe`` and ``unsubscribe`` frames and forwards broadcasts.

    Route it with :data:`turbo.routing.websocket_urlpatterns`. Each subscribe
    carries a token from ``{% turbo_subscribe %}``: the consumer verifies it,
    rebuilds the stream, asks the stream's ``user_passes_test()`` about the
    socket's user, joins the stream's group and acknowledges. A stream
    subscribed several times on one socket is left after as many unsubscribes,
    and every stream is left when the socket closes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Subscribe counts of the socket's streams, by group.
        self.subscriptions: dict[str, int] = {}
        self.closing = False
        self.rate_limit = RateLimit(*conf.frame_rate())
        self.group_refresher: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        if self.channel_layer is None:
            logger.error("A turbo websocket was refused: no channel layer is configured.")
            await self.close(CLOSE_NO_CHANNEL_LAYER)
            return
        note_consumer()
        await self.accept()
        # The in-memory and Redis core layers forget a group membership after
        # group_expiry seconds (a day by default): a tab left open that long
        # would go deaf. Renewing the memberships keeps them.
        expiry = getattr(self.channel_layer, "group_expiry", None)
        if expiry:
            self.group_refresher = asyncio.create_task(self.refresh_groups(expiry / 2))

    async def disconnect(self, code: int) -> None:
        if self.group_refresher is not None:
            self.group_refresher.cancel()
        subscriptions, self.subscriptions = self.subscriptions, {}
        for group in subscriptions:
            await self.leave(group)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if not self.rate_limit.allow():
            await self.close_with(CLOSE_RATE_LIMITED, "too many frames")
            return
        if text_data is None:
            await self.send_error("binary", "Frames are JSON text; binary frames are not used.")
            return
        if len(text_data) > conf.max_frame_size():
            await self.close_with(CLOSE_FRAME_TOO_BIG, "frame too big")
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            frame = None
        if not isinstance(frame, dict):
            await self.send_error("malformed", "A frame is one JSON object with a 'type'.")
            return
        kind = frame.get("type")
        if not isinstance(kind, str):
            await self.send_error("malformed", "A frame needs a 'type' string.")
        elif kind == "subscribe":
            await self.subscribe(frame.get("token"))
        elif kind == "unsubscribe":
            await self.unsubscribe(frame.get("stream"))
        else:
            await self.send_error(
                "unknown-type",
                f"Unknown frame type {kind!r}: expected 'subscribe' or 'unsubscribe'.",
            )

    async def subscribe(self, token: object) -> None:
        """Verify ``token`` and join its stream; answer ``subscribed`` or ``rejected``."""
        if not isinstance(token, str):
            await self.send_error("malformed", "A subscribe frame needs a 'token' string.")
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
        try:
            allowed = await database_sync_to_async(self.user_may_subscribe)(stream)
        except ObjectDoesNotExist as error:
            await self.reject(token, "not-found", f"{stream}: {error}")
            return
        except Exception:
            logger.exception("Checking a subscription to %s failed", stream)
            await self.reject(token, "error", "The server failed to check this subscription.")
            return
        if not allowed:
            await self.reject(token, "forbidden", f"user_passes_test() refused {stream}.")
            return
        if group not in self.subscriptions:
            try:
                await self.channel_layer.group_add(group, self.channel_name)
            except Exception:
                logger.exception("Joining the group of %s failed", stream)
                await self.reject(token, "error", "The server failed to join this stream.")
                return
        self.subscriptions[group] = self.subscriptions.get(group, 0) + 1
        await self.send_frame({"type": "subscribed", "token": token, "stream": group})

    def user_may_subscribe(self, stream: Stream) -> bool:
        """Ask ``stream.user_passes_test()`` about the socket's user (sync: it may query)."""
        from django.contrib.auth.models import AnonymousUser

        return bool(stream.user_passes_test(self.scope.get("user") or AnonymousUser()))

    async def unsubscribe(self, group: object) -> None:
        """Count one unsubscribe of ``group``; leave it when none is left."""
        if not isinstance(group, str):
            await self.send_error("malformed", "An unsubscribe frame needs a 'stream' string.")
            return
        count = self.subscriptions.pop(group, 0)
        if count > 1:
            self.subscriptions[group] = count - 1
        elif count == 1:
            await self.leave(group)
        await self.send_frame({"type": "unsubscribed", "stream": group})

    async def turbo_stream(self, message: dict[str, Any]) -> None:
        """Forward a broadcast (channel-layer type ``turbo.stream``) to the page."""
        group = message["group"]
        # A broadcast already on its way when the stream was left may still arrive.
        if group in self.subscriptions:
            await self.send_frame({"type": "message", "stream": group, "html": message["html"]})

    async def leave(self, group: str) -> None:
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except Exception:
            logger.exception("Leaving the channel-layer group %s failed", group)

    async def refresh_groups(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            for group in list(self.subscriptions):
                try:
                    await self.channel_layer.group_add(group, self.channel_name)
                except Exception:
                    logger.exception("Renewing the channel-layer group %s failed", group)

    async def reject(self, token: str, reason: str, text: str) -> None:
        logger.debug("Subscription rejected (%s): %s", reason, text)
        await self.send_frame(
            {"type": "rejected", "token": token, "reason": reason, "message": text}
        )

    async def send_error(self, reason: str, text: str) -> None:
        await self.send_frame({"type": "error", "reason": reason, "message": text})

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def close_with(self, code: int, reason: str) -> None:
        self.closing = True
        logger.info("Closing a turbo websocket (%d): %s", code, reason)
        await self.close(code, reason)
