import turbo

from .models import Message, Room


class RoomListStream(turbo.Stream):
    """Every open list of rooms, for the public ones: subscribed to as "chat:RoomListStream"."""


class OwnRoomsStream(turbo.Stream):
    """A user's open lists of rooms, for their private ones."""

    def __init__(self, user_id):
        self.user_id = user_id

    def user_passes_test(self, user):
        return user.is_authenticated and user.pk == self.user_id


def room_list_stream(room):
    """The stream of the room lists that show ``room``: nobody else hears of a private room."""
    return OwnRoomsStream(room.owner_id) if room.private else RoomListStream()


class RoomStream(turbo.ModelStream):
    class Meta:
        model = Room

    def user_passes_test(self, user):
        return self.instance.visible_to(user)

    def on_save(self, room, created, *args, **kwargs):
        if created:
            room_list_stream(room).append("chat/components/room.html", {"room": room}, id="rooms")

    def on_delete(self, room, *args, **kwargs):
        room_list_stream(room).remove(id=f"room-{room.pk}")
        self.update(text="This room was deleted.", id="room-status")


class SentCount(turbo.UserComponent):
    """How many messages a user has sent, on each of that user's room lists."""

    template_name = "chat/components/sent_count.html"
    element = "span"

    def get_context(self):
        return {"count": Message.objects.filter(author_id=self.user_pk).count()}


class MessageStream(turbo.ModelStream):
    class Meta:
        model = Message

    def on_save(self, message, created, *args, **kwargs):
        if created:
            message.room.stream.append(
                "chat/components/message.html", {"message": message}, id="messages"
            )
            if message.author_id is not None:
                SentCount(message.author_id).update()
        else:
            message.room.stream.replace(
                "chat/components/message.html", {"message": message}, id=f"message-{message.pk}"
            )

    def on_delete(self, message, *args, **kwargs):
        # for_pk: when a deleted room took its messages along, the room row is gone.
        RoomStream.for_pk(message.room_id).remove(id=f"message-{message.pk}")
        if message.author_id is not None:
            SentCount(message.author_id).update()
