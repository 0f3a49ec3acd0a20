"""What the harness needs from each system under test.

A system is one way of pushing the same HTML fragment from a Django save (or,
for the limit, a Redis publish) to N websocket clients: ours, the baselines
and the peers. The harness starts the system's server (daphne or uvicorn, one
process), connects N clients with ``websockets``, drives broadcasts through the
system's *driver* process, and measures.

In the POST scenarios the *poster* drives instead: each broadcast is a form
POST to the system's save view, served by the server under test, which saves
(or publishes) in the process that holds the sockets.

Every broadcast carries ``seq=<int>;t0=<float>`` in its HTML, where ``t0`` is
``time.time()`` taken by the driver just before ``save()`` (or publish), or by
the poster just before it sends the request: the client reads the pair out of
whatever frame format the system uses, so latency is measured end to end with
one clock (all processes share the machine).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

Server = Literal["daphne", "uvicorn"]

#: The driver of every system's POST scenarios.
POSTER = Path(__file__).resolve().parent / "poster.py"

#: Finds the deliveries in a frame, in any encoding that keeps the text as is
#: (raw HTML, or HTML inside a JSON string).
DELIVERY = re.compile(r"seq=(\d+);t0=([0-9.]+)")


def deliveries(frame: str | bytes) -> list[tuple[int, float]]:
    """The ``(seq, t0)`` pairs in ``frame``."""
    text = frame.decode() if isinstance(frame, bytes) else frame
    return [(int(seq), float(t0)) for seq, t0 in DELIVERY.findall(text)]


@dataclass
class Process:
    """A command the harness runs: argv, extra environment, working directory."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


class System:
    """Base class: one system under test. Subclasses fill in every method.

    Life cycle, for one harness run: ``setup()`` once (build a virtualenv,
    migrate a fresh SQLite database); then per (server, N): the harness starts
    ``server(kind, port)`` and waits for its port, starts ``driver()`` (and
    ``poster(port)`` if a scenario posts), connects N clients to ``url(port)``
    with ``Origin: http://127.0.0.1:<port>`` and calls ``subscribe()`` on each;
    then per scenario it writes ``send <count> <rate> <first_seq>\\n`` to the
    stdin of the driver (of the poster, in a POST scenario; rate 0 means as fast
    as possible) and waits for its ``sent\\n`` line, while every client feeds
    each frame it receives to ``on_frame()``.
    """

    #: Short name used in the table, the JSON and the plot.
    name: str = ""
    #: One line for the report: what this system is, with versions.
    description: str = ""
    #: The path of the save view: a form POST of ``text`` saves a message
    #: (or, for the limit, publishes it) and is answered with a 303.
    save_path: str = "/messages/"
    #: Whether a client that lost its socket can come back where it stood:
    #: a subscribe from a position, answered with what it missed. Only such a
    #: system is measured losing a server process (the scale scenario).
    resumes: bool = False

    def setup(self, workdir: Path) -> None:
        """Prepare everything (virtualenv, database) under ``workdir``; idempotent."""
        raise NotImplementedError

    def server(self, kind: Server, port: int) -> Process:
        """The command serving this system's ASGI app on 127.0.0.1:``port``."""
        raise NotImplementedError

    def driver(self) -> Process:
        """The long-running process that broadcasts on ``send`` commands.

        It reads lines ``send <count> <rate> <first_seq>`` from stdin; for each
        ``i`` in ``range(first_seq, first_seq + count)`` it takes
        ``t0 = time.time()`` and saves (or publishes) a message whose HTML
        contains ``seq=<i>;t0=<t0>``, pacing the saves at ``rate`` per second
        (0: no pacing); then prints ``sent`` and flushes. It prints ``ready``
        once it can take commands, and exits at end of input. A line
        ``save-cost <count>`` may be supported by systems that measure it.
        """
        raise NotImplementedError

    def poster(self, port: int) -> Process:
        """The driver of the POST scenarios: the same commands as :meth:`driver`,
        each broadcast a POST to ``save_path``. The harness's Python runs it, for
        every system alike: its CPU is not the server's."""
        return Process([sys.executable, str(POSTER), f"http://127.0.0.1:{port}{self.save_path}"])

    def url(self, port: int) -> str:
        """The websocket URL clients connect to."""
        raise NotImplementedError

    async def subscribe(
        self, socket: ClientConnection, previous: ClientConnection | None = None
    ) -> list[tuple[int, float]]:
        """Subscribe a freshly connected client to the benchmark's stream.

        Returns once the server has confirmed the subscription (or, for a
        protocol without confirmation, once it is certainly in effect), with
        the ``(seq, t0)`` pairs the subscription itself delivered. ``previous``
        is the socket the same client held before, when it reconnects: a system
        that :attr:`resumes` subscribes from where that one stood, and its
        answer may replay what the client missed meanwhile.
        """
        raise NotImplementedError

    async def on_frame(
        self, socket: ClientConnection, frame: str | bytes
    ) -> list[tuple[int, float]]:
        """Handle one received frame; return the ``(seq, t0)`` pairs it delivered.

        A protocol that needs answers (acknowledgements, pongs) sends them here.
        """
        return deliveries(frame)
