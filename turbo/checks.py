"""System checks: configuration mistakes reported by ``manage.py check``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.compatibility)
def check_channel_layer(**kwargs: Any) -> list[CheckMessage]:
    """Warn when no channel layer is configured: broadcasts would go nowhere."""
    if "default" in getattr(settings, "CHANNEL_LAYERS", {}):
        return []
    return [
        Warning(
            "No default channel layer is configured, so turbo broadcasts cannot reach any page.",
            hint=(
                "Set CHANNEL_LAYERS = {'default': {'BACKEND': "
                "'channels.layers.InMemoryChannelLayer'}} for development, or a "
                "channels_redis layer in production."
            ),
            id="turbo.W001",
        )
    ]
