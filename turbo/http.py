"""HTTP responses made of turbo-stream fragments, and request helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from django.http import HttpRequest, HttpResponse

from turbo.fragments import join

if TYPE_CHECKING:
    from turbo.fragments import Fragment

#: The media type of a turbo-stream response.
TURBO_STREAM_MEDIA_TYPE: Final = "text/vnd.turbo-stream.html"


class TurboStreamResponse(HttpResponse):
    """A response Turbo applies to the page instead of navigating.

    Answer a form submission with the fragments to apply::

        return TurboStreamResponse(
            fragments.append("chat/message.html", {"message": m}, id="messages"),
            fragments.replace("chat/form.html", {"form": MessageForm()}, id="form"),
        )
    """

    def __init__(self, *fragments: Fragment, **kwargs: Any) -> None:
        kwargs.setdefault("content_type", f"{TURBO_STREAM_MEDIA_TYPE}; charset=utf-8")
        super().__init__(join(fragments), **kwargs)


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
