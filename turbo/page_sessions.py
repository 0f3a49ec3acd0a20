"""A page that opens a websocket gets a session, so that a later login can reach its socket.

A socket is told that the browser logged in or out through the group of the
session it was opened with (:mod:`turbo.identity_groups`). An anonymous visitor
usually has no session (Django stores none until something is written to
it), so their socket would join no such group, and a login from its page
would reach nobody: the page would go on with an anonymous socket, refused
every private stream. :class:`~turbo.middleware.TurboMiddleware` therefore
gives a session to a request that rendered ``{% turbo_subscribe %}``
without one (:func:`ensure_session`).
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django.http import HttpRequest


class _Page:
    # Mutable, not a value set in the variable: a sync view runs in a copy of
    # the context (sync_to_async), and what it marks must reach the middleware.
    subscribes = False


_page: contextvars.ContextVar[_Page | None] = contextvars.ContextVar("turbo_page", default=None)


@contextmanager
def watching_subscribes() -> Iterator[Any]:
    """Note, in the block, whether the page rendered renders ``{% turbo_subscribe %}``."""
    page = _Page()
    token = _page.set(page)
    try:
        yield page
    finally:
        _page.reset(token)


def note_subscribing_page() -> None:
    """``{% turbo_subscribe %}`` is rendering: the page will open a websocket."""
    page = _page.get()
    if page is not None:
        page.subscribes = True


def needs_session(request: HttpRequest, page: Any) -> bool:
    """Whether ``request`` rendered a ``page`` that subscribes, without a stored session."""
    session = getattr(request, "session", None)
    return bool(page.subscribes) and session is not None and session.session_key is None


def ensure_session(request: HttpRequest, page: Any) -> None:
    """Give ``request`` a stored session if :func:`needs_session` (sync: it may query).

    Marked modified, Django's ``SessionMiddleware`` then sends its cookie,
    which the page's websocket handshake carries.
    """
    if needs_session(request, page):
        request.session.save()
        request.session.modified = True
