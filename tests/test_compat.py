"""Each private upstream internal that :mod:`turbo.compat` relies on is still there."""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer

from turbo import compat

# Django


# Channels


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
