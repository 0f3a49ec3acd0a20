"""The broadcasts of one commit's callbacks, sent together (:class:`Batch`)."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from turbo import errors
from turbo.sending import publish

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator

    from turbo.sending import Target

logger = logging.getLogger("turbo")


def call_logged(function: Callable[[], object], failure: str, *args: object) -> None:
    """Call ``function``; log any exception with the message ``failure % args`` instead.

    As with :mod:`logging`, the message is formatted only when it is logged. With
    :setting:`TURBO_RAISE_ERRORS`, the exception is raised too, once the batch
    of broadcasts running is sent (:mod:`turbo.errors`).
    """
    try:
        function()
    except Exception as error:
        logger.exception(failure, *args)
        errors.failed(error, open_batch())


#: Bytes of markup one combined message carries at most (:class:`Batch`); a
#: single broadcast larger than that goes alone.
MAX_COMBINED_BYTES: Final = 64 * 1024

# The batch collecting the broadcasts of the commit callbacks running now.
_batch: contextvars.ContextVar[Batch | None] = contextvars.ContextVar("turbo_batch", default=None)


@dataclass(eq=False)
class _Entry:
    layer: Any
    target: Target
    html: str
    size: int


class Batch:
    """The broadcasts of one commit's callbacks (or of a hook run outside a transaction).

    Each stream's broadcasts go out in the order they were made, combined into
    one channel-layer message (one history entry, one round trip) of at most
    :data:`MAX_COMBINED_BYTES`, or several if they are larger; streams are sent
    one after the other, in the order of their first broadcast.
    """

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        #: What :func:`first_in_batch` was asked about.
        self.seen: set[Hashable] = set()
        self.closed = False
        #: The errors :mod:`turbo.errors` raises once the batch is sent.
        self.held: list[Exception] = []

    def add(self, layer: Any, target: Target, html: str) -> None:
        """Hold a rendered broadcast until the batch is closed."""
        self.entries.append(_Entry(layer, target, html, len(html.encode())))

    def close(self) -> None:
        """Send what the batch holds."""
        self.closed = True
        if self.entries:
            self._send()
        errors.raise_held(self)

    def _send(self) -> None:
        streams: dict[tuple[int, str], list[_Entry]] = {}
        for entry in self.entries:
            streams.setdefault((id(entry.layer), entry.target.group), []).append(entry)
        for entries in streams.values():
            for combined in _combined(entries):
                publish(combined[0].layer, combined[0].target, "".join(e.html for e in combined))


def _combined(entries: list[_Entry]) -> Iterator[list[_Entry]]:
    """``entries`` in order, in runs of at most :data:`MAX_COMBINED_BYTES` (or of one)."""
    run: list[_Entry] = []
    size = 0
    for entry in entries:
        if run and size + entry.size > MAX_COMBINED_BYTES:
            yield run
            run, size = [], 0
        run.append(entry)
        size += entry.size
    if run:
        yield run


def first_in_batch(key: Hashable) -> bool:
    """Whether ``key`` is new to the batch of commit callbacks running now (or there is none).

    :mod:`turbo.refreshes` sends equal refreshes of one commit once so.
    """
    batch = open_batch()
    if batch is None:
        return True
    if key in batch.seen:
        return False
    batch.seen.add(key)
    return True


def open_batch() -> Batch | None:
    """The batch of the commit callbacks running now, while it is open."""
    batch = _batch.get()
    return batch if batch is not None and not batch.closed else None


def run_batched(function: Callable[[], object], failure: str, *args: object) -> None:
    """Call ``function`` now, its broadcasts sent together, its failure logged as ``failure``.

    Inside commit callbacks, it joins their batch.
    """
    if open_batch() is not None:
        call_logged(function, failure, *args)
        return
    batch = Batch()
    token = _batch.set(batch)
    try:
        call_logged(function, failure, *args)
    finally:
        _batch.reset(token)
        batch.close()


def run_in(batch: Batch, function: Callable[[], object], failure: str, *args: object) -> None:
    """Call ``function``, its broadcasts joining ``batch``, its failure logged as ``failure``.

    Inside the callbacks of an outer commit (a hook's own atomic block), it
    joins their batch while it is open instead: its broadcasts keep their place.
    """
    if open_batch() is None:
        _batch.set(batch)
    call_logged(function, failure, *args)
