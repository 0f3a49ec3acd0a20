from __future__ import annotations

import uuid

from django.db import models


class Room(models.Model):
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.text


class PinnedMessage(Message):
    """Proxy: saves send ``sender=PinnedMessage``."""

    class Meta:
        proxy = True


class Announcement(Message):
    """Multi-table child: saves send ``sender=Announcement``."""

    level = models.IntegerField(default=0)


class Document(models.Model):
    """UUID primary key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=100)


class Tag(models.Model):
    """String primary key."""

    slug = models.SlugField(primary_key=True)


class Plain(models.Model):
    """A model without a stream, to measure against."""

    name = models.CharField(max_length=100)


class Board(models.Model):
    """Declares its broadcasts in its streams' Meta (``broadcasts_refreshes``)."""

    name = models.CharField(max_length=100)


class Card(models.Model):
    """Two streams: ``card.stream`` (``broadcasts = True``) and ``card.board_updates``."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="cards")
    title = models.CharField(max_length=100)
