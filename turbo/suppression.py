"""Silencing broadcasts: :func:`suppress_broadcasts` and the state it sets."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# True: every broadcast is suppressed; a set: those of these stream classes.
_suppressed: contextvars.ContextVar[bool | frozenset[type]] = contextvars.ContextVar(
    "turbo_suppressed", default=frozenset()
)


@contextmanager
def suppress_broadcasts(*stream_classes: type) -> Iterator[None]:
    """Silence the broadcasts made inside the block, hooks included.

    For bulk imports, fixtures and data migrations::

        with turbo.suppress_broadcasts():
            Message.objects.bulk_create(...)
            for m in messages:
                m.save()

    Given stream classes, it silences only theirs: broadcasts to their streams
    and the hooks they run (``MessageStream.suppress_broadcasts()`` says the
    same). The state lives in a context variable, so it covers this thread or
    task only, and it is captured when a hook is scheduled: a save inside the
    block stays silent even when its transaction commits after the block has
    exited.
    """
    current = _suppressed.get()
    suppressed: bool | frozenset[type] = True
    if stream_classes and not isinstance(current, bool):
        suppressed = current | frozenset(stream_classes)
    token = _suppressed.set(suppressed)
    try:
        yield
    finally:
        _suppressed.reset(token)


def broadcasts_suppressed(stream_class: type | None = None) -> bool:
    """Whether broadcasts (of ``stream_class``, if given) are silenced in this thread or task.

    See :func:`suppress_broadcasts`; a class is silenced when it or a base
    class of it is.
    """
    suppressed = _suppressed.get()
    if isinstance(suppressed, bool):
        return suppressed
    # Nothing silenced, as nearly always: every save and broadcast asks.
    if not suppressed or stream_class is None:
        return False
    return any(issubclass(stream_class, c) for c in suppressed)
