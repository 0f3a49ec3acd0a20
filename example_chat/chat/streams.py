import turbo

from .models import Message, Room


class RoomListStream(turbo.Stream):
    """Every open list of rooms: subscribed to as "chat:RoomListStream"."""


class RoomStream(turbo.ModelStream):
    class Meta:
        model = Room

    def user_passes_test(self, user):
        return self.instance.visible_to(user)

    def on_save(self, room, created, *args, **kwargs):
        if created:
            RoomListStream().append("chat/components/room.html", {"room": room}, id="rooms")

    def on_delete(self, room, *args, **kwargs):
        RoomListStream().remove(id=f"room-{room.pk}")
        self.update(text="This room was deleted.", id="room-status")


class MessageStream(turbo.ModelStream):
    class Meta:
        model = Message

    def on_save(self, message, created, *args, **kwargs):
        if created:
            message.room.stream.append(
                "chat/components/message.html", {"message": message}, id="messages"
            )
        else:
            message.room.stream.replace(
                "chat/components/message.html", {"message": message}, id=f"message-{message.pk}"
            )

    def on_delete(self, message, *args, **kwargs):
        # for_pk: when a deleted room took its messages along, the room row is gone.
        RoomStream.for_pk(message.room_id).remove(id=f"message-{message.pk}")
