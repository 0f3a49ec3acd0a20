"""The clients of the scale scenario: N websockets over several client processes, asked as one.

Each process is a :mod:`bench.clientproc`, run by the harness's Python and
driven like a driver (:class:`bench.procs.Driver`: commands on its stdin, one
JSON answer line each on its stdout). A :class:`Fleet` looks like a
:class:`bench.clients.Recorder` to :func:`bench.runner.wait_for_deliveries`
and :func:`bench.runner.broadcast_until_reached`: ``done``, ``reached`` and
``last_frame``, kept up to date by polling the processes while a window is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.procs import Driver
from bench.system import Process

if TYPE_CHECKING:
    from bench.system import System

CLIENTPROC = Path(__file__).resolve().parent / "clientproc.py"
#: How long the processes may take to connect and subscribe all their clients.
CONNECT_TIMEOUT = 300.0
#: How long a process may take to answer a command (it serves sockets meanwhile).
ANSWER_TIMEOUT = 60.0
#: How often a window's progress is polled: the resolution of ``done``.
POLL = 0.25


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` counts as even as can be (no empty one)."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class Fleet:
    """N clients of ``system`` in client processes, through one URL."""

    def __init__(self, workers: list[Driver], answers: list[dict[str, Any]]) -> None:
        self.workers = workers
        self.connected = sum(a["connected"] for a in answers)
        self.failed = sum(a["failed"] for a in answers)
        self.errors = [a["error"] for a in answers if a["error"]]
        self.done = asyncio.Event()
        self.reached = 0
        self.delivered = 0
        self.last_frame = time.monotonic()
        self.watcher: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        system: System,
        url: str,
        origin: str,
        n: int,
        procs: int,
        logs: Path,
        label: str,
        extra_env: dict[str, str],
    ) -> Fleet:
        """Start the processes and wait until each has connected its share of ``n`` clients.

        Clients that could not connect are counted (``failed``), not raised:
        how many a system can hold is a result.
        """
        state = logs / f"{label}-system.pickle"
        state.write_bytes(pickle.dumps(system))
        resume = ["resume"] if system.resumes else []
        workers: list[Driver] = []
        try:
            for index, count in enumerate(shares(n, procs)):
                argv = [sys.executable, str(CLIENTPROC), str(state), url, origin, str(count)]
                workers.append(
                    await Driver.start(
                        f"{label} clients {index}",
                        Process([*argv, *resume]),
                        extra_env,
                        logs / f"{label}-clients-{index}.log",
                    )
                )
            answers = await asyncio.gather(
                *(w.reply(CONNECT_TIMEOUT, "its clients connected") for w in workers)
            )
        except BaseException:
            await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
            raise
        return cls(workers, [json.loads(a) for a in answers])

    async def ask(self, command: str) -> list[dict[str, Any]]:
        """Send ``command`` to every process; their answers."""

        async def one(worker: Driver) -> dict[str, Any]:
            await worker.command(command)
            answer = json.loads(await worker.reply(ANSWER_TIMEOUT, f"an answer to {command!r}"))
            if "error" in answer and len(answer) == 1:
                raise RuntimeError(f"{worker.name}: {answer['error']}")
            return answer

        return await asyncio.gather(*(one(w) for w in self.workers))

    async def open(self, first: int, count: int, goal: str = "all", receipts: bool = False) -> None:
        """Open a window of ``count`` messages from ``first`` in every process, and watch it."""
        await self.unwatch()
        await self.ask(f"open {first} {count} {goal} {int(receipts)}")
        self.done, self.reached, self.delivered = asyncio.Event(), 0, 0
        self.watcher = asyncio.create_task(self.watch())

    async def watch(self) -> None:
        # The processes cannot signal: poll them (the answers are small).
        while True:
            statuses = await self.ask("status")
            self.reached = sum(s["reached"] for s in statuses)
            self.delivered = sum(s["delivered"] for s in statuses)
            self.last_frame = max(s["last_frame"] for s in statuses)
            if all(s["done"] for s in statuses):
                self.done.set()
                return
            await asyncio.sleep(POLL)

    async def unwatch(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
            self.watcher = None

    async def report(self, directory: Path, name: str) -> dict[str, Any]:
        """The open window's figures, summed over the processes.

        Each outage names its client as ``<process>.<index>``.
        """
        await self.unwatch()
        paths = [directory / f"{name}-clients-{i}.json" for i in range(len(self.workers))]

        async def one(worker: Driver, path: Path) -> dict[str, Any]:
            await worker.command(f"report {path}")
            await worker.reply(ANSWER_TIMEOUT, "its report")
            return json.loads(path.read_text())

        parts = await asyncio.gather(*(one(w, p) for w, p in zip(self.workers, paths, strict=True)))
        merged: dict[str, Any] = {"latencies": [], "closed": Counter(), "outages": []}
        for index, part in enumerate(parts):
            merged["latencies"].extend(part.pop("latencies"))
            merged["closed"].update(part.pop("closed"))
            for outage in part.pop("outages"):
                outage["client"] = f"{index}.{outage['client']}"
                merged["outages"].append(outage)
            for key, value in part.items():
                if isinstance(value, int | float) and key not in {"first_receive", "last_receive"}:
                    merged[key] = merged.get(key, 0) + value
        ends = [p["last_receive"] for p in parts if p["last_receive"]]
        merged["last_receive"] = max(ends) if ends else None
        return merged

    def cpu_seconds(self) -> float:
        """CPU time the client processes used so far."""
        return sum(w.cpu_seconds() for w in self.workers)

    async def stop(self) -> None:
        """Close every socket and end the processes."""
        await self.unwatch()
        # A process closes its sockets (10 s at most) before it exits.
        await asyncio.gather(*(w.stop(grace=30.0) for w in self.workers), return_exceptions=True)
