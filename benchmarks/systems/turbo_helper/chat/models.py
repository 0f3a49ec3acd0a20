"""The benchmark's one model."""

from __future__ import annotations

from django.db import models


class Message(models.Model):
    """A chat message; every save is broadcast by ``chat.broadcasts``."""

    text = models.TextField()

    def __str__(self) -> str:
        return self.text
