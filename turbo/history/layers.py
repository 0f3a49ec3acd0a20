"""Which stream history a channel layer keeps, per :setting:`TURBO_HISTORY`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from channels.layers import InMemoryChannelLayer
from django.core.exceptions import ImproperlyConfigured

from turbo import conf
from turbo.compat import pubsub_layer_config
from turbo.history.memory import MemoryHistory
from turbo.history.redis import RedisHistory

if TYPE_CHECKING:
    from turbo.history.entries import History

# Per channel layer (tests make several), then per TURBO_HISTORY.
_histories: WeakKeyDictionary[Any, dict[str | None, History | None]] = WeakKeyDictionary()


def for_layer(layer: Any) -> History | None:
    """The history kept beside ``layer``, per :setting:`TURBO_HISTORY`; ``None`` if off."""
    if layer is None:
        return None
    kind = conf.history()
    # get() first: setdefault() would make a weak reference and a dict on
    # every broadcast.
    kept = _histories.get(layer)
    if kept is None:
        kept = _histories.setdefault(layer, {})
    if kind not in kept:
        kept[kind] = _make(layer)
    return kept[kind]


def _make(layer: Any) -> History | None:
    kind, max_entries, max_age = conf.history(), conf.history_max_entries(), conf.history_max_age()
    if kind == "memory" or (kind == "auto" and isinstance(layer, InMemoryChannelLayer)):
        return MemoryHistory(max_entries, max_age)
    if kind in ("auto", "redis"):
        redis_layer = _redis_layer_config(layer)
        if redis_layer is not None:
            host, prefix = redis_layer
            return RedisHistory(host, f"{prefix}:turbo-history", max_entries, max_age)
        if kind == "redis":
            raise ImproperlyConfigured(
                "TURBO_HISTORY = 'redis' keeps the history in the channel layer's Redis, "
                "but the channel layer is not a channels_redis one."
            )
    return None


def _redis_layer_config(layer: Any) -> tuple[dict[str, Any], str] | None:
    """The first host and the prefix of a channels_redis layer, or ``None``."""
    try:
        from channels_redis.core import RedisChannelLayer
        from channels_redis.pubsub import RedisPubSubChannelLayer
        from channels_redis.utils import decode_hosts
    except ImportError:  # channels_redis is optional
        return None
    if isinstance(layer, RedisChannelLayer):
        return layer.hosts[0], layer.prefix
    if isinstance(layer, RedisPubSubChannelLayer):
        config = pubsub_layer_config(layer)
        return decode_hosts(config.get("hosts"))[0], config.get("prefix", "asgi")
    return None
