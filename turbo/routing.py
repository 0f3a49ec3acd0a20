"""The websocket application of the project's ``asgi.py``, and the route under it::

    import turbo.routing

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": turbo.routing.websocket_application(),
    })

which is, spelled out::

    "websocket": AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter(turbo.routing.websocket_urlpatterns))
    ),

less one thing: a websocket for a path with no route is refused, and logged
once (:class:`turbo.hints.ReportingNoRoute`), instead of a traceback per
handshake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator
from django.urls import path

from turbo import conf
from turbo.consumers import TurboStreamConsumer
from turbo.hints import ReportingNoRoute

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.urls import URLPattern, URLResolver


def __getattr__(name: str) -> list[URLPattern]:
    # websocket_urlpatterns is built when read, by a module __getattr__ (PEP
    # 562), so that TURBO_WEBSOCKET_PATH is read then, not at import.
    if name == "websocket_urlpatterns":
        return _websocket_urlpatterns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _websocket_urlpatterns() -> list[URLPattern]:
    """:data:`websocket_urlpatterns`, at :setting:`TURBO_WEBSOCKET_PATH` as it is set now."""
    return [path(conf.websocket_path(), TurboStreamConsumer.as_asgi(), name="turbo-streams")]


def websocket_application(
    *,
    extra_urlpatterns: Sequence[URLPattern | URLResolver] = (),
    allowed_origins: Sequence[str] | None = None,
) -> Any:
    """The ``"websocket"`` application: the turbo route and yours, origin-checked, with users.

    ``AuthMiddlewareStack`` gives each socket the session's user, and
    ``AllowedHostsOriginValidator`` refuses a handshake whose ``Origin``
    header is missing or not in ``ALLOWED_HOSTS``, so that another site's page
    cannot open a socket with your visitors' cookies. ``extra_urlpatterns``
    are routed beside :data:`websocket_urlpatterns`, behind the same checks.

    ``allowed_origins`` replaces the ``ALLOWED_HOSTS`` check with Channels'
    ``OriginValidator`` and these patterns (``"https://app.example.com"``,
    ``".example.com"`` for a domain and its subdomains); ``["*"]`` turns the
    check off, admitting any origin and none. Example::

        "websocket": turbo.routing.websocket_application(
            extra_urlpatterns=[path("ws/chat/", ChatConsumer.as_asgi())],
            allowed_origins=["https://example.com", "https://admin.example.com"],
        )
    """
    routes = [*_websocket_urlpatterns(), *extra_urlpatterns]
    application = AuthMiddlewareStack(ReportingNoRoute(URLRouter(routes)))
    if allowed_origins is None:
        return AllowedHostsOriginValidator(application)
    return OriginValidator(application, list(allowed_origins))
