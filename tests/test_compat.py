"""Each private upstream internal that :mod:`turbo.compat` relies on is still there."""

from __future__ import annotations

# Django


# Channels


# channels_redis


# asyncio
