"""A socket following its session and user: reconnects and re-checks of private streams.

A socket takes its user from the session cookie of its handshake, and a page
keeps its socket across Turbo visits: a login or logout would go unnoticed.
:class:`Following` joins the socket's identity groups (:mod:`turbo.identity_groups`)
and acts on their notices:

* the session changed (a login, a logout, a new session key): the page is
  asked to reconnect (the ``reconnect`` frame, whose new handshake carries
  the browser's new cookie), the socket leaves its private streams at once
  and takes its user for anonymous from then on, so a page that ignores the
  frame receives nothing private;
* a re-check (:func:`turbo.reauthorize`, :setting:`TURBO_REAUTHORIZE_EVERY`):
  each private stream is checked again, and one its user may no longer
  receive is left with a ``rejected`` frame, reason ``forbidden``.

A private stream is one whose class overrides ``user_passes_test()``; public
streams are never checked again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from channels.db import database_sync_to_async
from django.core.exceptions import ObjectDoesNotExist

from turbo import conf
from turbo.identity_groups import RECHECK, SESSION_CHANGED, groups_of
from turbo.streams import Stream

if TYPE_CHECKING:
    from collections.abc import Mapping

    from turbo.hub import Hub

logger = logging.getLogger("turbo")


def is_private(stream_class: type[Stream]) -> bool:
    """Whether ``stream_class`` restricts who may receive it (overrides ``user_passes_test``)."""
    return stream_class.user_passes_test is not Stream.user_passes_test


class Socket(Protocol):
    """The consumer, as its :class:`Following` sees it."""

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Queue ``frame`` for the page."""

    async def drop(self, group: str) -> None:
        """Leave the stream ``group`` however many times it was subscribed."""

    async def reject(self, token: str, reason: str, text: str) -> None:
        """Send the page a ``rejected`` frame for ``token``."""

    def user_may_subscribe(self, stream: Stream) -> bool:
        """Whether the socket's user, as they are now, passes ``stream``'s test (sync)."""


@dataclass
class Private:
    """A private stream the socket holds, and the tokens it was subscribed with."""

    stream: Stream
    tokens: list[str] = field(default_factory=list)


class Following:
    """The identity groups of one socket, and its private streams to check again.

    The consumer starts it once the socket is accepted, notes every private
    stream it joins, and stops it when the socket closes::

        following = Following(consumer)
        await following.start(hub, consumer.scope)
        following.note(stream, token)
    """

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        #: Private streams held, by group.
        self.private: dict[str, Private] = {}
        #: Whether the session changed under the socket: its user is anonymous now.
        self.anonymous = False
        self.groups: list[str] = []
        self.hub: Hub | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self, hub: Hub, scope: Mapping[str, Any]) -> None:
        """Join the groups of the socket's session and user, and start periodic re-checks."""
        session = scope.get("session")
        user = scope.get("user")
        pk = user.pk if user is not None and user.is_authenticated else None
        self.hub = hub
        self.groups = groups_of(user=pk, session_key=getattr(session, "session_key", None))
        try:
            for group in self.groups:
                await hub.listen(group, self)
        except Exception:
            # The socket still serves its streams, as it would with the layer
            # down at a subscribe; only notices to it are lost.
            logger.exception("Joining the identity groups of a turbo socket failed")
        every = conf.reauthorize_every()
        if every is not None:
            self._run(self._recheck_every(every))

    async def stop(self) -> None:
        """Leave the identity groups and stop what is under way; the socket closed."""
        for task in self.tasks:
            task.cancel()
        hub, self.hub = self.hub, None
        if hub is not None:
            for group in self.groups:
                await hub.unlisten(group, self)

    def note(self, stream: Stream, token: str) -> None:
        """Remember that the socket joined ``stream`` with ``token``, if it is private."""
        if is_private(type(stream)):
            tokens = self.private.setdefault(stream.group, Private(stream)).tokens
            # Once each: a page may subscribe with one token any number of times.
            if token not in tokens:
                tokens.append(token)

    def forget(self, group: str) -> None:
        """The socket left ``group``: nothing to check any more."""
        self.private.pop(group, None)

    def notice(self, message: dict[str, Any]) -> None:
        """Act on a notice to one of the socket's groups (from the hub: never blocks)."""
        event = message.get("event")
        if event == SESSION_CHANGED:
            self._run(self.session_changed())
        elif event == RECHECK:
            self._run(self.recheck())
        else:
            logger.warning("A turbo socket ignored the notice %r.", event)

    async def session_changed(self) -> None:
        """Ask the page to reconnect; leave every private stream, without a ``rejected``.

        The page resubscribes on its new socket and gets its answers there.
        Once is enough: a session may be told again (two tabs logging out
        at once, say).
        """
        if self.anonymous:
            return
        self.anonymous = True
        await self.socket.send_frame({"type": "reconnect", "reason": "session"})
        private, self.private = self.private, {}
        for group in private:
            await self.socket.drop(group)

    async def recheck(self) -> None:
        """Check each private stream again; leave those refused, with ``rejected``."""
        if not self.private:
            return
        held = list(self.private.items())
        refused = await database_sync_to_async(self._refused)(held)
        for group, reason, text in refused:
            revoked = self.private.pop(group, None)
            if revoked is None:
                continue  # left while the check ran
            await self.socket.drop(group)
            for token in revoked.tokens:
                await self.socket.reject(token, reason, text)

    def _refused(self, held: list[tuple[str, Private]]) -> list[tuple[str, str, str]]:
        refused = []
        for group, private in held:
            stream = private.stream
            try:
                if not self.socket.user_may_subscribe(stream):
                    refused.append((group, "forbidden", f"user_passes_test() refused {stream}."))
            except ObjectDoesNotExist as error:
                refused.append((group, "not-found", f"{stream}: {error}"))
            except Exception:
                # The stream stays: a failing check is not a refusal.
                logger.exception("Checking a subscription to %s again failed", stream)
        return refused

    async def _recheck_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.recheck()

    def _run(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Following a turbo socket's identity failed", exc_info=task.exception())
