"""The rooms' list, a stream of its own kept out of streams.py and imported there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import turbo

if TYPE_CHECKING:
    from .models import Room


class RoomListStream(turbo.Stream):
    class Meta:
        app_name = "chat"

    def add_room(self, room: Room) -> None:
        self.append("chat/components/room_list_item.html", {"room": room}, id="room_list")

    def rename_room(self, room: Room) -> None:
        self.replace("chat/components/room_list_item.html", {"room": room}, id=f"room-{room.pk}")
