"""A socket's user as the session stored now says, not as it was at the handshake.

Channels' ``AuthMiddleware`` resolves the user once, when the socket opens.
A user who then logs out elsewhere (the session deleted) or changes their
password (its auth hash no longer valid) would keep the socket's authority.
:func:`current_user` resolves them again from the session as it is stored:
the consumer asks it before each subscription check.
"""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from channels.auth import UserLazyObject
from django.conf import settings
from django.contrib.auth import get_user

if TYPE_CHECKING:
    from collections.abc import Mapping

    from django.http import HttpRequest


class SessionSnapshot(dict[str, Any]):
    """A copy of a session's data, for :func:`django.contrib.auth.get_user` to read.

    ``get_user`` flushes a session whose auth hash fails, and gives one hashed
    with a ``SECRET_KEY_FALLBACKS`` key a new session key. A websocket cannot
    set the browser's cookie, so a new key would log the user out: here both
    change this copy only, and the stored session is left to the next request.
    """

    def flush(self) -> None:
        self.clear()

    def cycle_key(self) -> None:
        pass


def auth_session(scope: Mapping[str, Any]) -> Any:
    """The session Channels' ``AuthMiddleware`` resolved the socket's user from, if it did.

    ``None`` for a socket without a session, or whose user was put in the
    scope by other middleware: that user is taken as it is, and no stored
    session speaks for it::

        auth_session(consumer.scope).session_key  # behind AuthMiddlewareStack
    """
    session = scope.get("session")
    if session is None or not isinstance(scope.get("user"), UserLazyObject):
        return None
    return session


def user_of_session(key: str | None) -> Any:
    """The user that the session stored under ``key`` logs in now (sync: it queries).

    ``AnonymousUser`` once the session is gone, or no longer valid for its
    user; the stored session itself is left as it is (:class:`SessionSnapshot`)::

        user_of_session(key).is_authenticated  # False once logged out elsewhere
    """
    stored = import_module(settings.SESSION_ENGINE).SessionStore(key)
    request = SimpleNamespace(session=SessionSnapshot(stored.items()))
    return get_user(cast("HttpRequest", request))


def current_user(scope: Mapping[str, Any]) -> Any:
    """The user of the socket with ``scope`` as they are now (sync: it queries).

    The user of the session Channels' ``AuthMiddleware`` resolved it from
    (:func:`auth_session`), as that session is stored now; a user put in the
    scope by other middleware, as it is; ``AnonymousUser`` without either::

        current_user(consumer.scope).is_authenticated  # False once logged out
    """
    session = auth_session(scope)
    if session is None:
        return scope.get("user") or anonymous_user()
    return user_of_session(session.session_key)


def anonymous_user() -> Any:
    """A new :class:`~django.contrib.auth.models.AnonymousUser`."""
    # Imported when called: django.contrib.auth.models needs the app registry,
    # and this module is imported with turbo.routing, which does not.
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()
