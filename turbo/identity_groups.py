"""The channel-layer groups of a socket's session and user, and the notices sent to them.

Each socket joins two groups through its process's hub (:mod:`turbo.hub`):
one for the session it was opened with, one for its user. A notice sent to
one reaches every socket of that session or user, in every server process.
Group names are keyed digests (:func:`django.utils.crypto.salted_hmac`): a
session key never appears on the channel layer, where it would let anyone who
reads the layer take over the session.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from channels.layers import get_channel_layer
from django.utils.crypto import salted_hmac

from turbo.hub import NOTICE_TYPE
from turbo.loops import run_in_loop
from turbo.transactions import after_commit

logger = logging.getLogger("turbo")

#: Prefix of the identity groups' names.
GROUP_PREFIX: Final = "turbo-auth"

#: The notice telling a session's sockets that the browser's session changed:
#: each asks its page to reconnect, and serves nothing private from then on.
SESSION_CHANGED: Final = "session"

#: The notice telling sockets to check each private subscription again.
RECHECK: Final = "recheck"


def _group(kind: str, value: object) -> str:
    digest = salted_hmac("turbo.identity_groups", f"{kind}:{value}", algorithm="sha256")
    return f"{GROUP_PREFIX}.{kind}.{digest.hexdigest()[:40]}"


def session_group(session_key: str) -> str:
    """The group of the sockets opened with the session ``session_key``: ``turbo-auth.s.<hex>``."""
    return _group("s", session_key)


def user_group(user: Any) -> str:
    """The group of the sockets of ``user`` (an instance or a primary key): ``turbo-auth.u.…``."""
    return _group("u", getattr(user, "pk", user))


def groups_of(*, user: Any = None, session_key: str | None = None) -> list[str]:
    """The identity groups of ``user`` and the session ``session_key``, those given."""
    groups = [] if user is None else [user_group(user)]
    return groups if session_key is None else [*groups, session_group(session_key)]


def notice_message(group: str, event: str) -> dict[str, str]:
    """The channel-layer message carrying the notice ``event`` to ``group``."""
    return {"type": NOTICE_TYPE, "group": group, "event": event}


async def asend(groups: list[str], event: str) -> None:
    """Send the notice ``event`` to ``groups`` now; failures are logged."""
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            await layer.group_send(group, notice_message(group, event))
        except Exception:
            logger.exception("Sending the %r notice to %s failed", event, group)


def send(groups: list[str], event: str) -> None:
    """Send the notice ``event`` to ``groups`` once the transactions under way commit.

    At once outside a transaction; never if it rolls back, since what the
    notice reports (a logout, a password change) did not happen then::

        send([session_group(key)], SESSION_CHANGED)
    """
    if not groups:
        return

    def deliver() -> None:
        run_in_loop(lambda: asend(groups, event))

    if after_commit(deliver, "Sending the %r notice failed", event) is None:
        deliver()
