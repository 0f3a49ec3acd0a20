"""System checks: configuration mistakes reported by ``manage.py check``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.compatibility)
def check_channel_layer(**kwargs: Any) -> list[CheckMessage]:
    """Warn when no channel layer is configured: broadcasts would go nowhere."""
    if "default" in getattr(settings, "CHANNEL_LAYERS", {}):
        return []
    return [
        Warning(
            "No default channel layer is configured, so turbo broadcasts cannot reach any page.",
            hint=(
                "Set CHANNEL_LAYERS = {'default': {'BACKEND': "
                "'channels.layers.InMemoryChannelLayer'}} for development, or a "
                "channels_redis layer in production."
            ),
            id="turbo.W001",
        )
    ]


CORE_LAYER = "channels_redis.core.RedisChannelLayer"


@register(Tags.compatibility)
def check_redis_socket_timeout(**kwargs: Any) -> list[CheckMessage]:
    """Warn when redis-py's default read timeout would break the core Redis layer.

    redis-py 8 reads with a 5-second timeout unless told otherwise, and the
    core layer's receive blocks longer than that when nothing is broadcast:
    every idle websocket is then torn down every few seconds (channels_redis
    issue 422).
    """
    try:
        major = int(version("redis").split(".")[0])
    except PackageNotFoundError:
        return []
    if major < 8:
        return []
    return [
        Warning(
            f"CHANNEL_LAYERS[{alias!r}] uses {CORE_LAYER} with redis-py {version('redis')}, "
            f"whose 5-second default read timeout disconnects every idle websocket.",
            hint=(
                "Give each host a socket_timeout of None, e.g. 'hosts': [{'address': "
                "'redis://127.0.0.1:6379/0', 'socket_timeout': None}]; or use "
                "channels_redis.pubsub.RedisPubSubChannelLayer."
            ),
            id="turbo.W002",
        )
        for alias, layer in getattr(settings, "CHANNEL_LAYERS", {}).items()
        if layer.get("BACKEND") == CORE_LAYER
        and not all(
            isinstance(host, dict) and "socket_timeout" in host
            for host in layer.get("CONFIG", {}).get("hosts", [("localhost", 6379)])
        )
    ]
