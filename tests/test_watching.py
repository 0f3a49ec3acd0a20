"""Which streams pages watch: marks made by renders and hubs (turbo.history.watching), followed
by every process (turbo.history.marks)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.layers import get_channel_layer

from tests.conftest import following_marks, redis_histories
from tests.testapp.streams import UserStream
from turbo import history
from turbo.history import RedisHistory
from turbo.templatetags.turbo_streams import turbo_subscribe


def test_a_pages_render_marks_its_streams(channel_layer, server):
    kept = history.for_layer(channel_layer)
    following_marks(kept)
    shown, other = UserStream("shown"), UserStream("not shown")

    turbo_subscribe(shown)

    # Marked in this process at once; in Redis without the render waiting.
    assert kept.watched(shown.group)
    assert not kept.watched(other.group)


async def test_a_socket_marks_its_stream_and_the_mark_outlives_it(connect):
    layer = get_channel_layer()
    kept = history.for_layer(layer)
    stream = UserStream("held")
    socket = await connect()
    await asyncio.to_thread(following_marks, kept)
    assert not kept.watched(stream.group)
    assert (await socket.subscribe(stream))["type"] == "subscribed"
    assert kept.watched(stream.group)

    await socket.communicator.disconnect()

    # A page reconnecting within the history's reach replays what it missed.
    assert kept.watched(stream.group)


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 3
    while not condition():
        assert time.monotonic() < deadline, f"{what} within 3 s"
        time.sleep(0.005)


def test_a_mark_made_in_another_process_reaches_this_one(redis_layer, server):
    kept, elsewhere = redis_histories(redis_layer)
    following_marks(kept)
    stream = UserStream("watched elsewhere")
    assert not kept.watched(stream.group)

    server.run(elsewhere.mark([stream.group]))

    wait_for(lambda: kept.watched(stream.group), "the mark was not followed")


def test_a_process_that_cannot_follow_the_marks_renders_everything(server, caplog):
    dead = RedisHistory({"address": "redis://127.0.0.1:9"}, "dead", 10, 60)

    assert dead.watched(UserStream("anything").group)
    wait_for(lambda: "Following which streams are watched failed" in caplog.text, "no warning")
    assert dead.watched(UserStream("anything").group)
