"""Faults survived: Redis going away and coming back under a live server."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.test import override_settings

from tests.live import BUDGET_MARGIN, POSITION, TOKEN, LiveSocket, ServerProcess, SilentRedis
from tests.testapp.models import Message, Room
from turbo import conf
from turbo.history import UNKNOWN, Position
from turbo.watch import PROBE_INTERVAL, PROBE_TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

#: Seconds after a server's channel layer delivers again within which its
#: sockets are told to refresh (docs/reliability.rst): a probe that was lost
#: times out, the next one follows and comes back.
TOLD_WITHIN = 2 * PROBE_TIMEOUT + PROBE_INTERVAL

#: Seconds the Redis layers may take to connect again once Redis is back: they
#: retry on their own, with a backoff.
RECONNECTED_WITHIN = 20


async def receive_the_first_of_new_saves(socket: LiveSocket, room: Room) -> dict[str, object]:
    """Save messages until one reaches ``socket``; its frame.

    A server's channel layer subscribes again on its own once Redis is back,
    a moment later: what is published before that is not delivered (but
    recorded, for the page to find).
    """
    for attempt in range(30):
        await Message.objects.acreate(room=room, text=f"after the outage {attempt}")
        try:
            frame = await socket.receive(timeout=1)
        except TimeoutError:
            continue
        if frame["type"] == "message":
            return frame
    raise AssertionError("no broadcast reached the socket after Redis came back")


async def open_page(server: ServerProcess, room: Room) -> tuple[str, str]:
    """The token and the position of the room's page."""
    status, page = await asyncio.to_thread(server.get, f"/rooms/{room.pk}/")
    assert status == 200, page
    return TOKEN.search(page).group(1), POSITION.search(page).group(1)


async def test_saves_succeed_while_redis_is_down_and_pages_learn_what_they_missed(
    servers, private_redis, caplog
):
    layer = private_redis.layer()
    room = await Room.objects.acreate(name="outage")
    server = await asyncio.to_thread(servers, layer)
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        token, rendered_at = await open_page(server, room)
        async with LiveSocket(server) as socket:
            await socket.subscribe(token, rendered_at)

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


@pytest.mark.parametrize("kind", ["pubsub", "core"])
async def test_a_quiet_page_is_told_to_refresh_once_redis_is_back_without_a_new_broadcast(
    servers, private_redis, kind
):
    """Issue 20, item 3: what was saved while Redis was down reaches no page by
    itself, and no later broadcast comes to reveal it."""
    layer = private_redis.layer(kind)
    room = await Room.objects.acreate(name="quiet")
    server = await asyncio.to_thread(servers, layer)
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        token, rendered_at = await open_page(server, room)
        async with LiveSocket(server) as socket:
            group = await socket.subscribe(token, rendered_at)

            await asyncio.to_thread(private_redis.stop)
            await Message.objects.acreate(room=room, text="while Redis is down")
            await asyncio.to_thread(private_redis.start)

            frame = await socket.receive(timeout=RECONNECTED_WITHIN + TOLD_WITHIN)

    assert frame == {"type": "replayed", "stream": group, "refresh": True}
    assert "delivers again" in server.output()


async def test_a_page_rendered_while_redis_is_down_refreshes_once_it_subscribes(
    servers, private_redis
):
    """Issue 20, item 5: what is broadcast between its rendering and its
    subscribe is not lost."""
    layer = private_redis.layer()
    room = await Room.objects.acreate(name="rendered in the dark")
    server = await asyncio.to_thread(servers, layer)
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        await asyncio.to_thread(private_redis.stop)
        token, rendered_at = await open_page(server, room)
        await asyncio.to_thread(private_redis.start)
        await Message.objects.acreate(room=room, text="between rendering and subscribing")

        async with LiveSocket(server) as socket:
            await socket.send({"type": "subscribe", "token": token, "position": rendered_at})
            answer = await socket.receive()

    assert rendered_at == str(UNKNOWN)
    assert answer["type"] == "subscribed"
    assert answer["refresh"] is True


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_page_views_and_saves_wait_on_a_redis_that_never_answers_no_longer_than_the_budget(
    servers, kind
):
    """Issue 20, item 7: a Redis that accepts connections and never answers
    (a network partition, a hung server)."""
    room = await Room.objects.acreate(name="partitioned")
    with SilentRedis() as silent:
        layer = {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [silent.url]},
        }
        server = await asyncio.to_thread(servers, layer, kind)
        budget = conf.redis_timeout()

        started = time.monotonic()
        status, page = await asyncio.to_thread(server.get, f"/rooms/{room.pk}/")
        viewed = time.monotonic() - started
        started = time.monotonic()
        await asyncio.to_thread(server.post, f"/rooms/{room.pk}/say/", text="saved")
        saved = time.monotonic() - started

    assert status == 200, page
    assert POSITION.search(page).group(1) == str(UNKNOWN)
    assert viewed < budget + BUDGET_MARGIN
    assert saved < budget + BUDGET_MARGIN
    assert await Message.objects.filter(room=room, text="saved").aexists()
    assert f"Broadcast to testapp:RoomStream({room.pk}) failed" in server.output()
