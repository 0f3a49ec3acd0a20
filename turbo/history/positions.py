"""The history position a page renders: the one its request started at."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from turbo import conf
from turbo.history.entries import UNKNOWN, History, Position
from turbo.history.layers import for_layer
from turbo.loops import run_in_loop

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger("turbo")

_page_position: contextvars.ContextVar[Position | None] = contextvars.ContextVar(
    "turbo_page_position", default=None
)


@contextmanager
def page_rendered_from(position: Position | None) -> Iterator[None]:
    """Render the pages of the block as of ``position``.

    :class:`~turbo.middleware.TurboMiddleware` reads the position when a
    request starts, before its view queries anything: a broadcast committed
    while the view runs is then after the page's position, and replayed to it.
    """
    token = _page_position.set(position)
    try:
        yield
    finally:
        _page_position.reset(token)


def page_position(layer: Any) -> Position | None:
    """The position ``{% turbo_subscribe %}`` renders: the request's, or the current one.

    ``None`` without a history; :data:`UNKNOWN` if it cannot be read within
    :setting:`TURBO_REDIS_TIMEOUT` (logged).
    """
    position = _page_position.get()
    if position is not None:
        return position
    kept = for_layer(layer)
    if kept is None:
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        # A template rendered in an async view: waiting here would block the
        # loop that would answer. TurboMiddleware reads it beforehand.
        return None
    try:
        return run_in_loop(lambda: _read_position(kept))
    except Exception as error:  # the loop did not run it in time
        return _unknown(error)


async def apage_position(layer: Any) -> Position | None:
    """Async twin of :func:`page_position`, for async middleware."""
    kept = for_layer(layer)
    return None if kept is None else await _read_position(kept)


async def _read_position(kept: History) -> Position:
    try:
        return await asyncio.wait_for(kept.position(), conf.redis_timeout())
    except Exception as error:
        return _unknown(error)


def _unknown(error: Exception) -> Position:
    if isinstance(error, TimeoutError):
        logger.warning(
            "Reading the position of the stream history took longer than "
            "TURBO_REDIS_TIMEOUT (%s s): the page renders the position unknown, and refreshes "
            "once it subscribes.",
            conf.redis_timeout(),
        )
    else:
        logger.error("Reading the position of the stream history failed", exc_info=error)
    return UNKNOWN
