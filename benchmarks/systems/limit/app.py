"""The physical limit: a plain ASGI app fanning Redis messages out to websockets.

No Django, no Channels: each connected socket's ``send`` callable sits in a set,
and one task (per process) subscribed to a Redis pub/sub channel writes every
published payload, as is, to every socket. It costs what any fan-out over this
server must cost: one Redis subscription, and one websocket frame per socket.

Served as ``app:app`` by daphne or uvicorn; the channel is
``<BENCH_REDIS_PREFIX>.limit``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import redis.asyncio

logger = logging.getLogger("limit")

Send = Any  # the ASGI send callable
CHANNEL = os.environ.get("BENCH_REDIS_PREFIX", "bench") + ".limit"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")

sockets: set[Send] = set()
listener: asyncio.Task[None] | None = None


async def listen() -> None:
    """Forward every message published on CHANNEL to every connected socket."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    async for message in pubsub.listen():
        event = {"type": "websocket.send", "text": message["data"].decode()}
        for send in list(sockets):
            try:
                await send(event)
            except Exception:
                # A socket closing under us; its handler removes it.
                sockets.discard(send)


def start_listener() -> None:
    """Start the one listener task of this process, on the first connection."""
    global listener
    if listener is None:
        listener = asyncio.get_running_loop().create_task(listen())
        listener.add_done_callback(report_death)


def report_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("The Redis listener died", exc_info=task.exception())


async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
    """The ASGI application: websockets join the fan-out; HTTP gets a 404."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["type"] != "websocket":
        return
    event = await receive()
    if event["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    start_listener()
    sockets.add(send)
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sockets.discard(send)
