"""Faults survived: Redis going away and coming back under a live server."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from typing import TYPE_CHECKING

import pytest
from django.test import override_settings

from tests.conftest import unavailable
from tests.live import POSITION, TOKEN, LiveSocket, RedisProcess
from tests.testapp.models import Message, Room
from turbo.history import Position

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A Redis server of the test's own, which the test stops and starts."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed: apt-get install redis-server")
    redis = RedisProcess()
    redis.start()
    yield redis
    redis.stop()


async def receive_the_first_of_new_saves(socket: LiveSocket, room: Room) -> dict[str, object]:
    """Save messages until one reaches ``socket``; its frame.

    A server's channel layer subscribes again on its own once Redis is back,
    a moment later: what is published before that is not delivered (but
    recorded, for the page to find).
    """
    for attempt in range(30):
        await Message.objects.acreate(room=room, text=f"after the outage {attempt}")
        try:
            return await socket.receive(timeout=1)
        except TimeoutError:
            continue
    raise AssertionError("no broadcast reached the socket after Redis came back")


async def test_saves_succeed_while_redis_is_down_and_pages_learn_what_they_missed(
    servers, private_redis, caplog
):
    layer = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": private_redis.url}], "prefix": f"t{uuid.uuid4().hex}"},
    }
    room = await Room.objects.acreate(name="outage")
    server = await asyncio.to_thread(servers, layer)
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        status, page = await asyncio.to_thread(server.get, f"/rooms/{room.pk}/")
        assert status == 200, page
        token, rendered_at = TOKEN.search(page).group(1), POSITION.search(page).group(1)
        async with LiveSocket(server) as socket:
            await socket.send({"type": "subscribe", "token": token, "position": rendered_at})
            assert (await socket.receive())["type"] == "subscribed"

            await asyncio.to_thread(private_redis.stop)
            during = await Message.objects.acreate(room=room, text="while Redis is down")
            assert await Message.objects.filter(pk=during.pk).aexists()
            assert f"Broadcast to testapp:RoomStream({room.pk}) failed" in caplog.text
            await asyncio.to_thread(private_redis.start)

            frame = await receive_the_first_of_new_saves(socket, room)

        # Redis came back empty: the position the page was rendered at means
        # nothing any more, and the message says so by its epoch; a page
        # subscribing from that position is told to refresh.
        assert Position.parse(frame["position"]).epoch != Position.parse(rendered_at).epoch
        async with LiveSocket(server) as again:
            await again.send({"type": "subscribe", "token": token, "position": rendered_at})
            answer = await again.receive()
        assert answer["refresh"] is True
