"""Runtime hints: one clear log line, once per process, for a setup mistake seen at run time.

``manage.py check`` reports what the settings show (``turbo.W00x``); these
report what only a request shows: a websocket handshake for
:setting:`TURBO_WEBSOCKET_PATH` that reached Django's HTTP stack (no ASGI
server in front, or one that does not route websockets), and one that
Channels' router found no route for. Each is logged once, not a traceback
per reconnect.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.urls import get_script_prefix

from turbo import conf

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger("turbo")

# What was reported in this process.
_reported: set[str] = set()


def _once(key: str) -> bool:
    """Whether ``key`` is reported now for the first time in this process."""
    if key in _reported:
        return False
    _reported.add(key)
    return True


def note_http_request(request: HttpRequest) -> None:
    """Warn, once, when a websocket handshake for the turbo route came as an HTTP request.

    :class:`~turbo.middleware.TurboMiddleware` calls it for every request.
    Django answers such a request with a 404, and every page reconnects.
    """
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return
    if request.path != get_script_prefix() + conf.websocket_path():
        return
    if _once("http"):
        logger.warning(
            "A websocket handshake for %s reached Django's HTTP stack, which answers it "
            "with a 404: this server does not serve websockets, so no page is live. With "
            "runserver, put 'daphne' first in INSTALLED_APPS; in production, serve "
            "asgi.py with an ASGI server (daphne, or uvicorn), not a WSGI one; and route "
            "'websocket' in asgi.py's ProtocolTypeRouter with "
            "turbo.routing.websocket_application().",
            request.path,
        )


class ReportingNoRoute:
    """Wraps Channels' ``URLRouter``: a websocket it has no route for is refused, and logged once.

    The router raises :exc:`ValueError`, which the ASGI server prints as a
    traceback for each handshake, and pages reconnect again and again. Here
    the handshake is refused (HTTP 403) and the first such path logged once,
    with the route it should have taken.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        """Route the connection; refuse a websocket that has no route."""
        try:
            return await self.application(scope, receive, send)
        except ValueError as error:
            if scope["type"] != "websocket" or not str(error).startswith("No route found"):
                raise
        path = scope["path"]
        if _once("no route"):
            logger.warning(
                "Refused websockets for %s: no route matches it; the turbo route is %s "
                "(TURBO_WEBSOCKET_PATH, under the script prefix). If pages open sockets "
                "there, the page and the server disagree on the path: check "
                "FORCE_SCRIPT_NAME and the proxy's rewriting of paths, and that every "
                "process has the same TURBO_WEBSOCKET_PATH. Logged once per process.",
                path,
                get_script_prefix() + conf.websocket_path(),
            )
        await send({"type": "websocket.close"})
        return None
