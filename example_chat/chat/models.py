from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class RoomQuerySet(models.QuerySet):
    def visible_to(self, user) -> RoomQuerySet:
        """The rooms ``user`` may open: the public ones, and their own private ones."""
        if not user.is_authenticated:
            return self.filter(private=False)
        return self.filter(models.Q(private=False) | models.Q(owner=user))


class Room(models.Model):
    name = models.CharField(max_length=100)
    # A private room is its owner's alone: RoomStream.user_passes_test says so.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    private = models.BooleanField(default=False)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("room_detail", args=[self.pk])

    def visible_to(self, user) -> bool:
        return not self.private or (user.is_authenticated and user.pk == self.owner_id)


class Message(models.Model):
    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.text
