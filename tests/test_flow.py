"""The consumer base: a user's subclass with a channel of its own, on every layer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from django.urls import path
from django.utils.safestring import mark_safe

from tests.conftest import ORIGIN, layer_config
from tests.live import LiveSocket
from tests.testapp.consumers import NOTICES, NoticeConsumer
from tests.testapp.streams import LobbyStream
from turbo import signing
from turbo.consumers import TurboStreamConsumer


async def receive(communicator: WebsocketCommunicator) -> dict[str, Any]:
    return dict(json.loads(await communicator.receive_from(3)))


@pytest.mark.django_db
async def test_a_subclass_with_its_own_channel_receives_its_groups_messages(channel_layer):
    application = URLRouter([path("ws/notices/", NoticeConsumer.as_asgi())])
    communicator = WebsocketCommunicator(application, "/ws/notices/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    stream = LobbyStream()

    await channel_layer.group_send(NOTICES, {"type": "notice", "text": "Back at 5"})
    notice = await receive(communicator)
    await communicator.send_json_to({"type": "subscribe", "token": signing.dumps(stream)})
    subscribed = await receive(communicator)
    await stream.aupdate(html=mark_safe("<p>turbo's too</p>"), id="x")
    message = await receive(communicator)
    # The notice counts among the frames acknowledged, as the client counts it.
    await communicator.send_json_to({"type": "ack", "messages": 3})
    await communicator.send_json_to({"type": "unsubscribe", "stream": stream.group})
    unsubscribed = await receive(communicator)
    await communicator.disconnect()

    assert connected
    assert notice == {"type": "notice", "text": "Back at 5"}
    assert subscribed["type"] == "subscribed"
    assert "turbo's too" in message["html"]
    assert unsubscribed == {"type": "unsubscribed", "stream": stream.group}


def test_a_consumer_without_its_own_channel_says_how_to_get_one():
    with pytest.raises(AttributeError, match="own_channel = True"):
        _ = TurboStreamConsumer().channel_name


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("layer", ["redis-core", "redis-pubsub"])
async def test_a_subclass_with_its_own_channel_receives_a_group_send_on_a_live_server(
    servers, layer
):
    config = layer_config(layer)
    server = await asyncio.to_thread(servers, config)

    with override_settings(CHANNEL_LAYERS={"default": config}):
        async with LiveSocket(server, path="/ws/notices/") as socket:
            # Past the handshake, the server's consumer is in the group.
            await socket.send({"type": "unsubscribe", "stream": "turbo.none"})
            assert (await socket.receive())["type"] == "unsubscribed"
            await get_channel_layer().group_send(NOTICES, {"type": "notice", "text": "live"})

            assert await socket.receive() == {"type": "notice", "text": "live"}
