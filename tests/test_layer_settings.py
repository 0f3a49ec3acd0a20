"""Each channel layer with its ordinary settings, on real daphne and uvicorn and a real Redis.

redis-py 8 gives up a read after 5 s by default, and the Redis core layer's
receive waits longer than that in Redis when nothing comes (channels_redis#422):
turbo keeps the wait shorter (:func:`turbo.compat.bound_blocking_receive`).
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import override_settings

from tests.conftest import layer_config
from tests.live import LiveSocket, manage
from tests.testapp.consumers import NOTICES
from tests.testapp.models import Room


def timing_out_after(seconds: float) -> dict[str, Any]:
    """``CONFIG`` of hosts whose Redis reads time out after ``seconds``."""
    return {"hosts": [{"address": settings.REDIS_URL, "socket_timeout": seconds}]}


async def stays_quiet(socket: LiveSocket, seconds: float) -> None:
    """Nothing arrives on ``socket`` for ``seconds``, and it stays open."""
    # What is under test is time passing: an idle socket across read timeouts.
    with pytest.raises(TimeoutError):
        frame = await socket.receive(timeout=seconds)
        pytest.fail(f"an idle socket received {frame}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("layer", "config", "idle"),
    [
        # Two periods of a 2-second read timeout, and a bit.
        pytest.param("redis-core", timing_out_after(2), 5, id="core-2s"),
        # Two periods of redis-py 8's default, and a bit: hosts as ("127.0.0.1", 6379).
        pytest.param("redis-core", {"hosts": [("127.0.0.1", 6379)]}, 11, id="core-default"),
        pytest.param("redis-pubsub", timing_out_after(2), 5, id="pubsub-2s"),
    ],
)
@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_idle_sockets_outlast_the_read_timeout_and_still_receive(
    servers, layer, config, idle, kind
):
    layer = layer_config(layer, **config)
    room = await Room.objects.acreate(name="idle")
    server = await asyncio.to_thread(servers, layer, kind)
    token = await asyncio.to_thread(server.token, f"/rooms/{room.pk}/")

    # A turbo socket, served by its process's hub; and one with a channel of
    # its own (own_channel), served by Channels' receive.
    async with LiveSocket(server) as turbo, LiveSocket(server, path="/ws/notices/") as own:
        for socket in (turbo, own):
            await socket.subscribe(token)
        await asyncio.gather(stays_quiet(turbo, idle), stays_quiet(own, idle))

        await asyncio.to_thread(server.post, f"/rooms/{room.pk}/say/", text="after a while")
        for socket in (turbo, own):
            assert "after a while" in await socket.receive_html()
        with override_settings(CHANNEL_LAYERS={"default": layer}):
            await get_channel_layer().group_send(NOTICES, {"type": "notice", "text": "still"})
        assert await own.receive() == {"type": "notice", "text": "still"}

        log = server.output()
    for sign in ("ERROR", "WARNING", "Traceback", "WSDISCONNECT"):
        assert sign not in log, log


def test_the_configured_core_layer_waits_in_redis_shorter_than_its_read_timeout():
    if int(version("redis").split(".")[0]) < 8:
        pytest.skip("redis-py before 8 reads without a timeout by default")
    command = "from channels.layers import get_channel_layer as g; print(g().brpop_timeout)"
    output = manage(layer_config("redis-core", hosts=[settings.REDIS_URL]), "shell", "-c", command)

    assert output.splitlines()[-1] == "2"  # half redis-py's 5 s, fitted as Django started
