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
  the end of that time.

Refreshes differing in stream, request id, ``method`` or ``scroll`` are never
merged: each tab ignores the refreshes carrying the id of its own request.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, TypeVar
from weakref import WeakKeyDictionary

from turbo import broadcast, conf, fragments

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator

    from turbo.broadcast import Target
    from turbo.fragments import Fragment


logger = logging.getLogger("turbo")

T = TypeVar("T")

#: Seconds a process exiting waits for the refreshes it still debounces, on
#: top of :setting:`TURBO_REDIS_TIMEOUT` (:func:`flush_debounced`).
EXIT_GRACE: Final = 1.0

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
    broadcast.check_sync("refresh")
    item = _requested(stream, method, scroll)
    if item is None:
        return
    if broadcast.after_commit(lambda: _once_per_commit(item), description=item) is None:
        _once_per_commit(item)


def _once_per_commit(item: Refresh) -> None:
    # Asked for inside a transaction or by its commit hooks (declared ones
    # too), equal refreshes go out once, with the commit's other broadcasts.
    if broadcast.first_in_batch(item):
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
    if broadcast.broadcasts_suppressed(type(stream)):
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
    return 0.0 if broadcast.captured.get() is not None else conf.refresh_debounce()


def _send(item: Refresh) -> None:
    delay = _debounce_seconds()
    if delay:
        loop = broadcast.loop_for_sync_send()
        # Known at once, not only once the loop runs _debounce: a process
        # exiting meanwhile flushes this loop (flush_debounced).
        _debounced.setdefault(loop, {})
        loop.call_soon_threadsafe(_debounce, loop, item, delay)
    else:
        _send_at_once(item)


def _send_at_once(item: Refresh) -> None:
    broadcast.broadcast(item.stream, [item.fragment()])


async def _asend(item: Refresh) -> None:
    delay = _debounce_seconds()
    if delay:
        _debounce(asyncio.get_running_loop(), item, delay)
    else:
        await broadcast.abroadcast(item.stream, [item.fragment()])


# Refreshes waiting out their debounce, per event loop (tests run several).
_debounced: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Refresh, Any]] = WeakKeyDictionary()
_sending: set[asyncio.Task[None]] = set()


def _debounce(loop: asyncio.AbstractEventLoop, item: Refresh, delay: float) -> None:
    """Send ``item`` in ``delay`` seconds, unless an equal refresh is already waiting.

    The first refresh fixes the time, later ones do not push it back: under
    changes that never stop, pages still refresh every ``delay`` seconds.
    """
    waiting = _debounced.setdefault(loop, {})
    if item not in waiting:
        waiting[item] = loop.call_later(delay, _send_debounced, loop, item)


def _send_debounced(loop: asyncio.AbstractEventLoop, item: Refresh) -> None:
    del _debounced[loop][item]
    task = loop.create_task(broadcast.abroadcast(item.stream, [item.fragment()]))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def _take_debounced(loop: asyncio.AbstractEventLoop) -> list[Refresh]:
    """The refreshes ``loop`` debounces, taken off it."""
    waiting = _debounced.pop(loop, {})
    for timer in waiting.values():
        timer.cancel()
    return list(waiting)


async def _sent(loop: asyncio.AbstractEventLoop) -> None:
    """Return once the refreshes ``loop`` is sending are sent."""
    sending = [task for task in _sending if task.get_loop() is loop]
    if sending:
        await asyncio.wait(sending)


def flush_debounced() -> None:
    """Send the refreshes still waiting out their debounce, at once.

    Called when the process exits (``atexit``): a management command that
    refreshed a stream just before it returned would otherwise exit with the
    refresh unsent. It sends them from the calling thread, as sync code does
    (the loop's thread pool, where async broadcasts render, takes no work
    once the interpreter shuts down), each within :setting:`TURBO_REDIS_TIMEOUT`,
    and waits for those being sent already; after :data:`EXIT_GRACE` seconds
    more in all, it gives up, and logs it.
    """
    loops = [*_debounced.keys(), *(task.get_loop() for task in _sending)]
    deadline = None
    for loop in dict.fromkeys(loops):
        # The background loop of sync sends, in its thread: a server's loop
        # has stopped by the time the process exits.
        if not loop.is_running() or loop.is_closed():
            continue
        if deadline is None:
            deadline = monotonic() + conf.redis_timeout() + EXIT_GRACE
        try:
            for item in _run_until(deadline, loop, _take_debounced(loop)):
                _send_at_once(item)
            _run_until(deadline, loop, _sent(loop))
        except TimeoutError:
            logger.error("Refreshes were left unsent: the process exited first.")
            return


def _run_until(
    deadline: float, loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]
) -> T:
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result(max(0.0, deadline - monotonic()))
    except TimeoutError:
        future.cancel()
        raise


def _forget_after_fork() -> None:
    # A forked child does not run its parent's loops: their refreshes are the
    # parent's to send.
    _debounced.clear()
    _sending.clear()


atexit.register(flush_debounced)
os.register_at_fork(after_in_child=_forget_after_fork)
