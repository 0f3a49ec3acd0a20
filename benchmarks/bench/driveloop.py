"""The command loop every driver of ours runs (stdlib only).

A driver reads ``send <count> <rate> <first_seq>`` lines from stdin and makes
one broadcast per sequence number, paced at ``rate`` per second (0: as fast as
possible), then prints ``sent``. It prints ``ready`` first and exits at the end
of its input. See :meth:`bench.system.System.driver`.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def body(seq: int, t0: float) -> str:
    """The text every system puts into its message: what the clients parse."""
    return f"seq={seq};t0={t0:.6f}"


def send(broadcast: Callable[[int, float], None], count: int, rate: float, first: int) -> int:
    """Make ``count`` broadcasts from ``first`` on, paced at ``rate``; the number that failed."""
    failed = 0
    start = time.monotonic()
    for k in range(count):
        if rate > 0:
            # Pacing, not synchronisation: the k-th broadcast is due at start + k / rate.
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            broadcast(first + k, time.time())
        except Exception:
            # Reported on stderr (the harness keeps it in a log); the clients will
            # miss this delivery, and the harness reports it as lost.
            failed += 1
            if failed <= 3:
                traceback.print_exc()
    return failed


def serve(broadcast: Callable[[int, float], None]) -> None:
    """Print ``ready``, then run ``send`` commands from stdin until it ends."""
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "send" and len(words) == 4:
            failed = send(broadcast, int(words[1]), float(words[2]), int(words[3]))
            if failed:
                print(f"{failed} of {words[1]} broadcasts failed", file=sys.stderr, flush=True)
            print("sent", flush=True)
        else:
            print(f"unknown command: {line.strip()!r}", file=sys.stderr, flush=True)
