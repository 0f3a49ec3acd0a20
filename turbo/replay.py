"""What a page missed: a stream's broadcasts after a position, read from its history.

A page subscribes, and asks for a replay, with the position of the last
message it applied (or of its rendering). The consumer (:mod:`turbo.consumers`)
answers with what :func:`missed_since` reads from the stream's history
(:mod:`turbo.history`), or tells the page to refresh itself (:data:`REFRESH`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from turbo import conf
from turbo.history import PLACEHOLDER, Position, read_since

if TYPE_CHECKING:
    from turbo.history import History

logger = logging.getLogger("turbo")

#: What ``subscribed`` or ``replayed`` says when the history cannot say what was missed.
REFRESH: Final = {"refresh": True}


async def missed_since(
    kept: History, group: str, after: Position, max_bytes: int
) -> dict[str, Any]:
    """What ``subscribed`` or ``replayed`` says of ``group``'s broadcasts after ``after``.

    ``{"missed": [...]}``, the messages in order, each with its position and
    the one before it; or :data:`REFRESH` when the history no longer reaches
    back to ``after``, does not answer within :setting:`TURBO_REDIS_TIMEOUT`,
    when what was missed is more than ``max_bytes`` of HTML, or holds a
    :data:`~turbo.history.entries.PLACEHOLDER`. The pages of the process
    asking about ``group`` at once share one read (:mod:`turbo.history.reads`)::

        await missed_since(history.for_layer(layer), group, after, 128 * 1024)
    """
    budget = conf.redis_timeout()
    try:
        # A Redis that does not answer must not hold up the socket's frames:
        # each read is bounded, and a page waits for at most two.
        entries = await read_since(kept, group, after, budget)
    except TimeoutError:
        # One line, not a traceback: a server taking the pages of one that
        # died may be this busy for thousands of them at once.
        logger.warning(
            "Reading the history of %s took more than TURBO_REDIS_TIMEOUT (%s s); "
            "the page refreshes",
            group,
            budget,
        )
        entries = None
    except Exception:
        logger.exception("Reading the history of %s failed", group)
        entries = None
    if entries is None:
        return REFRESH
    size = 0
    missed = []
    for entry in entries:
        if entry.html == PLACEHOLDER:
            # A broadcast to a stream nobody watched was never rendered.
            return REFRESH
        size += len(entry.html)
        if size > max_bytes:
            return REFRESH
        missed.append(
            {
                "html": entry.html,
                "position": str(Position(after.epoch, entry.sequence)),
                "previous": str(Position(after.epoch, entry.previous)),
            }
        )
    return {"missed": missed}
