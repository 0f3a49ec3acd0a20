"""Which streams pages watch: marks made by renders and hubs, followed by every process."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings

from tests.conftest import following_marks, layer_config
from tests.testapp.streams import UserStream
from turbo import history
from turbo.history import PLACEHOLDER, RedisHistory
from turbo.templatetags.turbo_streams import turbo_subscribe

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(params=["redis-core", "redis-pubsub"])
def redis_layer(request: pytest.FixtureRequest) -> Iterator[Any]:
    with override_settings(CHANNEL_LAYERS={"default": layer_config(request.param)}):
        yield get_channel_layer()


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


def redis_histories(channel_layer: Any) -> tuple[RedisHistory, RedisHistory]:
    """This process's history, and one standing for another process's on the same Redis."""
    kept = history.for_layer(channel_layer)
    assert isinstance(kept, RedisHistory)
    elsewhere = RedisHistory(kept.host, kept.prefix, kept.max_entries, kept.max_age)
    return kept, elsewhere


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


def test_a_placeholder_whose_stream_a_page_began_watching_meanwhile_is_sent(redis_layer, server):
    """The copy of the marks lags one made elsewhere: the placeholder's record catches it."""
    kept, elsewhere = redis_histories(redis_layer)
    following_marks(kept)
    stream = UserStream("late mark")
    channel = server.run(redis_layer.new_channel())
    server.run(redis_layer.group_add(stream.group, channel))

    async def skipped_then_marked_elsewhere() -> None:
        history.skip(redis_layer, stream.group)
        await elsewhere.mark([stream.group])
        await history.flush_placeholders(redis_layer)

    server.run(skipped_then_marked_elsewhere())

    message = server.run(asyncio.wait_for(redis_layer.receive(channel), 3))
    assert message["html"] == PLACEHOLDER
    assert message["position"] > message["previous"]


def test_a_placeholder_nobody_watches_is_recorded_not_sent(channel_layer, server):
    kept = history.for_layer(channel_layer)
    following_marks(kept)
    stream = UserStream("quiet")
    start = server.run(kept.position())
    channel = server.run(channel_layer.new_channel())
    server.run(channel_layer.group_add(stream.group, channel))

    history.skip(channel_layer, stream.group)
    history.skip(channel_layer, stream.group)  # one placeholder stands for both
    server.run(history.flush_placeholders(channel_layer))

    assert [entry.html for entry in server.run(kept.since(stream.group, start))] == [PLACEHOLDER]
    marker = UserStream("marker")
    server.run(channel_layer.group_add(marker.group, channel))
    server.run(history.mark_watched(channel_layer, [marker.group]))
    marker.update(text="marker", id="x")
    assert "marker" in server.run(asyncio.wait_for(channel_layer.receive(channel), 3))["html"]
