"""The event loops that sync code hands its coroutines to.

A sync broadcast must run its coroutine on the loop the channel layer lives
on. ``async_to_sync`` from a plain thread would start a throwaway loop per
call: the in-memory layer then fills another loop's queue without waking its
reader, and the Redis layers open a new connection pool per call. So sync
sends (and sync reads of a page's position) go to the server's loop when one
is running in this process, else to one long-lived background loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable
    from concurrent.futures import Future

T = TypeVar("T")

logger = logging.getLogger("turbo")

#: Seconds sync code waits for the event loop that runs its send (or its
#: read of a page's position) before giving up: a loop that does not run it.
#: Redis itself gets :setting:`TURBO_REDIS_TIMEOUT`, on that loop.
SEND_TIMEOUT: Final = 10.0

#: Seconds past its timeout a wait on Redis may end before it shows the event
#: loop, not Redis, to be behind (a server taking the sockets of one that
#: died): a hub's probes (:mod:`turbo.watch`) and history reads
#: (:func:`turbo.history.reads.within`) then do not count it as a timeout.
BUSY_LAG: Final = 0.5

_server_loop: asyncio.AbstractEventLoop | None = None
_consumer_connected = False
_background_loop: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()


def note_running_loop() -> None:
    """Record the running event loop as the one sync broadcasts should use.

    Called by :func:`note_consumer` when a socket connects: in a server
    process, that is the loop the subscribers live on. An async broadcast
    records its loop only while no recorded loop runs
    (:func:`note_loop_unless_one_runs`).
    """
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def note_loop_unless_one_runs() -> None:
    """Record the running loop (:func:`note_running_loop`) unless a recorded one runs.

    One made with ``async_to_sync`` from a thread runs a loop of its own, for
    that call: it must not take the server's place.
    """
    if _server_loop is None or not _server_loop.is_running():
        note_running_loop()


def note_consumer() -> None:
    """Record that a turbo websocket connected in this process, on the running loop.

    Sync broadcasts then run on this loop, where the in-memory layer can wake
    the consumers; and a broadcast on the in-memory layer is known to have
    somewhere to go (:func:`consumer_connected`).
    """
    global _consumer_connected
    _consumer_connected = True
    note_running_loop()


def consumer_connected() -> bool:
    """Whether a turbo websocket has connected in this process (:func:`note_consumer`)."""
    return _consumer_connected


def loop_for_sync_send() -> asyncio.AbstractEventLoop:
    """The loop sync code hands its sends to: the server's, else a background one."""
    if _server_loop is not None and _server_loop.is_running():
        return _server_loop
    return background_loop()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's own loop, in a daemon thread: for work that outlives any server loop."""
    global _background_loop
    with _background_lock:
        if _background_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="turbo-broadcast", daemon=True).start()
            _background_loop = loop
    return _background_loop


def run_in_loop(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code on :func:`loop_for_sync_send`, and return its result.

    Gives up after :data:`SEND_TIMEOUT` seconds.
    """
    return run_on(loop_for_sync_send(), make_coroutine(), SEND_TIMEOUT)


def run_on(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
    """Run ``coroutine`` on ``loop``, another thread's, and return its result.

    After ``timeout`` seconds it cancels the coroutine and raises :exc:`TimeoutError`.
    """
    future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or ``None``."""
    # Every broadcast asks; get_running_loop() raises where none runs, which
    # costs a sync save several times what this lookup does.
    return asyncio._get_running_loop()


# Tasks submit() started and nobody awaits: asyncio keeps only weak references.
_submitted: set[asyncio.Task[Any]] = set()


def submit(
    make_coroutine: Callable[[], Coroutine[Any, Any, object]],
    failure: str,
    loop: asyncio.AbstractEventLoop | None = None,
    delay: float = 0.0,
) -> None:
    """Run a coroutine without waiting for it; an exception it raises is logged as ``failure``.

    On ``loop``, else on the running loop, else on :func:`loop_for_sync_send`;
    ``delay`` seconds from now.
    """
    loop = loop or running_loop() or loop_for_sync_send()
    if delay:
        loop.call_soon_threadsafe(loop.call_later, delay, _start, make_coroutine, failure)
    else:
        loop.call_soon_threadsafe(_start, make_coroutine, failure)


def _start(make_coroutine: Callable[[], Coroutine[Any, Any, object]], failure: str) -> None:
    task = asyncio.ensure_future(make_coroutine())
    _submitted.add(task)

    def done(task: asyncio.Task[Any]) -> None:
        _submitted.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(failure, exc_info=task.exception())

    task.add_done_callback(done)


#: Seconds between cancellations of a task that ran on after one.
CANCEL_AGAIN_AFTER: Final = 0.1


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and return once every one has ended.

    Cancelled again while it runs on: Python 3.11's ``asyncio.wait_for``,
    which redis-py sends commands through when a read timeout is set, drops a
    cancellation that arrives as the command completes, and a loop calling
    the layer again would then run forever.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_AFTER)


def _forget_loops() -> None:
    # A forked child (gunicorn --preload, multiprocessing) has only the thread
    # that forked: the loops it inherited run nowhere, and a lock another
    # thread held stays held. It starts loops of its own as it needs them.
    global _server_loop, _background_loop, _background_lock
    _server_loop = _background_loop = None
    _background_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_loops)
