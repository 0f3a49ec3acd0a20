"""Each private upstream internal that :mod:`turbo.compat` relies on is still there."""

from __future__ import annotations

from typing import Any

import pytest
from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.sessions import InstanceSessionWrapper
from channels_redis.core import RedisChannelLayer

from turbo import compat

# Django


# Channels


async def pass_on(message: dict[str, Any]) -> None:
    """The ``send`` a session middleware wraps."""


def test_channels_session_wrapper_keeps_what_frame_sender_looks_past():
    wrapper = InstanceSessionWrapper({"cookies": {}}, pass_on)

    assert getattr(wrapper.send, "__func__", None) is InstanceSessionWrapper.send, (
        "Channels: SessionMiddleware's send is no longer InstanceSessionWrapper.send, bound "
        "to the wrapper, which turbo.compat.frame_sender recognises it by"
    )
    assert wrapper.real_send is pass_on, (
        "Channels: InstanceSessionWrapper no longer keeps the send it wraps in real_send"
    )
    assert "websocket.send" not in wrapper.save_message_types, (
        "Channels: InstanceSessionWrapper.save_message_types no longer lists the events it "
        "saves the session on, or now saves it on every websocket.send"
    )
    assert compat.frame_sender(wrapper.send) is pass_on


class Recording(AsyncConsumer):  # type: ignore[misc]
    """A consumer that notes the events it gets, and stops at ``stop``."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def note(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    async def stop(self, message: dict[str, Any]) -> None:
        raise StopConsumer


def events(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


async def test_channels_consumer_call_sets_up_what_serve_without_channel_does(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    served, bare = Recording(), Recording()
    stream = ({"type": "note"}, {"type": "stop"})

    await AsyncConsumer.__call__(served, {"type": "websocket"}, events(*stream), pass_on)
    await compat.serve_without_channel(bare, {"type": "websocket"}, events(*stream), pass_on)

    assert set(vars(served)) - {"channel_name", "channel_receive"} == set(vars(bare)), (
        "Channels: AsyncConsumer.__call__ now sets up more than scope, channel_layer, "
        "base_send and a channel, which turbo.compat.serve_without_channel repeats"
    )
    assert served.events == bare.events == [{"type": "note"}], (
        "Channels: await_many_dispatch no longer hands each event to dispatch until a "
        "handler raises StopConsumer"
    )


async def test_channels_names_handlers_as_dispatch_to_handler_expects():
    consumer = Recording()

    await compat.dispatch_to_handler(consumer, {"type": "note"})

    assert consumer.events == [{"type": "note"}], (
        "Channels: get_handler_name() no longer names a handler by the message type"
    )
    with pytest.raises(ValueError, match="underscore"):
        await compat.dispatch_to_handler(consumer, {"type": "_note"})
    with pytest.raises(ValueError, match="No handler"):
        await compat.dispatch_to_handler(consumer, {"type": "unknown"})


# channels_redis


def test_the_core_redis_layer_tries_a_list_of_compiled_channel_capacities_in_order():
    layer = RedisChannelLayer(capacity=100, channel_capacity={"mine.*": 7})

    compat.default_channel_capacity(layer, "turbo-hub.", 10_000)
    compat.default_channel_capacity(layer, "mine.", 10_000)

    assert isinstance(layer.channel_capacity, list), (
        "channels_redis: RedisChannelLayer.channel_capacity is no longer the list of "
        "(compiled pattern, capacity) pairs that turbo.compat.default_channel_capacity appends to"
    )
    assert layer.get_capacity("turbo-hub.abc!def") == 10_000, (
        "channels_redis: RedisChannelLayer.get_capacity() no longer reads a pair appended "
        "to RedisChannelLayer.channel_capacity"
    )
    assert layer.get_capacity("mine.abc") == 7, (
        "channels_redis: the capacity CONFIG gives a channel no longer comes first"
    )
    assert layer.get_capacity("specific.abc") == 100


# asyncio
