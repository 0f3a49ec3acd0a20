"""The frame the limit publishes: the same bytes turbo's consumer sends, built without Django.

The fragment is formatted from a string that reproduces the markup of
``bench/message.html`` in a ``<turbo-stream action="append">``, wrapped in the
JSON message frame of turbo's protocol, under a group name of the same length
as a turbo stream's. Shared by the driver (which publishes with redis-py) and
the app's save endpoint (which publishes with redis.asyncio).
"""

from __future__ import annotations

import json
import os

CHANNEL = os.environ.get("BENCH_REDIS_PREFIX", "bench") + ".limit"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
#: As long as a turbo stream's group ("turbo." and 32 hex digits).
GROUP = "turbo." + "0" * 32
#: The markup turbo renders from benchmarks/systems/turbo/feed/templates/bench/message.html.
FRAGMENT = (
    '<turbo-stream action="append" target="messages"><template>'
    '<li id="message-{pk}" class="message">\n'
    '  <span class="author">anonymous</span>\n'
    '  <span class="text">{text}</span>\n'
    "</li>\n"
    "</template></turbo-stream>"
)


def frame(pk: int, text: str) -> str:
    """The JSON frame of message ``pk`` whose text is ``text``."""
    html = FRAGMENT.format(pk=pk, text=text)
    return json.dumps({"type": "message", "stream": GROUP, "html": html}, separators=(",", ":"))
