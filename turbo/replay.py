"""What a page missed: a stream's broadcasts after a position, read from its history.

A page subscribes, and asks for a replay, with the position of the last
message it applied (or of its rendering). The consumer (:mod:`turbo.consumers`)
answers with what :func:`missed_since` reads from the stream's history
(:mod:`turbo.history`), or tells the page to refresh itself (:data:`REFRESH`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from turbo import conf
from turbo.history import PLACEHOLDER, Position, read_since

if TYPE_CHECKING:
    from turbo.history import History

#: What ``subscribed`` or ``replayed`` says when the history cannot say what was missed.
REFRESH: Final = {"refresh": True}


async def missed_since(
    kept: History, group: str, after: Position, max_bytes: int
) -> dict[str, Any]:
    """What ``subscribed`` or ``replayed`` says of ``group``'s broadcasts after ``after``.

    ``{"missed": [...]}``, the messages in order, each with its position and
    the one before it; or :data:`REFRESH` when the history no longer reaches
    back to ``after``, does not answer in time (:func:`turbo.history.read_since`),
    when what was missed is more than ``max_bytes`` of HTML, or holds a
    :data:`~turbo.history.entries.PLACEHOLDER`. The pages of the process
    asking about ``group`` at once share one read (:mod:`turbo.history.reads`)::

        await missed_since(history.for_layer(layer), group, after, 128 * 1024)
    """
    try:
        # Bounded, so that a Redis that does not answer holds up no frame of
        # the socket's; a failure is logged once for the pages sharing the read.
        entries = await read_since(kept, group, after, conf.redis_timeout())
    except Exception:
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
