"""Helpers for testing your own streams: record broadcasts instead of sending them."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from turbo.broadcast import CapturedBroadcast, captured

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CapturedBroadcast", "capture_broadcasts"]


@contextmanager
def capture_broadcasts() -> Iterator[list[CapturedBroadcast]]:
    """Record the broadcasts made in the block, rendered, instead of sending them.

    Hooks deferred to a commit are recorded when the commit runs them, even
    after the block: so in a ``TestCase``, whose transaction never commits,
    run the commit callbacks with ``captureOnCommitCallbacks(execute=True)``::

        def test_a_new_message_is_appended(self):
            with capture_broadcasts() as broadcasts, self.captureOnCommitCallbacks(execute=True):
                message = Message.objects.create(room=self.room, text="hi")

            [broadcast] = broadcasts
            assert broadcast.group == self.room.stream.group
            assert f'<li id="message-{message.pk}">' in broadcast.html

    No channel layer is needed, and nothing reaches subscribers.
    """
    recording: list[CapturedBroadcast] = []
    token = captured.set(recording)
    try:
        yield recording
    finally:
        captured.reset(token)
