"""Broadcast every saved Message to the group, the way the Channels docs show."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.template.loader import render_to_string

from .consumers import GROUP
from .models import Message


@receiver(post_save, sender=Message)
def broadcast_message(sender: type[Message], instance: Message, **kwargs: Any) -> None:
    html = render_to_string("bench/stream.html", {"message": instance})
    async_to_sync(get_channel_layer().group_send)(GROUP, {"type": "chat.message", "html": html})
