"""HTTP responses made of turbo-stream fragments, and request helpers."""

from __future__ import annotations

from types import MethodType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Final,
    Generic,
    Literal,
    ParamSpec,
    Self,
    Unpack,
)

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

from turbo import fragments
from turbo.fragments import ContentOptions, MorphOptions, join

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from django.db.models import Model
    from django.utils.functional import _StrPromise

    from turbo.fragments import Fragment
    from turbo.markup import Action, Markup, RefreshMethod, RefreshScroll, TemplateName

P = ParamSpec("P")

#: The media type of a turbo-stream response.
TURBO_STREAM_MEDIA_TYPE: Final = "text/vnd.turbo-stream.html"


class _Chainable(Generic[P]):
    """An action method of :class:`TurboStreamResponse`, callable on the class too.

    On a response it is the method: it adds a fragment and returns the
    response, to chain more. On the class (:data:`turbo_stream`) it is the
    same method, bound to a stand-in that starts a new response when the
    method adds its fragment: reading the attribute builds nothing.
    """

    def __init__(
        self, method: Callable[Concatenate[TurboStreamResponse, P], TurboStreamResponse]
    ) -> None:
        self.method = method
        self.__doc__ = method.__doc__
        self.__wrapped__ = method

    def __get__(
        self, instance: TurboStreamResponse | None, owner: type[TurboStreamResponse]
    ) -> Callable[P, TurboStreamResponse]:
        return MethodType(self.method, _NewResponse(owner) if instance is None else instance)


class _NewResponse:
    """What an action method called on the class adds its fragment to."""

    def __init__(self, response_class: type[TurboStreamResponse]) -> None:
        self.response_class = response_class

    def add(self, *fragments: Fragment) -> TurboStreamResponse:
        return self.response_class(*fragments)


