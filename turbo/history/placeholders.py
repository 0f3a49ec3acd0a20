"""Placeholders: what the history records for broadcasts to streams nobody watches.

A broadcast to a stream no page watches (:meth:`turbo.history.History.watched`)
is not rendered; it leaves the name of its stream here, and without making
the saving thread wait, the history records a :data:`~turbo.history.entries.PLACEHOLDER`
in its place. A page whose view ran while it was committed replays across
the placeholder, and refreshes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Final
from weakref import WeakKeyDictionary

from turbo import conf
from turbo.history.entries import MESSAGE_TYPE, PLACEHOLDER, positioned
from turbo.history.layers import for_layer
from turbo.loops import submit

logger = logging.getLogger("turbo")

#: Seconds skipped broadcasts wait for their placeholders to be recorded, so
#: that a burst of saves costs one round trip to the history, not one each.
PLACEHOLDER_DELAY: Final = 0.05


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
            if self.scheduled:
                return
            self.scheduled = True
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
        placed = await asyncio.wait_for(kept.record_placeholders(groups), conf.redis_timeout())
        for group, (recorded, watched) in zip(groups, placed, strict=True):
            if watched:
                payload = positioned(
                    {"type": MESSAGE_TYPE, "group": group, "html": PLACEHOLDER}, recorded
                )
                await asyncio.wait_for(layer.group_send(group, payload), conf.redis_timeout())
    except Exception:
        logger.exception("Recording the placeholders of broadcasts nobody watched failed")


def skip(layer: Any, group: str) -> None:
    """Have a placeholder recorded for a broadcast to ``group`` on ``layer``, soon; never blocks."""
    _placeholders_for(layer).add(layer, group)
