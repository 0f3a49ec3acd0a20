"""Page refreshes (Turbo 8), coalesced and debounced.

A page subscribed to a stream that broadcasts ``<turbo-stream
action="refresh">`` fetches itself again and morphs into the result. Each
refresh costs every subscribed page a request to the server, so repeated ones
are sent once:

- within one transaction, once, when it commits, whether asked for inside it
  or by its hooks and declared broadcasts;
- within one request (with :class:`turbo.middleware.TurboMiddleware`), once,
  when its view returns;
- within :setting:`TURBO_REFRESH_DEBOUNCE` seconds in one process, once, at
  the end of that time (:mod:`turbo.debouncing`).

Refreshes differing in stream, request id, ``method`` or ``scroll`` are never
merged: each tab ignores the refreshes carrying the id of its own request.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from turbo import capture, conf, fragments
from turbo.batches import first_in_batch
from turbo.broadcast import abroadcast, broadcast, check_sync
from turbo.debouncing import adebounce, debounce
from turbo.suppression import broadcasts_suppressed
from turbo.transactions import after_commit

if TYPE_CHECKING:
    from collections.abc import Iterator

    from turbo.fragments import Fragment
    from turbo.sending import Target


_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "turbo_request_id", default=None
)


def current_request_id() -> str | None:
    """The ``X-Turbo-Request-Id`` of the request being served, if Turbo sent one.

    :meth:`turbo.Stream.refresh` puts it on the refresh it broadcasts, so the
    tab that made the request ignores the refresh its own change caused.
    Set by :class:`turbo.middleware.TurboMiddleware`, and by :func:`use_request_id` for work
    the request hands elsewhere.
    """
    return _request_id.get()


@contextmanager
def use_request_id(request_id: str | None) -> Iterator[None]:
    """Act on behalf of the request ``request_id`` inside the block.

    For work a request spawns outside its own thread or task, such as a
    background task that broadcasts a refresh::

        with use_request_id(request_id):
            board.stream.refresh()

    Threads started with ``sync_to_async`` or ``database_sync_to_async``, and
    commit hooks, inherit it already.
    """
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@dataclass(frozen=True)
class Refresh:
    """One refresh to broadcast; equal refreshes are sent once."""

    stream: Target
    request_id: str | None
    method: fragments.RefreshMethod | None = None
    scroll: fragments.RefreshScroll | None = None

    def fragment(self) -> Fragment:
        return fragments.refresh(request_id=self.request_id, method=self.method, scroll=self.scroll)

    def __str__(self) -> str:
        return f"Refresh of {self.stream}"

    def broadcast(self) -> None:
        """Broadcast it now, from sync code."""
        broadcast(self.stream, [self.fragment()])

    async def abroadcast(self) -> None:
        """Broadcast it now, from async code."""
        await abroadcast(self.stream, [self.fragment()])


@dataclass(eq=False)
class RequestRefreshes:
    """The refreshes asked for while a request is served, sent when its view returns."""

    pending: dict[Refresh, None] = field(default_factory=dict)
    open: bool = True

    def send(self) -> None:
        for item in self.pending:
            _send(item)

    async def asend(self) -> None:
        for item in self.pending:
            await _asend(item)


_request_refreshes: contextvars.ContextVar[RequestRefreshes | None] = contextvars.ContextVar(
    "turbo_request_refreshes", default=None
)


@contextmanager
def collect_request_refreshes() -> Iterator[RequestRefreshes]:
    """Hold the refreshes asked for in the block; send them with the result's ``send()``.

    Refreshes asked for after the block (by a commit that comes later) go out
    at once.
    """
    collected = RequestRefreshes()
    token = _request_refreshes.set(collected)
    try:
        yield collected
    finally:
        collected.open = False
        _request_refreshes.reset(token)


def refresh(
    stream: Target,
    *,
    method: fragments.RefreshMethod | None = None,
    scroll: fragments.RefreshScroll | None = None,
) -> None:
    """Broadcast a refresh of ``stream`` from sync code (:meth:`turbo.Stream.refresh`)."""
    check_sync("refresh")
    item = _requested(stream, method, scroll)
    if item is None:
        return
    if after_commit(lambda: _once_per_commit(item), "%s failed", item) is None:
        _once_per_commit(item)


def _once_per_commit(item: Refresh) -> None:
    # Asked for inside a transaction or by its commit hooks (declared ones
    # too), equal refreshes go out once, with the commit's other broadcasts.
    if first_in_batch(item):
        _collect_or_send(item)


async def arefresh(
    stream: Target,
    *,
    method: fragments.RefreshMethod | None = None,
    scroll: fragments.RefreshScroll | None = None,
) -> None:
    """Async twin of :func:`refresh` (:meth:`turbo.Stream.arefresh`)."""
    item = _requested(stream, method, scroll)
    if item is not None and not _collected(item):
        await _asend(item)


def _requested(
    stream: Target,
    method: fragments.RefreshMethod | None,
    scroll: fragments.RefreshScroll | None,
) -> Refresh | None:
    if broadcasts_suppressed(type(stream)):
        return None
    item = Refresh(stream, current_request_id(), method, scroll)
    item.fragment()  # bad arguments raise here, in the caller
    return item


def _collected(item: Refresh) -> bool:
    collecting = _request_refreshes.get()
    if collecting is None or not collecting.open:
        return False
    collecting.pending[item] = None
    return True


def _collect_or_send(item: Refresh) -> None:
    if not _collected(item):
        _send(item)


def _debounce_seconds() -> float:
    # A test capturing broadcasts sees refreshes as they are asked for.
    return 0.0 if capture.capturing() else conf.refresh_debounce()


def _send(item: Refresh) -> None:
    delay = _debounce_seconds()
    if delay:
        debounce(item, delay)
    else:
        item.broadcast()


async def _asend(item: Refresh) -> None:
    delay = _debounce_seconds()
    if delay:
        adebounce(item, delay)
    else:
        await item.abroadcast()
