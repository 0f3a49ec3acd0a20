"""Live components: a piece of a page declared once, rendered in place, updated everywhere.

A :class:`Component` is a :class:`turbo.Stream` with a template: the
``{% turbo_component %}`` tag renders it inside an element of its own and
subscribes the page, and :meth:`Component.update` re-renders it on every page
that shows it, from any process. :class:`UserComponent` is one user's alone.
``BroadcastComponent`` and ``UserBroadcastComponent`` are turbo-django's names
for them.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Self

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.utils.html import format_html

from turbo import fragments, later
from turbo.identity import json_normalised
from turbo.markup import render_template
from turbo.streams import GROUP_PREFIX, Stream

if TYPE_CHECKING:
    from collections.abc import Mapping

    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpRequest
    from django.utils.safestring import SafeString

    from turbo.fragments import Fragment, TemplateName

__all__ = ["BroadcastComponent", "Component", "UserBroadcastComponent", "UserComponent"]

#: Hex digits of the stream's group in a component's element id: enough that
#: two components of a page never share one.
ID_DIGITS = 16


class Component(Stream):
    """A server-rendered piece of a page, kept live on every page that shows it.

    Declare it in an app's ``streams.py`` with its template, and the context
    its current state renders with::

        class OnlineCount(turbo.Component):
            template_name = "chat/components/online_count.html"

            def get_context(self):
                return {"count": Presence.objects.count()}

    ``{% turbo_component "chat:OnlineCount" %}`` renders it in place and
    subscribes the page; ``OnlineCount().update()`` (or
    ``OnlineCount().update(count=12)``) renders it once more and replaces its
    content on every page showing it, from a view, a task or ``manage.py
    shell``. Constructor arguments tell components of one class apart, as a
    stream's do: ``JobProgress(job_id=7)`` and ``JobProgress(job_id=8)`` are two.

    A component is a stream: :meth:`~turbo.Stream.user_passes_test` says who
    may see it, and the other actions (``append``, ``replace``...) target
    what the component's template renders. Only ``update`` differs: on a
    component it takes the context, since its target is always the component.
    """

    #: The template rendering the component's content (required).
    template_name: ClassVar[TemplateName | None] = None
    #: The tag of the element the content lives in: ``"span"`` for inline places.
    element: ClassVar[str] = "div"
    #: A component class in a template's context is passed to the tag as is, not called.
    do_not_call_in_templates: ClassVar[bool] = True

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls._meta.abstract and not cls.template_name:
            raise TypeError(
                f"{cls.__qualname__} has no template_name: set one, e.g. "
                f'template_name = "{cls.__module__.partition(".")[0]}/components/'
                f'{cls.__name__.lower()}.html", or declare it abstract with '
                f"class Meta: abstract = True."
            )

    def get_context(self) -> dict[str, Any]:
        """The context the component renders with: its current state. Empty by default.

        Both the page's render and every :meth:`update` start from it, so a
        page loaded after an update shows what the update showed if this
        reads the same state: ``return {"count": user.messages.unread().count()}``.
        """
        return {}

    @cached_property
    def dom_id(self) -> str:
        """The id of the element holding the component on a page.

        Derived from the stream's name and identity, so stable across
        processes and distinct for ``JobProgress(7)`` and ``JobProgress(8)``:
        ``"chat-onlinecount-3f9a0c4e5b6d7e8f"``.
        """
        digest = self.group.removeprefix(GROUP_PREFIX)[:ID_DIGITS]
        return f"{self._meta.app_label}-{type(self).__name__.lower()}-{digest}"

    def context(self, context: Mapping[str, Any] | None = None, **values: Any) -> dict[str, Any]:
        """:meth:`get_context`, updated with ``context`` and then ``values``."""
        if context is not None and not hasattr(context, "keys"):
            raise TypeError(
                f"{type(self).__qualname__} takes its context as keyword arguments or one "
                f"dict, not {context!r}: update(count=3) or update({{'count': 3}})."
            )
        return {**self.get_context(), **(context or {}), **values}

    def render_element(self, request: HttpRequest | None = None) -> SafeString:
        """The component's element with its current content, as a page shows it.

        What ``{% turbo_component %}`` renders after the subscription: with
        the page's ``request`` (context processors run, as for the rest of the
        page), where broadcasts render with none.
        """
        content = render_template(self._template(), self.context(), request)
        return format_html('<{0} id="{1}">{2}</{0}>', self.element, self.dom_id, content)

    # A component's update() takes its context, not Stream.update()'s template
    # and target: the target is always the component's own element.
    def update(  # type: ignore[override]
        self, context: Mapping[str, Any] | None = None, /, **values: Any
    ) -> None:
        """Render the component with new context and show it on every page that has it.

        ``progress.update(percent=40)`` renders once with :meth:`get_context`
        updated with ``percent=40``, and replaces the element's content on
        every subscribed page, in every process. Inside a transaction it is
        sent when the transaction commits, and not at all if it rolls back.
        ``update({"percent": 40})`` is the same.
        """
        self._broadcast_now("update", self._fragment(self.context(context, **values)))

    async def aupdate(  # type: ignore[override]
        self, context: Mapping[str, Any] | None = None, /, **values: Any
    ) -> None:
        """Async twin of :meth:`update`: ``await progress.aupdate(percent=40)``.

        :meth:`get_context` runs in Django's sync thread, since it may query.
        """
        merged = await sync_to_async(self.context)(context, **values)
        await self._abroadcast_now("aupdate", self._fragment(merged))

    def update_later(  # type: ignore[override]
        self, context: Mapping[str, Any] | None = None, /, **values: Any
    ) -> None:
        """Like :meth:`update`, but rendered and sent by a background task.

        ``badge.update_later(count=3)`` calls :meth:`get_context` now and
        enqueues the render (see :doc:`background`): the context must travel
        as JSON, with model instances as top-level values.
        """
        merged = self.context(context, **values)
        later.broadcast_later(self, "update", self._template(), merged, id=self.dom_id)

    def render(self, context: Mapping[str, Any] | None = None, /, **values: Any) -> None:
        """turbo-django's name for :meth:`update`: ``CartCount(user).render(count=25)``."""
        self.update(context, **values)

    def _fragment(self, context: Mapping[str, Any]) -> Fragment:
        return fragments.update(self._template(), context, id=self.dom_id)

    def _template(self) -> TemplateName:
        if not self.template_name:
            raise TypeError(f"{type(self).__qualname__}.template_name is not set.")
        return self.template_name


