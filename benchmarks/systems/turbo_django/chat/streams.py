"""turbo-django streams, found by its autodiscovery of ``streams.py``.

As in its ModelStream guide: the list stream the pages subscribe to, and a
ModelStream bound to Message whose ``on_save`` appends the new message to it.
"""

from __future__ import annotations

from typing import Any

import turbo

from .models import Message


class MessagesStream(turbo.Stream):
    """The message list; pages subscribe with ``{% turbo_subscribe 'chat:MessagesStream' %}``."""


class MessageStream(turbo.ModelStream):
    """Broadcasts each new Message to the list."""

    class Meta:
        model = Message

    def on_save(self, message: Message, created: bool, *args: Any, **kwargs: Any) -> None:
        if created:
            MessagesStream().append("chat/message.html", {"message": message}, id="messages")
