"""A project's own consumer on the turbo socket, with a channel of its own."""

from __future__ import annotations

from typing import Any

from turbo.consumers import TurboStreamConsumer

#: The group every :class:`NoticeConsumer` socket joins.
NOTICES = "notices"


class NoticeConsumer(TurboStreamConsumer):
    """Turbo's protocol, plus ``notice`` frames sent to the group :data:`NOTICES`."""

    own_channel = True

    async def connect(self) -> None:
        # Joined before accepting: a group_send after the handshake reaches it.
        await self.channel_layer.group_add(NOTICES, self.channel_name)
        await super().connect()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(NOTICES, self.channel_name)
        await super().disconnect(code)

    async def notice(self, event: dict[str, Any]) -> None:
        await self.send_frame({"type": "notice", "text": event["text"]})
