"""Placeholders: what the history records for broadcasts to streams nobody watches.

A broadcast to a stream no page watches (:meth:`turbo.history.History.watched`)
is not rendered; it leaves the name of its stream here, and without making
the saving thread wait, the history records a :data:`~turbo.history.entries.PLACEHOLDER`
in its place. A page whose view ran while it was committed replays across
the placeholder, and refreshes.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from functools import partial
from typing import Any, Final
from weakref import WeakKeyDictionary

from turbo import conf
from turbo.history.entries import PLACEHOLDER, layer_message, positioned
from turbo.history.layers import for_layer
from turbo.loops import run_in_loop, running_loop, submit

logger = logging.getLogger("turbo")

#: Seconds skipped broadcasts wait for their placeholders to be recorded, so
#: that a burst of saves costs one round trip to the history, not one each.
PLACEHOLDER_DELAY: Final = 0.05

#: Streams whose placeholders may wait at most, per channel layer: past that,
#: the saving thread records them before it goes on.
MAX_PENDING: Final = 10_000

#: Placeholders recorded per round trip: one script runs for each, and Redis
#: serves nothing else meanwhile.
PER_ROUND_TRIP: Final = 500


class _Placeholders:
    """The streams whose broadcasts were skipped since the last flush, in order, once each.

    A placeholder stands for any number of skipped broadcasts: the page that
    replays across it refreshes once. Flushed on the loop that sends, by one
    task at a time, and before any broadcast that loop records next
    (:func:`turbo.sending.deliver`), so that positions keep the order broadcasts were made in.
    """

    def __init__(self) -> None:
        self.groups: dict[str, None] = {}
        self.lock = threading.Lock()
        self.scheduled = False
        self.flushing: asyncio.Future[None] | None = None

    def add(self, layer: Any, group: str) -> None:
        with self.lock:
            self.groups[group] = None
            full = len(self.groups) >= MAX_PENDING
            scheduled, self.scheduled = self.scheduled, True
        if full and running_loop() is None:
            run_in_loop(lambda: flush_placeholders(layer))
        elif not scheduled:
            submit(
                lambda: flush_placeholders(layer),
                "Recording placeholders failed",
                delay=PLACEHOLDER_DELAY,
            )

    def take(self) -> list[str]:
        with self.lock:
            groups, self.groups, self.scheduled = list(self.groups), {}, False
        return groups


_placeholders: WeakKeyDictionary[Any, _Placeholders] = WeakKeyDictionary()


def _placeholders_for(layer: Any) -> _Placeholders:
    pending = _placeholders.get(layer)
    if pending is None:
        pending = _placeholders.setdefault(layer, _Placeholders())
    return pending


async def flush_placeholders(layer: Any) -> None:
    """Record the placeholders of the broadcasts skipped on ``layer``, and send those now watched.

    Returns once those taken by an earlier flush on this loop are recorded
    too. Failures are logged: pages replaying across a lost placeholder do not
    refresh for it, as they would miss a broadcast that failed.
    """
    pending = _placeholders.get(layer)
    if pending is None:
        return
    flushing = pending.flushing
    if (
        flushing is not None
        and not flushing.done()
        and flushing.get_loop() is asyncio.get_running_loop()
    ):
        await asyncio.shield(flushing)
    groups = pending.take()
    if groups:
        pending.flushing = asyncio.ensure_future(_record_placeholders(layer, groups))
        await asyncio.shield(pending.flushing)


async def _record_placeholders(layer: Any, groups: list[str]) -> None:
    kept = for_layer(layer)
    if kept is None:
        return
    try:
        placed = []
        for start in range(0, len(groups), PER_ROUND_TRIP):
            chunk = groups[start : start + PER_ROUND_TRIP]
            placed += await asyncio.wait_for(kept.record_placeholders(chunk), conf.redis_timeout())
        for group, (recorded, watched) in zip(groups, placed, strict=True):
            if watched:
                payload = positioned(layer_message(group, PLACEHOLDER), recorded)
                await asyncio.wait_for(layer.group_send(group, payload), conf.redis_timeout())
    except Exception:
        logger.exception("Recording the placeholders of broadcasts nobody watched failed")


def skip(layer: Any, group: str) -> None:
    """Have a placeholder recorded for a broadcast to ``group`` on ``layer``, soon.

    It does not wait, unless :data:`MAX_PENDING` streams already do: then a
    sync caller records them all first.
    """
    _placeholders_for(layer).add(layer, group)


def flush_at_exit() -> None:
    """Record the placeholders still waiting when the process exits (``atexit``).

    A management command that saved just before it returned would otherwise
    leave them unrecorded. Each layer's are recorded within
    :setting:`TURBO_REDIS_TIMEOUT`; failures are logged.
    """
    for layer, pending in list(_placeholders.items()):
        if pending.groups:
            try:
                run_in_loop(partial(flush_placeholders, layer))
            except Exception:
                logger.exception("Recording placeholders as the process exits failed")


def _forget_after_fork() -> None:
    # The child's loops are new; its parent's pending streams are its parent's.
    _placeholders.clear()


atexit.register(flush_at_exit)
os.register_at_fork(after_in_child=_forget_after_fork)
