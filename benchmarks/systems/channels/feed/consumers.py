"""The Channels tutorial's consumer: every socket joins the group "messages"."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

GROUP = "messages"


class MessagesConsumer(AsyncWebsocketConsumer):
    # Joined before connect() runs, so a socket is in the group once it is open.
    groups = [GROUP]

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send(
            text_data=json.dumps({"type": "message", "stream": GROUP, "html": event["html"]})
        )
