"""The chat app: connects the broadcasts once the models are loaded."""

from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from . import broadcasts  # noqa: F401 (registers the signal handler)
