"""The benchmark's one model."""

from __future__ import annotations

from django.db import models


class Message(models.Model):
    text = models.CharField(max_length=500)

    def __str__(self) -> str:
        return self.text
