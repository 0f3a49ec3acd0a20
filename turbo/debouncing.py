"""Debouncing: refreshes waiting out :setting:`TURBO_REFRESH_DEBOUNCE`, per event loop.

Equal ones wait once. They wait on an event loop: the running one in async
code, the loop of sync sends (:func:`turbo.loops.loop_for_sync_send`) in
sync code; and a process exiting sends those still waiting at once
(:func:`flush_debounced`).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
from time import monotonic
from typing import Any, Final, Protocol
from weakref import WeakKeyDictionary

from turbo import conf
from turbo.loops import loop_for_sync_send, run_on

logger = logging.getLogger("turbo")

#: Seconds a process exiting waits for the refreshes it still debounces, on
#: top of :setting:`TURBO_REDIS_TIMEOUT` (:func:`flush_debounced`).
EXIT_GRACE: Final = 1.0


class Debounced(Protocol):
    """What waits out a debounce: a hashable broadcast (:class:`turbo.refreshes.Refresh`)."""

    def __hash__(self) -> int: ...

    def broadcast(self) -> None:
        """Broadcast it from sync code."""

    async def abroadcast(self) -> None:
        """Broadcast it from async code."""


def debounce(item: Debounced, delay: float) -> None:
    """:func:`adebounce` from sync code, on the loop of sync sends."""
    loop = loop_for_sync_send()
    # Known at once, not only once the loop runs _debounce: a process
    # exiting meanwhile flushes this loop (flush_debounced).
    _debounced.setdefault(loop, {})
    loop.call_soon_threadsafe(_debounce, loop, item, delay)


def adebounce(item: Debounced, delay: float) -> None:
    """Broadcast ``item`` in ``delay`` seconds, unless an equal one is already waiting.

    The first one fixes the time, later ones do not push it back: under
    changes that never stop, pages still refresh every ``delay`` seconds.
    Called on the running event loop, which sends it.
    """
    _debounce(asyncio.get_running_loop(), item, delay)


# What waits out its debounce, per event loop (tests run several).
_debounced: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Debounced, Any]] = WeakKeyDictionary()
_sending: set[asyncio.Task[None]] = set()


def _debounce(loop: asyncio.AbstractEventLoop, item: Debounced, delay: float) -> None:
    waiting = _debounced.setdefault(loop, {})
    if item not in waiting:
        waiting[item] = loop.call_later(delay, _send_debounced, loop, item)


def _send_debounced(loop: asyncio.AbstractEventLoop, item: Debounced) -> None:
    del _debounced[loop][item]
    task = loop.create_task(item.abroadcast())
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def _take_debounced(loop: asyncio.AbstractEventLoop) -> list[Debounced]:
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
            for item in run_on(loop, _take_debounced(loop), _left(deadline)):
                item.broadcast()
            run_on(loop, _sent(loop), _left(deadline))
        except TimeoutError:
            logger.error("Refreshes were left unsent: the process exited first.")
            return


def _left(deadline: float) -> float:
    return max(0.0, deadline - monotonic())


def _forget_after_fork() -> None:
    # A forked child does not run its parent's loops: their refreshes are the
    # parent's to send.
    _debounced.clear()
    _sending.clear()


atexit.register(flush_debounced)
os.register_at_fork(after_in_child=_forget_after_fork)
