"""``TurboMiddleware``: ``request.turbo``, and the request id refreshes carry."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from channels.layers import get_channel_layer
from django.utils.functional import cached_property

from turbo import hints, revocation
from turbo.compat import call_after_response
from turbo.history.positions import apage_position, page_position, page_rendered_from
from turbo.http import accepts_turbo_stream
from turbo.page_sessions import ensure_session, needs_session, watching_subscribes
from turbo.refreshes import collect_request_refreshes, use_request_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    from turbo.history.entries import Position
    from turbo.refreshes import RequestRefreshes

#: Longest request id kept: Turbo's are UUIDs; anything longer is not Turbo's.
MAX_REQUEST_ID_LENGTH = 64


class TurboDetails:
    """What Turbo's request headers say, as ``request.turbo``.

    A view answers the frame that asked differently from a full page::

        if request.turbo.frame == "message-form":
            return render(request, "chat/form.html", {"form": form})
    """

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def __bool__(self) -> bool:
        """Whether Turbo made the request (it sends ``X-Turbo-Request-Id``)."""
        return self.request_id is not None

    @cached_property
    def request_id(self) -> str | None:
        """The ``X-Turbo-Request-Id`` header: Turbo's id for this fetch, or ``None``."""
        value = self.request.headers.get("X-Turbo-Request-Id")
        if not value or len(value) > MAX_REQUEST_ID_LENGTH:
            return None
        return value

    @cached_property
    def frame(self) -> str | None:
        """The id of the ``<turbo-frame>`` that made the request (``Turbo-Frame``), or ``None``."""
        return self.request.headers.get("Turbo-Frame") or None

    @cached_property
    def prefetch(self) -> bool:
        """Whether Turbo is prefetching a link (``X-Sec-Purpose: prefetch``).

        The user may never follow it: skip side effects such as marking messages read.
        """
        return self.request.headers.get("X-Sec-Purpose") == "prefetch"

    @cached_property
    def accepts_stream(self) -> bool:
        """Whether a turbo-stream response is welcome (see :func:`turbo.accepts_turbo_stream`)."""
        return accepts_turbo_stream(self.request)


class TurboMiddleware:
    """Sets ``request.turbo`` and the request id that refreshes carry.

    Add it to ``MIDDLEWARE``; it works in sync and async stacks alike::

        MIDDLEWARE = [
            ...,
            "turbo.middleware.TurboMiddleware",
        ]

    While a view runs, :func:`turbo.refreshes.current_request_id` gives the
    request's ``X-Turbo-Request-Id``, also in hooks that run when its
    transaction commits; and the refreshes it asks for are held, and sent
    once each, when the view returns. Before a ``GET`` runs its view, it reads
    the position of the stream history (:mod:`turbo.history`), which
    ``{% turbo_subscribe %}`` renders: a broadcast committed while the view
    queries is replayed to the page, wherever the tag sits. It waits
    :setting:`TURBO_REDIS_TIMEOUT` at most: past it, the page renders
    :data:`turbo.history.UNKNOWN <turbo.history.entries.UNKNOWN>`, and
    refreshes once it subscribes.

    A request that changes the session's key (a login, a logout) has the
    websockets opened with the old session asked to reconnect, after the
    commit (:func:`turbo.revocation.session_changed`): every tab of the
    browser then follows the new user.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        hints.note_http_request(request)
        if self.async_mode:
            return self.__acall__(request)
        position = page_position(get_channel_layer()) if _renders_page(request) else None
        session_key = _session_key(request)
        with _serving(request, position) as (refreshes, page):
            response = cast("HttpResponseBase", self.get_response(request))
        refreshes.send()
        ensure_session(request, page)
        _tell_the_left_session(request, session_key, response)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        position = None
        if _renders_page(request):
            position = await apage_position(get_channel_layer())
        session_key = _session_key(request)
        with _serving(request, position) as (refreshes, page):
            response: HttpResponseBase = await self.get_response(request)  # type: ignore[misc]
        await refreshes.asend()
        if needs_session(request, page):
            await sync_to_async(ensure_session)(request, page)
        _tell_the_left_session(request, session_key, response)
        return response


def _session_key(request: HttpRequest) -> str | None:
    # The key only: reading it does not load the session.
    session = getattr(request, "session", None)
    return getattr(session, "session_key", None)


def _tell_the_left_session(
    request: HttpRequest, before: str | None, response: HttpResponseBase
) -> None:
    """Ask the sockets of the session ``request`` left to reconnect, once ``response`` is sent.

    Not before: a page told sooner would reconnect with the old cookie, the
    one the response replaces.
    """
    left = _left_session(request, before)
    if left is not None:
        call_after_response(response, lambda: revocation.session_changed(left))


def _left_session(request: HttpRequest, before: str | None) -> str | None:
    """The key of the session ``request`` left (a login, a logout cycle the key), if it did.

    Its sockets are then asked to reconnect (:func:`turbo.revocation.session_changed`),
    with the browser's new cookie: in every tab, whichever page logged in or out.
    """
    return before if before is not None and _session_key(request) != before else None


def _renders_page(request: HttpRequest) -> bool:
    # Pages are fetched with GET; the history's position is read for them only.
    return request.method in ("GET", "HEAD")


@contextmanager
def _serving(
    request: HttpRequest, position: Position | None
) -> Iterator[tuple[RequestRefreshes, Any]]:
    """Serve ``request`` in the block: ``request.turbo``, its id, its refreshes, its position.

    Gives the refreshes, and whether the page subscribes (:mod:`turbo.page_sessions`).
    """
    details = request.turbo = TurboDetails(request)  # type: ignore[attr-defined]
    with (
        use_request_id(details.request_id),
        collect_request_refreshes() as refreshes,
        page_rendered_from(position),
        watching_subscribes() as page,
    ):
        yield refreshes, page
