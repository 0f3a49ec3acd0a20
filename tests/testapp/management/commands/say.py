"""``manage.py say ROOM_PK TEXT``: post a message from outside the server processes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tests.testapp.models import Message


class Command(BaseCommand):
    help = "Post a message to a room; its stream broadcasts it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", type=int)
        parser.add_argument("text", nargs="+")

    def handle(self, *args: Any, room: int, text: list[str], **options: Any) -> None:
        for line in text:
            message = Message.objects.create(room_id=room, text=line)
            self.stdout.write(f"message-{message.pk}")
