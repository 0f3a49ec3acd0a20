"""System checks: configuration mistakes reported by ``manage.py check``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from channels.routing import URLRouter
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.utils.module_loading import import_string

from turbo import conf
from turbo.consumers import TurboStreamConsumer
from turbo.following import is_private
from turbo.registry import registry

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


MIDDLEWARE = "turbo.middleware.TurboMiddleware"


def _wrapped(application: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """``application`` and every application inside it, as far as attributes show.

    Walks what Channels' routers and middleware keep of what they wrap:
    ``application_mapping`` (``ProtocolTypeRouter``), ``application`` (the
    origin validators, static file handlers) and ``inner`` (middleware).
    """
    seen = set() if seen is None else seen
    if id(application) in seen:
        return
    seen.add(id(application))
    yield application
    wrapped = [getattr(application, name, None) for name in ("application", "inner")]
    mapping = getattr(application, "application_mapping", None)
    if isinstance(mapping, dict):
        wrapped.extend(mapping.values())
    for inner in wrapped:
        if inner is not None:
            yield from _wrapped(inner, seen)


def _asgi_application() -> tuple[str, Any] | None:
    """``ASGI_APPLICATION`` and the application it names; ``None`` if either is missing."""
    name = getattr(settings, "ASGI_APPLICATION", None)
    if not name:
        return None
    try:
        return name, import_string(name)
    except Exception:  # the server that serves it reports why
        return None


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
    named = _asgi_application()
    if named is None:
        return found
    name, application = named
    if any(
        isinstance(inner, OriginValidator) and "*" in inner.allowed_origins
        for inner in _wrapped(application)
    ):
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


def _routes_to_consumer(router: URLRouter, path: str) -> bool:
    """Whether ``router`` sends a websocket at ``path`` to the turbo consumer."""
    for route in router.routes:
        match = route.pattern.match(path)
        if match is None:
            continue
        callback = route.callback
        for application in _wrapped(callback):
            consumer = getattr(application, "consumer_class", None)
            if isinstance(consumer, type) and issubclass(consumer, TurboStreamConsumer):
                return True
        if isinstance(callback, URLRouter) and _routes_to_consumer(callback, match[0]):
            return True
    return False


@register(Tags.compatibility)
def check_websocket_route(**kwargs: Any) -> list[CheckMessage]:
    """Warn when the project's ASGI application cannot serve the turbo websocket.

    Every page's ``{% turbo_subscribe %}`` opens a socket at
    :setting:`TURBO_WEBSOCKET_PATH`; without ``ASGI_APPLICATION``, or an
    application that routes websockets there to the consumer, none connects.
    """
    hint = "Route websockets with turbo.routing.websocket_application() (docs: Installation)."
    if not getattr(settings, "ASGI_APPLICATION", None):
        return [
            Warning(
                "ASGI_APPLICATION is not set, so no server serves the turbo websocket.",
                hint="Set ASGI_APPLICATION = 'mysite.asgi.application'. " + hint,
                id="turbo.W005",
            )
        ]
    named = _asgi_application()
    if named is None:
        return []
    name, application = named
    path = conf.websocket_path()
    websocket = getattr(application, "application_mapping", {}).get("websocket")
    routers = [inner for inner in _wrapped(websocket) if isinstance(inner, URLRouter)]
    if websocket is not None and not routers:
        return []  # an application of its own making: nothing to tell
    if any(_routes_to_consumer(router, path) for router in routers):
        return []
    return [
        Warning(
            f"{name} does not route websockets at /{path} (TURBO_WEBSOCKET_PATH) to the turbo "
            f"consumer, so pages cannot subscribe.",
            hint=hint,
            id="turbo.W006",
        )
    ]


@register(Tags.compatibility)
def check_middleware(**kwargs: Any) -> list[CheckMessage]:
    """Warn when a history is kept but pages cannot know where they stand in it.

    ``TurboMiddleware`` reads the history's position before the view, so that a
    broadcast committed while the page rendered is replayed to it.
    """
    if conf.history() is None or MIDDLEWARE in getattr(settings, "MIDDLEWARE", []):
        return []
    return [
        Warning(
            "TURBO_HISTORY keeps a history but turbo.middleware.TurboMiddleware is not in "
            "MIDDLEWARE: a broadcast committed while a page renders never reaches it.",
            hint=f"Add '{MIDDLEWARE}' to MIDDLEWARE, or set TURBO_HISTORY = None.",
            id="turbo.W007",
        )
    ]


@register(Tags.compatibility)
def check_runserver_serves_websockets(**kwargs: Any) -> list[CheckMessage]:
    """Warn when ``runserver`` is Django's own, which serves no websocket.

    An ASGI server's app (``daphne``) placed before ``django.contrib.staticfiles``
    in ``INSTALLED_APPS`` provides a ``runserver`` that serves them.
    """
    if sys.argv[1:2] != ["runserver"]:
        return []
    apps = list(settings.INSTALLED_APPS)
    if "daphne" in apps and (
        "django.contrib.staticfiles" not in apps
        or apps.index("daphne") < apps.index("django.contrib.staticfiles")
    ):
        return []
    return [
        Warning(
            "runserver is Django's own, which serves no websocket: pages will not be live.",
            hint="Put 'daphne' first in INSTALLED_APPS, so that its runserver is used, or "
            "serve the project with an ASGI server (daphne, uvicorn).",
            id="turbo.W008",
        )
    ]


@register(Tags.security)
def check_private_streams_follow_logins(**kwargs: Any) -> list[CheckMessage]:
    """Warn when a stream restricts its subscribers but logins cannot reach the sockets.

    ``TurboMiddleware`` tells the sockets of a session that it logged in or
    out (:mod:`turbo.revocation`); without it, only logouts do, by their
    signal, and a page keeps a socket of its old user across logins.
    """
    if MIDDLEWARE in getattr(settings, "MIDDLEWARE", []):
        return []
    private = sorted(c.stream_name() for c in registry.classes() if is_private(c))
    if not private:
        return []
    return [
        Warning(
            f"Streams restrict who may receive them ({', '.join(private)}) but "
            f"{MIDDLEWARE} is not in MIDDLEWARE: a page's websocket does not follow a "
            f"login or a change of session, and keeps the user it was opened with.",
            hint=f"Add '{MIDDLEWARE}' to MIDDLEWARE, after SessionMiddleware.",
            id="turbo.W009",
        )
    ]
