"""The broadcast of every new Message, the way django-turbo-helper documents it.

Its ``after_create_commit`` decorator (a ``post_save`` handler for created rows)
and ``broadcast_action_to``, which renders the template into a ``<turbo-stream>``
and ``group_send``s it to the stream pages subscribe to with
``{% turbo_stream_from 'messages' %}``.
"""

from __future__ import annotations

from typing import Any

from turbo_helper import after_create_commit
from turbo_helper.channels.broadcasts import broadcast_action_to

from .models import Message


@after_create_commit(sender=Message)
def broadcast_message(
    sender: type[Message], instance: Message, created: bool, **kwargs: Any
) -> None:
    broadcast_action_to(
        "messages",
        action="append",
        target="messages",
        template="chat/message.html",
        context={"message": instance},
    )
