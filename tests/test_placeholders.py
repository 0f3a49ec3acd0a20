"""Placeholders: recorded for broadcasts nobody watches, soon, in bounded numbers, at exit."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings

from tests.conftest import following_marks, layer_config, redis_histories
from tests.live import manage
from tests.testapp.streams import UserStream
from turbo import history
from turbo.history import PLACEHOLDER, placeholders


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


def test_past_the_bound_the_saving_thread_records_what_waits(channel_layer, server, monkeypatch):
    kept = history.for_layer(channel_layer)
    following_marks(kept)
    monkeypatch.setattr(placeholders, "PLACEHOLDER_DELAY", 60)
    monkeypatch.setattr(placeholders, "MAX_PENDING", 3)
    start = server.run(kept.position())
    streams = [UserStream(f"bulk {n}") for n in range(3)]

    for stream in streams:
        stream.update(text="nobody watches", id="x")

    # Recorded before the third update returned, not a minute later.
    for stream in streams:
        assert [e.html for e in server.run(kept.since(stream.group, start))] == [PLACEHOLDER]


WAIT_FOR_MARKS = """
import time
from channels.layers import get_channel_layer
from turbo import history
from tests.testapp.streams import UserStream
kept = history.for_layer(get_channel_layer())
kept.watched("")
while not kept.marks.ready:
    time.sleep(0.01)
UserStream({user_id!r}).update(text="saved as the command returns", id="x")
"""


@pytest.mark.parametrize("name", ["redis-core", "redis-pubsub"])
def test_a_command_that_exits_at_once_leaves_its_placeholders_recorded(name, server):
    """Recorded as the process exits, not left waiting for a delay it does not live through."""
    config = layer_config(name)
    stream = UserStream("saved by a command")
    with override_settings(CHANNEL_LAYERS={"default": config}):
        kept = history.for_layer(get_channel_layer())
        start = server.run(kept.position())

        manage(config, "shell", "-c", WAIT_FOR_MARKS.format(user_id=stream.user_id))

        assert [e.html for e in server.run(kept.since(stream.group, start))] == [PLACEHOLDER]
