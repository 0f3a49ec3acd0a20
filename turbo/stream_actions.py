"""What a stream broadcasts: one method per action, now, from async code, or later.

:class:`StreamActions` is the part of :class:`turbo.Stream` that broadcasts.
Each method builds the fragment of the function of :mod:`turbo.fragments` of
the same name, with the same parameters, and hands it to one of three
implementations: :meth:`~StreamActions._broadcast_now` (sync),
:meth:`~StreamActions._abroadcast_now` (async) and
:func:`turbo.later.broadcast_later` (``*_later``). ``tests/test_stream_actions.py``
checks that every action of :data:`turbo.markup.Action` has its four methods
(with the response's, :class:`turbo.TurboStreamResponse`), and that their
parameters are the fragment function's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from turbo import broadcast, fragments, later, refreshes
from turbo.positional import names_targets_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from turbo.fragments import ContentOptions, Fragment, MorphOptions
    from turbo.markup import RefreshMethod, RefreshScroll, TemplateName


@names_targets_of  # turbo-django's positional targets raise, saying what to write
class StreamActions:
    """The broadcasting methods of :class:`turbo.Stream`, which documents them."""

    if TYPE_CHECKING:  # what turbo.Stream provides

        @property
        def group(self) -> str: ...

        @classmethod
        def stream_name(cls) -> str: ...

        def identity(self) -> tuple[list[Any], dict[str, Any]]: ...

    def _broadcast_now(self, name: str, *parts: Fragment) -> None:
        # The method's name, for errors: a fragment built with request=, or a
        # sync method called where an event loop runs.
        broadcast.broadcast(self, parts, name)

    async def _abroadcast_now(self, name: str, *parts: Fragment) -> None:
        await broadcast.abroadcast(self, parts, name)

    def broadcast(self, *parts: Fragment) -> None:
        """Broadcast several fragments in one message, rendered once.

        ``room.stream.broadcast(fragments.append(...), fragments.update(...))``
        applies both on every subscribed page at once. A fragment built with
        ``request=`` raises :exc:`TypeError`: it is for a response.
        """
        self._broadcast_now("broadcast", *parts)

    async def abroadcast(self, *parts: Fragment) -> None:
        """Async twin of :meth:`broadcast`: ``await stream.abroadcast(...)``."""
        await self._abroadcast_now("abroadcast", *parts)

    def append(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Append content to the target's children, on every subscribed page::

            room.stream.append("chat/message.html", {"message": m}, id="messages")

        Takes the arguments of :func:`turbo.fragments.append` but ``request=``.
        Inside a transaction it is rendered and sent when the transaction commits,
        and not at all if it rolls back.
        """
        self._broadcast_now("append", fragments.append(template, context, **options))

    def prepend(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Prepend content to the target's children, on every subscribed page::

            feed.stream.prepend("feed/item.html", {"item": i}, id="items")

        Takes the arguments of :func:`turbo.fragments.prepend` but ``request=``.
        Inside a transaction it is rendered and sent when the transaction commits,
        and not at all if it rolls back.
        """
        self._broadcast_now("prepend", fragments.prepend(template, context, **options))

    def replace(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> None:
        """Replace the target element with the content, on every subscribed page::

            room.stream.replace("chat/message.html", {"message": m}, id=f"message-{m.pk}")

        Takes the arguments of :func:`turbo.fragments.replace` but ``request=``.
        Inside a transaction it is rendered and sent when the transaction commits,
        and not at all if it rolls back.
        """
        self._broadcast_now("replace", fragments.replace(template, context, **options))

    def update(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> None:
        """Replace the target's children with the content, on every subscribed page::

            room.stream.update(text="3 online", id="online")

        Takes the arguments of :func:`turbo.fragments.update` but ``request=``.
        Inside a transaction it is rendered and sent when the transaction commits,
        and not at all if it rolls back.
        """
        self._broadcast_now("update", fragments.update(template, context, **options))

    def remove(self, *, id: str | None = None, selector: str | None = None) -> None:
        """Remove the target element (or every element ``selector`` matches) from every page.

        ``room.stream.remove(id=f"message-{m.pk}")``; as the other actions, inside
        a transaction it is sent when the transaction commits.
        """
        self._broadcast_now("remove", fragments.remove(id=id, selector=selector))

    def before(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Insert content just before the target element, on every subscribed page::

            list.stream.before("todo/item.html", {"item": i}, id="new-item")

        Takes the arguments of :func:`turbo.fragments.before` but ``request=``.
        Inside a transaction it is rendered and sent when the transaction commits,
        and not at all if it rolls back.
        """
        self._broadcast_now("before", fragments.before(template, context, **options))

    def after(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Insert content just after the target element, on every subscribed page::

            list.stream.after("todo/item.html", {"item": i}, id="item-4")

        Takes the arguments of :func:`turbo.fragments.after` but ``request=``.
        Inside a transaction it is rendered and sent when the transaction commits,
        and not at all if it rolls back.
        """
        self._broadcast_now("after", fragments.after(template, context, **options))

    async def aappend(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Async twin of :meth:`append`: ``await stream.aappend(...)``."""
        await self._abroadcast_now("aappend", fragments.append(template, context, **options))

    async def aprepend(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Async twin of :meth:`prepend`: ``await stream.aprepend(...)``."""
        await self._abroadcast_now("aprepend", fragments.prepend(template, context, **options))

    async def areplace(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> None:
        """Async twin of :meth:`replace`: ``await stream.areplace(...)``."""
        await self._abroadcast_now("areplace", fragments.replace(template, context, **options))

    async def aupdate(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> None:
        """Async twin of :meth:`update`: ``await stream.aupdate(...)``."""
        await self._abroadcast_now("aupdate", fragments.update(template, context, **options))

    async def aremove(self, *, id: str | None = None, selector: str | None = None) -> None:
        """Async twin of :meth:`remove`: ``await stream.aremove(...)``."""
        await self._abroadcast_now("aremove", fragments.remove(id=id, selector=selector))

    async def abefore(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Async twin of :meth:`before`: ``await stream.abefore(...)``."""
        await self._abroadcast_now("abefore", fragments.before(template, context, **options))

    async def aafter(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Async twin of :meth:`after`: ``await stream.aafter(...)``."""
        await self._abroadcast_now("aafter", fragments.after(template, context, **options))

    def append_later(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Like :meth:`append`, but rendered and sent by a background task::

            room.stream.append_later("chat/message.html", {"message": m}, id="messages")

        only enqueues the task (:func:`turbo.later.broadcast_later`; see :doc:`background`).
        """
        later.broadcast_later(self, "append", template, context, **options)

    def prepend_later(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Like :meth:`prepend`, but rendered and sent by a background task::

            feed.stream.prepend_later("feed/item.html", {"item": i}, id="items")

        only enqueues the task (:func:`turbo.later.broadcast_later`; see :doc:`background`).
        """
        later.broadcast_later(self, "prepend", template, context, **options)

    def replace_later(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> None:
        """Like :meth:`replace`, but rendered and sent by a background task::

            room.stream.replace_later("chat/message.html", {"message": m}, id=f"message-{m.pk}")

        only enqueues the task (:func:`turbo.later.broadcast_later`; see :doc:`background`).
        """
        later.broadcast_later(self, "replace", template, context, **options)

    def update_later(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> None:
        """Like :meth:`update`, but rendered and sent by a background task::

            room.stream.update_later(text="3 online", id="online")

        only enqueues the task (:func:`turbo.later.broadcast_later`; see :doc:`background`).
        """
        later.broadcast_later(self, "update", template, context, **options)

    def before_later(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Like :meth:`before`, but rendered and sent by a background task::

            list.stream.before_later("todo/item.html", {"item": i}, id="new-item")

        only enqueues the task (:func:`turbo.later.broadcast_later`; see :doc:`background`).
        """
        later.broadcast_later(self, "before", template, context, **options)

    def after_later(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> None:
        """Like :meth:`after`, but rendered and sent by a background task::

            list.stream.after_later("todo/item.html", {"item": i}, id="item-4")

        only enqueues the task (:func:`turbo.later.broadcast_later`; see :doc:`background`).
        """
        later.broadcast_later(self, "after", template, context, **options)

    def refresh(
        self, *, method: RefreshMethod | None = None, scroll: RefreshScroll | None = None
    ) -> None:
        """Tell every subscribed page to reload itself from the server (Turbo 8).

        ``board.stream.refresh(method="morph", scroll="preserve")`` morphs each
        page into its new version, keeping scroll position and focus. The
        refresh carries the id of the request being served (with
        :class:`~turbo.middleware.TurboMiddleware`), so the tab whose request
        made the change does not reload. Repeated refreshes are sent once per
        transaction, per request, and per :setting:`TURBO_REFRESH_DEBOUNCE`
        seconds (:mod:`turbo.refreshes`).
        """
        refreshes.refresh(self, method=method, scroll=scroll)

    async def arefresh(
        self, *, method: RefreshMethod | None = None, scroll: RefreshScroll | None = None
    ) -> None:
        """Async twin of :meth:`refresh`: ``await stream.arefresh(...)``."""
        await refreshes.arefresh(self, method=method, scroll=scroll)

    def refresh_later(
        self, *, method: RefreshMethod | None = None, scroll: RefreshScroll | None = None
    ) -> None:
        """Like :meth:`refresh`, but sent by a background task.

        ``board.stream.refresh_later(method="morph")`` only enqueues the task
        (inside a transaction, when it commits); the id of the request being
        served travels with it, so the tab whose request made the change still
        does not reload. See :doc:`background`.
        """
        later.refresh_later(self, method=method, scroll=scroll)
