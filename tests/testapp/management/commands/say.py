"""``manage.py say [--atomic] ROOM_PK TEXT...``: post messages from outside the servers."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from tests.testapp.models import Message


class Command(BaseCommand):
    help = "Post a message to a room; its stream broadcasts it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", type=int)
        parser.add_argument("text", nargs="+")
        parser.add_argument("--atomic", action="store_true", help="all in one transaction")

    def handle(self, *args: Any, room: int, text: list[str], atomic: bool, **options: Any) -> None:
        with transaction.atomic() if atomic else contextlib.nullcontext():
            for line in text:
                message = Message.objects.create(room_id=room, text=line)
                self.stdout.write(f"message-{message.pk}")