class TurboStreamResponse(HttpResponse):
    """A response Turbo applies to the page instead of navigating.

    Answer a form submission with the fragments to apply::

        return TurboStreamResponse(
            fragments.append("chat/message.html", {"message": m}, id="messages"),
            fragments.replace("chat/form.html", {"form": MessageForm()}, id="form"),
        )

    or build it with :data:`turbo_stream` and the chainable action methods::

        return TurboStreamResponse(status=422).replace("chat/form.html", {"form": form}, id="form")

    Each fragment is rendered when it is added.
    """

    def __init__(self, *fragments: Fragment, **kwargs: Any) -> None:
        kwargs.setdefault("content_type", f"{TURBO_STREAM_MEDIA_TYPE}; charset=utf-8")
        super().__init__(b"", **kwargs)
        self.add(*fragments)

    def add(self, *fragments: Fragment) -> Self:
        """Render ``fragments`` onto the end of the response, and return it.

        ``response.add(fragments.remove(id="draft"))``.
        """
        self.write(join(fragments))
        return self

    @_Chainable
    def append(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> TurboStreamResponse:
        """Add an :func:`~turbo.fragments.append` fragment; return the response.

        ``turbo_stream.append("chat/message.html", {"message": m}, id="messages")``
        """
        return self.add(fragments.append(template, context, **options))

    @_Chainable
    def prepend(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> TurboStreamResponse:
        """Add a :func:`~turbo.fragments.prepend` fragment; return the response.

        ``turbo_stream.prepend("feed/item.html", {"item": item}, id="feed")``
        """
        return self.add(fragments.prepend(template, context, **options))

    @_Chainable
    def replace(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> TurboStreamResponse:
        """Add a :func:`~turbo.fragments.replace` fragment; return the response.

        ``turbo_stream.replace("chat/form.html", {"form": form}, id="form", request=request)``
        """
        return self.add(fragments.replace(template, context, **options))

    @_Chainable
    def update(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[MorphOptions],
    ) -> TurboStreamResponse:
        """Add an :func:`~turbo.fragments.update` fragment; return the response.

        ``turbo_stream.remove(id="draft").update(text="", id="errors")``
        """
        return self.add(fragments.update(template, context, **options))

    @_Chainable
    def remove(self, *, id: str | None = None, selector: str | None = None) -> TurboStreamResponse:
        """Add a :func:`~turbo.fragments.remove` fragment; return the response.

        ``turbo_stream.remove(id=f"message-{m.pk}")``
        """
        return self.add(fragments.remove(id=id, selector=selector))

    @_Chainable
    def before(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> TurboStreamResponse:
        """Add a :func:`~turbo.fragments.before` fragment; return the response.

        ``turbo_stream.before("todo/item.html", {"item": item}, id="new-item-form")``
        """
        return self.add(fragments.before(template, context, **options))

    @_Chainable
    def after(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        **options: Unpack[ContentOptions],
    ) -> TurboStreamResponse:
        """Add an :func:`~turbo.fragments.after` fragment; return the response.

        ``turbo_stream.after("todo/item.html", {"item": item}, id=f"item-{previous.pk}")``
        """
        return self.add(fragments.after(template, context, **options))

    @_Chainable
    def refresh(
        self,
        *,
        request_id: str | None = None,
        method: RefreshMethod | None = None,
        scroll: RefreshScroll | None = None,
    ) -> TurboStreamResponse:
        """Add a :func:`~turbo.fragments.refresh` fragment; return the response.

        ``turbo_stream.refresh(method="morph", scroll="preserve")``
        """
        return self.add(fragments.refresh(request_id=request_id, method=method, scroll=scroll))

    @_Chainable
    def action(
        self,
        action: Action | str,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        selector: str | None = None,
        text: str | None = None,
        html: Markup | None = None,
        method: Literal["morph"] | None = None,
        attributes: Mapping[str, str] | None = None,
        request: HttpRequest | None = None,
    ) -> TurboStreamResponse:
        """Add a :func:`~turbo.fragments.fragment` of any action; return the response.

        ``turbo_stream.action("set_title", text="3 new messages")`` (a custom
        action: see :func:`~turbo.fragments.register_action`).
        """
        fragment = fragments.fragment(
            action,
            template,
            context,
            id=id,
            selector=selector,
            text=text,
            html=html,
            method=method,
            attributes=attributes,
            request=request,
        )
        return self.add(fragment)


turbo_stream: Final = TurboStreamResponse
"""The response class, named for starting one with an action, as turbo-rails does.

``return turbo_stream.remove(id="draft").append(...)``: each action method
called on the class starts a new :class:`TurboStreamResponse`.
"""


class HttpResponseSeeOther(HttpResponseRedirect):
    """A ``303 See Other`` redirect, the one Turbo expects after a form submission.

    Turbo Drive follows it with a ``GET`` and renders the page it leads to;
    most redirects (302) would repeat a ``PUT`` or ``DELETE``. See :func:`see_other`::

        return HttpResponseSeeOther("/rooms/")
    """

    status_code = 303


def see_other(
    to: Callable[..., Any] | Model | str | _StrPromise, *args: Any, **kwargs: Any
) -> HttpResponseSeeOther:
    """A ``303 See Other`` redirect to ``to``, resolved like :func:`~django.shortcuts.redirect`.

    ``to`` is a model instance (its ``get_absolute_url()``), a view name with
    its arguments, or a URL::

        return see_other(room)
        return see_other("chat:room", pk=room.pk)
    """
    return HttpResponseSeeOther(resolve_url(to, *args, **kwargs))


def accepts_turbo_stream(request: HttpRequest) -> bool:
    """Whether the request's ``Accept`` header names turbo streams explicitly.

    Turbo adds ``text/vnd.turbo-stream.html`` to the ``Accept`` header of the
    form submissions it makes, so a view can answer them with a
    :class:`TurboStreamResponse` and everyone else with a redirect::

        if accepts_turbo_stream(request):
            return TurboStreamResponse(...)
        return redirect(room)

    A wildcard such as ``*/*`` does not count: every browser sends one.
    """
    return any(
        f"{media_type.main_type}/{media_type.sub_type}" == TURBO_STREAM_MEDIA_TYPE
        for media_type in request.accepted_types
    )
