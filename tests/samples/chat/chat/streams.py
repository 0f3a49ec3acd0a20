from __future__ import annotations

from typing import TYPE_CHECKING, Any

import turbo

from .models import Message, Room
from .room_list import RoomListStream

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class RoomStream(turbo.ModelStream):
    class Meta:
        model = Room

    def on_save(self, room: Room, created: bool, *args: Any, **kwargs: Any) -> None:
        if created:
            RoomListStream().add_room(room)
        else:
            RoomListStream().rename_room(room)
            RoomStream.from_instance(room).update(text=room.name, id="room-name")

    def user_passes_test(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        return True


class MessageStream(turbo.ModelStream):
    class Meta:
        model = Message

    # Messages are never edited here: every save is a new one.
    def on_save(self, obj: Message, **kwargs: Any) -> None:
        obj.room.stream.append("chat/components/message.html", {"message": obj}, id="messages")

    def on_delete(self, message: Message, *args: Any, **kwargs: Any) -> None:
        RoomStream.from_pk(message.room_id).remove(id=f"message-{message.pk}")
