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

less two things: a websocket for a path with no route is refused, and logged
once (:class:`turbo.hints.ReportingNoRoute`), instead of a traceback per
handshake; and a turbo socket is served from the top of that stack once its
handshake has gone through it (:class:`ServedOnTop`).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator
from django.urls import path

from turbo import compat, conf
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
    consumer = _HandedUp(TurboStreamConsumer.as_asgi())
    return [path(conf.websocket_path(), consumer, name="turbo-streams")]


class _Handoff:
    """A socket the turbo route leaves to :class:`ServedOnTop`: what its application takes."""

    application: Any = None
    scope: Any = None
    receive: Any = None
    send: Any = None


# Set while a ServedOnTop's stack handles a handshake.
_handoff: ContextVar[_Handoff | None] = ContextVar("turbo_handoff", default=None)


class _HandedUp:
    """The turbo route's application: under :class:`ServedOnTop`, it hands the socket up."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        handoff = _handoff.get()
        if handoff is None:  # in a stack of the project's own
            return await self.application(scope, receive, send)
        handoff.application, handoff.scope, handoff.receive = self.application, scope, receive
        # Past Channels' session wrapper, which acts on no websocket event:
        # it keeps a copy of the scope, and looks at the session on each event.
        handoff.send = compat.frame_sender(send, events="websocket.")
        return None


class ServedOnTop:
    """An ASGI stack whose turbo sockets, past their handshake, are served from its top.

    Each middleware of a Channels stack awaits the application inside it, so
    a consumer runs beneath one suspended coroutine per middleware, and a copy
    of the scope each, for as long as its socket is open. Yet origin, cookies,
    session, user and route are all settled at the handshake: here the turbo
    route (:data:`websocket_urlpatterns`) hands its socket up once routed, the
    stack returns, and the consumer runs with the scope the stack built and
    nothing beneath it. Other routes run inside the stack as usual::

        ServedOnTop(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
    """

    def __init__(self, stack: Any) -> None:
        #: The stack, under the name Channels' wrappers keep what they wrap in.
        self.application = stack

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the stack; then serve the socket the turbo route handed up, if it did."""
        handoff = _Handoff()
        token = _handoff.set(handoff)
        try:
            await self.application(scope, receive, send)
        finally:
            _handoff.reset(token)
        if handoff.application is not None:
            await handoff.application(handoff.scope, handoff.receive, handoff.send)


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
        return ServedOnTop(AllowedHostsOriginValidator(application))
    return ServedOnTop(OriginValidator(application, list(allowed_origins)))
