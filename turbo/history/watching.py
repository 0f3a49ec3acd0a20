"""Marking streams watched: by a page's render, and by the hubs of the sockets holding them.

A stream is watched (:meth:`turbo.history.History.watched`) while a page may
still replay its broadcasts: broadcasts to the others are not rendered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from turbo import conf
from turbo.history.layers import for_layer
from turbo.history.placeholders import flush_placeholders

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

logger = logging.getLogger("turbo")


async def mark_watched(layer: Any, groups: Iterable[str]) -> None:
    """Mark ``groups`` watched in the history kept beside ``layer``, if one is; failures are logged.

    A hub marks a stream when its first local socket subscribes and when its
    last one leaves (a page reconnecting may replay what it missed meanwhile),
    and every third of :setting:`TURBO_HISTORY_MAX_AGE` while sockets hold it
    (:func:`keep_marked`).
    """
    kept = for_layer(layer)
    if kept is not None:
        # Skipped broadcasts are recorded first: a page subscribing now, whose
        # replay follows the mark, finds them, and no live refresh is needed.
        await flush_placeholders(layer)
        try:
            await kept.mark(groups)
        except Exception:
            logger.exception("Marking streams as watched failed")


def mark_watched_soon(layer: Any, groups: Iterable[str]) -> None:
    """:func:`mark_watched` without waiting, from sync or async code: what a page's render does.

    A broadcast made before the mark reaches the process that makes it is
    recorded as a placeholder, and the page refreshes once it subscribes.
    """
    kept = for_layer(layer)
    if kept is not None:
        try:
            kept.mark_soon(groups)
        except Exception:
            logger.exception("Marking streams as watched failed")


async def keep_marked(layer: Any, groups: Callable[[], Iterable[str]]) -> None:
    """Mark ``groups()`` watched (:func:`mark_watched`) every third of the history's max age."""
    while True:
        await asyncio.sleep(conf.history_max_age() / 3)
        await mark_watched(layer, list(groups()))
