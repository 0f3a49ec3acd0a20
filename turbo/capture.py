"""Broadcasts recorded instead of sent, inside :func:`turbo.testing.capture_broadcasts`."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from turbo.fragments import Fragment
    from turbo.sending import Target


@dataclass(frozen=True)
class CapturedBroadcast:
    """A broadcast recorded by :func:`turbo.testing.capture_broadcasts`."""

    #: The stream, as ``str(stream)`` gives it: ``"chat:RoomStream(3)"``.
    stream: str
    #: The stream's channel-layer group.
    group: str
    #: The ``<turbo-stream>`` markup of this broadcast; subscribers may receive
    #: it combined with others of the same commit (:class:`turbo.batches.Batch`).
    html: str
    #: The fragments the markup was rendered from, already rendered: read
    #: ``fragments[0].action``, ``.target``, ``.targets`` or ``.content``.
    fragments: tuple[Fragment, ...] = field(default=(), compare=False)


#: The list recording broadcasts instead of sending them, inside capture_broadcasts().
captured: contextvars.ContextVar[list[CapturedBroadcast] | None] = contextvars.ContextVar(
    "turbo_captured", default=None
)


def capturing() -> bool:
    """Whether broadcasts are recorded instead of sent, here and now."""
    return captured.get() is not None


def record(target: Target, html: str, fragments: Sequence[Fragment]) -> None:
    """Record a broadcast to ``target`` in the active :func:`turbo.testing.capture_broadcasts`."""
    recording = captured.get()
    if recording is not None:
        recording.append(CapturedBroadcast(str(target), target.group, html, tuple(fragments)))
