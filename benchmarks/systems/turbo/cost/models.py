"""Two models that differ only in that :class:`Streamed` has a ModelStream."""

from __future__ import annotations

from django.db import models


class Plain(models.Model):
    text = models.CharField(max_length=500)

    def __str__(self) -> str:
        return self.text


class Streamed(models.Model):
    text = models.CharField(max_length=500)

    def __str__(self) -> str:
        return self.text
