"""A client process of the scale scenario: some of its N websocket clients, in a loop of their own.

One process cannot read 10,000 sockets' frames without being the bottleneck,
so :class:`bench.fleet.Fleet` spreads them over several of these, run by the
harness's Python::

    python .../bench/clientproc.py <system.pickle> <url> <origin> <count> [resume]

It unpickles the system (what a client needs of it: a token, say), connects
``count`` clients with :class:`bench.clients.Clients` (``resume``: each
reconnects as the browser does), prints one JSON line, then answers commands
on stdin, one JSON line each:

``open <first> <count> <goal> <receipts>``
    start a window of the :class:`~bench.clients.Recorder` (``receipts`` 0 or 1);
``status``
    what the window got so far (``delivered``, ``expected``, ``reached``,
    ``last_frame``: ``time.monotonic()``, one clock for every process);
``report <path>``
    write the window's figures to ``path`` (JSON: latencies included, and each
    outage a client went through during the window with when it caught up).

It closes its sockets and exits at the end of its input.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.clients import Clients, Recorder
from bench.main import event_loop_runner

if TYPE_CHECKING:
    from bench.clients import Outage


def say(answer: dict[str, Any]) -> None:
    print(json.dumps(answer), flush=True)


def caught_up(outage: Outage, recorder: Recorder, client: int) -> float | None:
    """When a client back from ``outage`` held every message saved before it was back.

    That is the later of its resubscription and the last arrival of a message
    whose ``t0`` is before it (replayed in the answer, or in flight then); None
    if one never arrived, or the client is not back.
    """
    back = outage.resubscribed_at
    if back is None or recorder.receipts is None:
        return None
    receipts = recorder.receipts[client]
    latest = back
    for seq, t0 in recorder.t0.items():
        if t0 < back:
            if seq not in receipts:
                return None
            latest = max(latest, receipts[seq])
    return latest


def report(clients: Clients, recorder: Recorder, window_opened: float) -> dict[str, Any]:
    """The window's figures, and the outages that began in it."""
    outages = []
    for client, each in clients.outages.items():
        for outage in each:
            if outage.closed_at >= window_opened:
                outages.append(
                    {
                        "client": client,
                        "closed_at": outage.closed_at,
                        "code": outage.code,
                        "attempts": outage.attempts,
                        "resubscribed_at": outage.resubscribed_at,
                        "caught_up_at": caught_up(outage, recorder, client),
                    }
                )
    # Deliveries a client never got, by client: who lost what.
    missing = [recorder.end - recorder.first - len(seen) for seen in recorder.seen]
    return {
        "clients": recorder.clients,
        "expected": recorder.expected,
        "delivered": recorder.delivered,
        "duplicates": recorder.duplicates,
        "stray": recorder.stray,
        "clients_missing": sum(1 for m in missing if m),
        "latencies": recorder.latencies,
        "first_receive": recorder.first_receive,
        "last_receive": recorder.last_receive,
        "protocol_errors": getattr(clients.system, "protocol_errors", 0),
        "refreshes": getattr(clients.system, "refreshes", 0),
        "closed": dict(Counter(clients.closed)),
        "outages": outages,
    }


async def serve(clients: Clients, recorder: Recorder) -> None:
    """Answer the harness's commands until its end of input."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    opened = 0.0
    while line := await stdin.readline():
        words = line.decode().split()
        if words[:1] == ["open"] and len(words) == 5:
            first, count, goal, receipts = int(words[1]), int(words[2]), words[3], words[4]
            recorder.open(first, count, len(clients.sockets), goal, receipts == "1")
            opened = time.time()
            say({"opened": first})
        elif words == ["status"]:
            say(
                {
                    "delivered": recorder.delivered,
                    "expected": recorder.expected,
                    "reached": recorder.reached,
                    "last_frame": recorder.last_frame,
                    "done": recorder.done.is_set(),
                }
            )
        elif words[:1] == ["report"] and len(words) == 2:
            Path(words[1]).write_text(json.dumps(report(clients, recorder, opened)))
            say({"report": words[1]})
        else:
            say({"error": f"unknown command: {line.decode().strip()!r}"})


async def main(argv: list[str]) -> None:
    state, url, origin, count = argv[0], argv[1], argv[2], int(argv[3])
    system = pickle.loads(Path(state).read_bytes())
    recorder = Recorder()
    clients = Clients(system, url, origin, recorder, resume=argv[4:] == ["resume"])
    error = None
    try:
        await clients.connect(count)
    except RuntimeError as failed:
        # How many could connect is a result (the scale scenario steps down).
        error = str(failed)
    say({"connected": len(clients.sockets), "failed": count - len(clients.sockets), "error": error})
    try:
        await serve(clients, recorder)
    finally:
        await clients.close()


if __name__ == "__main__":
    with event_loop_runner() as runner:
        runner.run(main(sys.argv[1:]))
