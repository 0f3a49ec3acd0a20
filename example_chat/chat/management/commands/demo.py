"""``manage.py demo``: migrate, add the demo users and rooms once, then runserver."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

import turbo
from chat.models import Message, Room

PASSWORD = "chat-demo"


class Command(BaseCommand):
    help = "Set up the example chat's database and demo data, then run the server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-run", action="store_true", help="Set up only; do not start the server."
        )

    def handle(self, *args: Any, addrport: str, no_run: bool, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not Room.objects.exists():
            self.add_demo_data()
        if not no_run:
            call_command("runserver", addrport)

    def add_demo_data(self) -> None:
        users = get_user_model()
        alice = users.objects.create_user("alice", password=PASSWORD)
        users.objects.create_user("bob", password=PASSWORD)
        with turbo.suppress_broadcasts():  # nobody listens yet
            lobby = Room.objects.create(name="Lobby")
            Room.objects.create(name="Alice's notes", owner=alice, private=True)
            Message.objects.create(room=lobby, text="Welcome! Open this room in two windows.")
            Message.objects.create(room=lobby, author=alice, text="Hi, I am alice.")
        self.stdout.write(f"Demo users: alice and bob, password {PASSWORD!r}.")
