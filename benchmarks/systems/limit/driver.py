"""Driver of the limit: PUBLISH the same frame our system sends, with redis-py.

No Django: the fragment is formatted from a string that reproduces the markup
of ``bench/message.html`` in a ``<turbo-stream action="append">``, wrapped in
the JSON message frame of turbo's protocol, under a group name of the same
length as a turbo stream's.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.driveloop import body, serve

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


def main() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    # Numbered like the rows of a fresh table, so the frames have the same sizes as ours.
    pks = itertools.count(1)

    def publish(seq: int, t0: float) -> None:
        html = FRAGMENT.format(pk=next(pks), text=body(seq, t0))
        frame = {"type": "message", "stream": GROUP, "html": html}
        client.publish(CHANNEL, json.dumps(frame, separators=(",", ":")))

    serve(publish)


if __name__ == "__main__":
    main()
