"""The physical limit: a plain ASGI app fanning Redis messages out to websockets.

No Django, no Channels: each connected socket's ``send`` callable sits in a set,
and one task (per process) subscribed to a Redis pub/sub channel writes every
published payload, as is, to every socket. It costs what any fan-out over this
server must cost: one Redis subscription, and one websocket frame per socket.

A form POST to ``/messages/`` (``text=...``) publishes the same frame as the
driver does, from this process, and answers 303: the least a save view of
the server holding the sockets can do (the POST scenarios).

Served as ``app:app`` by daphne or uvicorn; the channel is
``<BENCH_REDIS_PREFIX>.limit``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any
from urllib.parse import parse_qs

import redis.asyncio
from frame import CHANNEL, REDIS_URL, frame

logger = logging.getLogger("limit")

Send = Any  # the ASGI send callable
Receive = Any  # the ASGI receive callable
SAVE_PATH = "/messages/"

sockets: set[Send] = set()
listener: asyncio.Task[None] | None = None
publisher: redis.asyncio.Redis | None = None
# Numbered like the rows of a fresh table, so the frames have the same sizes as ours.
pks = itertools.count(1)


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


async def save(receive: Receive, send: Send) -> None:
    """Publish the frame of the form's ``text``; answer 303, as a Django save view does."""
    global publisher
    data = b""
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return
        data += event.get("body", b"")
        if not event.get("more_body"):
            break
    texts = parse_qs(data.decode()).get("text")
    if not texts:
        await respond(send, 400)
        return
    if publisher is None:
        publisher = redis.asyncio.Redis.from_url(REDIS_URL)
    await publisher.publish(CHANNEL, frame(next(pks), texts[0]))
    await respond(send, 303, ((b"location", b"/"),))


async def respond(send: Send, status: int, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The ASGI application: websockets join the fan-out; a POST to SAVE_PATH publishes."""
    if scope["type"] == "http":
        if scope["method"] == "POST" and scope["path"] == SAVE_PATH:
            await save(receive, send)
        else:
            await respond(send, 404)
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
