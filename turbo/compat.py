"""Every use of another project's private internals, in one place.

Django, Channels and channels_redis offer no public API for a few things the
package needs. Each such use is a small function here, with a comment on why,
and a test in ``tests/test_compat.py`` that fails loudly, naming the upstream
assumption, when an upgrade breaks it. No other module reaches past a public API.
"""

from __future__ import annotations

import re
from typing import Any

# Django


# Channels


# channels_redis


def default_channel_capacity(layer: Any, prefix: str, capacity: int) -> None:
    """Let ``layer``'s channels named ``prefix`` and more hold ``capacity`` messages.

    ``layer`` is a channels_redis core ``RedisChannelLayer``. A capacity its
    ``CONFIG`` gives those channels is kept, and a smaller one is not lowered.
    """
    # The core layer reads CONFIG's channel_capacity only when it is built,
    # into a list of (compiled pattern, capacity) pairs that get_capacity()
    # tries in order: there is no public way to add one later. Appended last,
    # a pattern the user configured for these channels still matches first.
    if layer.get_capacity(f"{prefix}x") == layer.capacity:
        pattern = re.compile(re.escape(prefix))
        layer.channel_capacity.append((pattern, max(layer.capacity, capacity)))


# asyncio
