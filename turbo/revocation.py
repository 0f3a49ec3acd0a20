"""Telling sockets that their user's authority changed: re-checks and session changes.

:func:`reauthorize` has every socket of a user or session, in every server
process, check its private streams again (:mod:`turbo.following`).
:func:`session_changed` asks the pages of a session to reconnect, as the new
user. Both go out after the commit, so a rolled back change tells nobody.
:func:`connect` wires them to Django: a logout, and a save of a user
(a password change, ``is_active=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save

from turbo import identity_groups
from turbo.identity_groups import RECHECK, SESSION_CHANGED

if TYPE_CHECKING:
    from django.http import HttpRequest


def reauthorize(*, user: Any = None, session_key: str | None = None) -> None:
    """Have the sockets of ``user`` or of the session ``session_key`` check their streams again.

    Every socket of that user (an instance or a primary key) or session, in
    every server process, asks each private stream it holds (one whose class
    overrides ``user_passes_test()``) about its user as the stored session
    says now, and leaves those refused with a ``rejected`` frame, reason
    ``forbidden``. Sent once the transactions under way commit. Saving a user
    calls it; a change Django does not save on the user row does not::

        user.groups.remove(moderators)
        turbo.reauthorize(user=user)
    """
    identity_groups.send(identity_groups.groups_of(user=user, session_key=session_key), RECHECK)


async def areauthorize(*, user: Any = None, session_key: str | None = None) -> None:
    """Async twin of :func:`reauthorize`: ``await turbo.areauthorize(user=user)``, sent at once."""
    groups = identity_groups.groups_of(user=user, session_key=session_key)
    await identity_groups.asend(groups, RECHECK)


def session_changed(session_key: str | None) -> None:
    """Ask the pages of the session ``session_key`` to reconnect; ``None``: nobody to ask.

    :class:`turbo.middleware.TurboMiddleware` calls it when a request changes
    the session's key (a login, a logout), after the commit.
    """
    if session_key is not None:
        identity_groups.send([identity_groups.session_group(session_key)], SESSION_CHANGED)


async def asession_changed(session_key: str | None) -> None:
    """Async twin of :func:`session_changed`, sent at once."""
    if session_key is not None:
        await identity_groups.asend([identity_groups.session_group(session_key)], SESSION_CHANGED)


def _logged_out(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Sent before the session is flushed: its key is still the old one. Told
    # now, a page would reconnect at once, with the old cookie, and could find
    # the session still logging the user in. TurboMiddleware (which sets
    # ``request.turbo``) tells the sockets of the key the request left once
    # the response, with its new cookie, is sent.
    if hasattr(request, "turbo"):
        return
    session = getattr(request, "session", None)
    session_changed(getattr(session, "session_key", None))


def _user_saved(
    sender: Any, instance: Any, created: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    # A new user has no socket yet; a login saves last_login only, which no
    # check depends on.
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    reauthorize(user=instance)


def connect() -> None:
    """Wire logouts to :func:`session_changed`, and saves of users to :func:`reauthorize`."""
    user_logged_out.connect(_logged_out, dispatch_uid="turbo.revocation.logged_out")
    post_save.connect(
        _user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="turbo.revocation.user_saved"
    )
