"""Every saved Message is appended to the one feed all benchmark clients subscribe to."""

from __future__ import annotations

import turbo

from .models import Message


class Feed(turbo.Stream):
    """The benchmark's stream, subscribed to as "feed:Feed"."""


class MessageStream(turbo.ModelStream):
    class Meta:
        model = Message

    def on_save(self, message, created, *args, **kwargs):
        Feed().append("bench/message.html", {"message": message}, id="messages")

    def on_delete(self, message, *args, **kwargs):
        Feed().remove(id=f"message-{message.pk}")
