"""The seed tutorial's streams.py, as written (plus the Room import it lacks)."""

from __future__ import annotations

import turbo

from .models import Message, Room


class RoomStream(turbo.ModelStream):
    class Meta:
        model = Room


class MessageStream(turbo.ModelStream):
    class Meta:
        model = Message

    def on_save(self, message, created, *args, **kwargs):
        if created:
            message.room.stream.append(
                "chat/components/message.html", {"message": message}, id="messages"
            )

    def on_delete(self, message, *args, **kwargs):
        # for_pk, not message.room: when the room's deletion cascaded here, the
        # room row is gone by the time this runs.
        RoomStream.for_pk(message.room_id).remove(id=f"message-{message.pk}")


# Beyond the tutorial: streams the test suite needs.
from .models import Document, Tag  # noqa: E402


class DocumentStream(turbo.ModelStream):
    class Meta:
        model = Document

    def on_save(self, document, created, *args, **kwargs):
        self.update(text=document.title, id="title")


class TagStream(turbo.ModelStream):
    class Meta:
        model = Tag

    def user_passes_test(self, user):
        return self.instance.slug != "private"  # loads the tag: a missing one is not found


class UserStream(turbo.Stream):
    def __init__(self, user_id, *, kind="all"):
        self.user_id = user_id
        self.kind = kind


class LobbyStream(turbo.Stream):
    """A stream without arguments, subscribed to by name."""


class PrivateStream(turbo.Stream):
    """Only its owner may subscribe."""

    def __init__(self, owner_id):
        self.owner_id = owner_id

    def user_passes_test(self, user):
        return user.is_authenticated and user.pk == self.owner_id


class FaultyStream(turbo.Stream):
    def user_passes_test(self, user):
        raise RuntimeError("the permission check is broken")


# Declarative broadcasts, and two streams on one model.
from .models import Board, Card  # noqa: E402


class BoardStream(turbo.ModelStream):
    class Meta:
        model = Board
        broadcasts_refreshes = True


class CardStream(turbo.ModelStream):
    class Meta:
        model = Card
        broadcasts = True


class CardOnBoardStream(turbo.ModelStream):
    class Meta:
        model = Card
        attribute = "board_updates"
        broadcasts = "board"
        broadcasts_inserts_by = "prepend"
        broadcasts_target = "cards"
        broadcasts_template = "testapp/card_row.html"


# Live components (turbo.components).
class TickerComponent(turbo.Component):
    """A component without arguments, shown on every page by its name."""

    template_name = "components/ticker.html"

    def get_context(self):
        return {"label": "ticker", "value": 0}


class ProgressComponent(turbo.Component):
    """One per job: its arguments tell them apart."""

    template_name = "components/progress.html"
    element = "span"

    def __init__(self, job_id):
        self.job_id = job_id

    def get_context(self):
        return {"job": self.job_id, "percent": 0}


class InboxCount(turbo.UserComponent):
    """One user's own count."""

    template_name = "components/inbox.html"

    def get_context(self):
        return {"name": self.user.username, "count": 0}


# Written in another module and imported here, as turbo-django's tutorial part 5 does.
from .live_streams import ImportedStream  # noqa: E402, F401