class UserComponent(Component):
    """A component of one user's, which only that user's pages may show.

    Build it with the user, or the user's primary key; the key is its identity::

        class UnreadCount(turbo.UserComponent):
            template_name = "chat/components/unread_count.html"
            element = "span"

            def get_context(self):
                return {"count": self.user.inbox.unread().count()}

        UnreadCount(message.recipient_id).update()

    ``{% turbo_component "chat:UnreadCount" request.user %}`` renders the
    page's own. A socket may subscribe only if its user is that user. An
    anonymous visitor has none: the tag renders nothing for them, and the
    constructor refuses ``AnonymousUser`` and ``None`` with :exc:`ValueError`.
    A subclass taking more arguments takes the user first, named ``user``.
    """

    class Meta:
        abstract = True

    def __new__(cls, user: Any, *args: Any, **kwargs: Any) -> Self:
        # The identity holds the key, not the instance: it travels in tokens and tasks.
        return super().__new__(cls, _user_pk(cls, user), *args, **kwargs)

    def __init__(self, user: Any) -> None:
        self._given_user = user if isinstance(user, Model) else None

    @property
    def user_pk(self) -> Any:
        """The primary key of the component's user, as JSON gives it (a UUID as a string)."""
        return self._init_args[0]

    @cached_property
    def user(self) -> Any:
        """The component's user: the one it was built with, else loaded by :attr:`user_pk`."""
        if self._given_user is not None:
            return self._given_user
        return get_user_model()._default_manager.get(pk=self.user_pk)

    def user_passes_test(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Only the component's own user may subscribe: not another, not an anonymous one."""
        return bool(user.is_authenticated) and _json(user.pk, type(self)) == self.user_pk


def is_anonymous(user: Any) -> bool:
    """Whether ``user`` is no signed-in user: ``None``, or ``AnonymousUser``."""
    return user is None or getattr(user, "is_authenticated", True) is False


def _user_pk(component: type[UserComponent], user: Any) -> Any:
    if is_anonymous(user):
        raise ValueError(
            f"{component.__qualname__} is one user's: build it with a signed-in user or a "
            f"user's primary key, not {user!r}. (Its template tag renders nothing for an "
            f"anonymous visitor.)"
        )
    pk = user.pk if isinstance(user, Model) else user
    if pk is None or pk == "":
        raise ValueError(f"{component.__qualname__} needs a saved user, not an unsaved {user!r}.")
    return _json(pk, component)


def _json(value: Any, component: type[UserComponent]) -> Any:
    """``value`` as a token carries it: a UUID becomes a string, an int stays an int."""
    [normalised] = json_normalised([value], component)
    return normalised


#: turbo-django's names.
BroadcastComponent = Component
UserBroadcastComponent = UserComponent
