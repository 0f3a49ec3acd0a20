"""HTTP responses made of turbo-stream fragments, and request helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Generic, ParamSpec, Self

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

from turbo import fragments
from turbo.fragments import join, method_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.models import Model
    from django.utils.functional import _StrPromise

    from turbo.fragments import Fragment

P = ParamSpec("P")

#: The media type of a turbo-stream response.
TURBO_STREAM_MEDIA_TYPE: Final = "text/vnd.turbo-stream.html"


class _Adds(Generic[P]):
    """An action method of :class:`TurboStreamResponse`, mirroring a fragment function.

    On a response it adds the fragment and returns the response, to chain
    more; on the class (:data:`turbo_stream`) it starts a new response.
    """

    def __init__(self, build: Callable[P, Fragment], name: str | None = None) -> None:
        self.build = build
        self.name = name or build.__name__
        self.__doc__ = (
            f"Add a ``{self.name}`` fragment and return the response, to chain more; "
            f"on the class, start a new response with it.\n\n"
            f"Takes the arguments of :func:`turbo.fragments.{build.__name__}`. Example::\n\n"
            f'    return turbo_stream.{self.name}(...).update(text="", id="errors")'
        )

    def __get__(
        self, instance: TurboStreamResponse | None, owner: type[TurboStreamResponse]
    ) -> Callable[P, TurboStreamResponse]:
        response = owner() if instance is None else instance

        def add(*args: P.args, **kwargs: P.kwargs) -> TurboStreamResponse:
            return response.add(self.build(*args, **kwargs))

        doc = self.__doc__ or ""
        returns = "TurboStreamResponse"
        return method_of(
            self.build, add, name=self.name, doc=doc, returns=returns, takes_self=False
        )


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

    append = _Adds(fragments.append)
    prepend = _Adds(fragments.prepend)
    replace = _Adds(fragments.replace)
    update = _Adds(fragments.update)
    remove = _Adds(fragments.remove)
    before = _Adds(fragments.before)
    after = _Adds(fragments.after)
    refresh = _Adds(fragments.refresh)
    action = _Adds(fragments.fragment, name="action")


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
