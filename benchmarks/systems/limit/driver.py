"""Driver of the limit: PUBLISH the same frame our system sends, with redis-py.

No Django: the frame is :func:`frame.frame`, shared with the app's save endpoint.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import redis
from frame import CHANNEL, REDIS_URL, frame

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.driveloop import body, serve


def main() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    # Numbered like the rows of a fresh table, so the frames have the same sizes as ours.
    pks = itertools.count(1)

    def publish(seq: int, t0: float) -> None:
        client.publish(CHANNEL, frame(next(pks), body(seq, t0)))

    serve(publish)


if __name__ == "__main__":
    main()
