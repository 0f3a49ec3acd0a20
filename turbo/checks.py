"""System checks: configuration mistakes reported by ``manage.py check``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from collections.abc import Iterator


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


def _origin_validators(application: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """The Channels origin validators in an ASGI application, as far as attributes show.

    Walks what Channels' routers and middleware keep of what they wrap:
    ``application_mapping`` (``ProtocolTypeRouter``), ``application`` (the
    validators, static file handlers) and ``inner`` (middleware).
    """
    seen = set() if seen is None else seen
    if id(application) in seen:
        return
    seen.add(id(application))
    if isinstance(application, OriginValidator):
        yield application
    wrapped = [getattr(application, name, None) for name in ("application", "inner")]
    mapping = getattr(application, "application_mapping", None)
    if isinstance(mapping, dict):
        wrapped.extend(mapping.values())
    for inner in wrapped:
        if inner is not None:
            yield from _origin_validators(inner, seen)


@register(Tags.security)
def check_any_origin(**kwargs: Any) -> list[CheckMessage]:
    """Warn when a page of any site may open a websocket with your visitors' cookies.

    ``AllowedHostsOriginValidator`` admits the origins of ``ALLOWED_HOSTS``:
    ``"*"`` there, or in ``allowed_origins`` (``OriginValidator``), admits
    every origin, and cross-site websocket hijacking becomes possible.
    """
    found: list[CheckMessage] = []
    if "*" in settings.ALLOWED_HOSTS:
        found.append(
            Warning(
                "ALLOWED_HOSTS contains '*', so the websocket's origin check "
                "(AllowedHostsOriginValidator) admits pages of any site, with your "
                "visitors' cookies (cross-site websocket hijacking).",
                hint="List your hosts in ALLOWED_HOSTS, or pass allowed_origins= to "
                "turbo.routing.websocket_application().",
                id="turbo.W003",
            )
        )
    name = getattr(settings, "ASGI_APPLICATION", None)
    if not name:
        return found
    try:
        application = import_string(name)
    except Exception:  # reported by whatever serves it; not this check's business
        return found
    if any("*" in validator.allowed_origins for validator in _origin_validators(application)):
        found.append(
            Warning(
                f"{name} validates websocket origins with '*' among the allowed origins: "
                f"pages of any site may open sockets with your visitors' cookies "
                f"(cross-site websocket hijacking).",
                hint="Name the origins your pages are served from, e.g. "
                "allowed_origins=['https://example.com'].",
                id="turbo.W004",
            )
        )
    return found
