"""Processes the harness starts: servers and drivers, their logs, CPU time and memory.

Every process starts in a session of its own, so that it and anything it forks
form one process group: CPU time and memory are summed over the group, and the
group is what gets killed. Groups still alive when the harness exits are killed
by an ``atexit`` hook, whatever made it exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.system import Process

#: Process groups started and not yet stopped, killed at exit.
_live_groups: set[int] = set()
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@atexit.register
def _kill_leftovers() -> None:
    for group in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    _live_groups.clear()


def free_port() -> int:
    """A free TCP port below Linux's ephemeral range (32768 and up by default).

    A port the kernel handed out could be given again, between this probe and
    the server's bind, to an outgoing connection: one of a thousand clients.
    """
    while True:
        port = random.randrange(20000, 32768)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


#: Runs a server's console script (``<venv>/bin/daphne ...``, given after it)
#: with the garbage collector's thresholds set from ``BENCH_GC_THRESHOLD``.
GC_PRELUDE = (
    "import gc, os, runpy, sys; "
    "gc.set_threshold(*map(int, os.environ['BENCH_GC_THRESHOLD'].split(','))); "
    "sys.argv.pop(0); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def with_gc_threshold(process: Process) -> Process:
    """``process``, a console script of a virtualenv, run by that virtualenv's
    python after :data:`GC_PRELUDE` (the same for every system and server)."""
    python = str(Path(process.argv[0]).parent / "python")
    return dataclasses.replace(process, argv=[python, "-c", GC_PRELUDE, *process.argv])


def environment(process: Process, extra: dict[str, str]) -> dict[str, str]:
    """The environment of ``process``: the harness's, the run's ``extra``, then its own."""
    return {**os.environ, **extra, **process.env}


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it is empty."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(kept) if kept else f"({path} is empty)"


def group_pids(group: int) -> list[int]:
    """The live processes of process group ``group``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry))
        except OSError:
            continue
        if int(fields[2]) == group:
            pids.append(int(entry))
    return pids


def _stat_fields(pid: int) -> list[str]:
    # The command name, in parentheses, may contain spaces: split after it.
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rfind(")") + 2 :].split()


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by the live processes of ``group``.

    Summed from each thread's ``schedstat`` (nanoseconds) where the kernel has
    it, since ``stat``'s utime + stime count in ticks of 10 ms: too coarse for a
    scenario of a hundred deliveries. Falls back to ``stat`` otherwise.
    """
    total = 0.0
    for pid in group_pids(group):
        try:
            total += _schedstat_seconds(pid)
        except OSError:
            with contextlib.suppress(OSError):
                fields = _stat_fields(pid)
                total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _schedstat_seconds(pid: int) -> float:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return total / 1e9


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores, every process), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user time.
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def rss_bytes(group: int) -> int:
    """Resident memory (``VmRSS``) of the live processes of ``group``, in bytes."""
    total = 0
    for pid in group_pids(group):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class Started:
    """A process the harness started: its group, its log, and how to stop it."""

    def __init__(self, name: str, pid: int, log: Path) -> None:
        self.name, self.pid, self.log = name, pid, log
        _live_groups.add(pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def returncode(self) -> int | None:
        raise NotImplementedError

    def describe_failure(self, what: str) -> str:
        """``what`` went wrong, with the process's exit status and the tail of its log."""
        code = self.returncode()
        status = "still running" if code is None else f"exited with {code}"
        return f"{what} ({self.name} {status}); tail of {self.log}:\n{tail(self.log)}"

    def kill_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


class Server(Started):
    """A server process, started with its output going to its log file."""

    def __init__(self, name: str, process: Process, extra_env: dict[str, str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as output:
            self.popen = subprocess.Popen(
                process.argv,
                env=environment(process, extra_env),
                cwd=process.cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        super().__init__(name, self.popen.pid, log)

    def returncode(self) -> int | None:
        return self.popen.poll()

    async def wait_port(self, port: int, timeout: float = 60.0) -> None:
        """Return once ``port`` accepts connections; raise if the server dies or is slow."""
        deadline = time.monotonic() + timeout
        while True:
            if self.returncode() is not None:
                raise RuntimeError(self.describe_failure(f"the server never opened port {port}"))
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        self.describe_failure(f"port {port} still closed after {timeout:.0f} s")
                    ) from None
                await asyncio.sleep(0.05)  # polling a port: there is no event to await
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL it if the server outlives ``grace`` seconds."""
        if self.returncode() is None:
            self.kill_group(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.returncode() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # Popen has no awaitable exit
        self.kill_group(signal.SIGKILL)
        self.popen.wait()
        _live_groups.discard(self.pid)


class Driver(Started):
    """A driver: commands on its stdin, ``ready`` and ``sent`` lines on its stdout."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        super().__init__(name, process.pid, log)

    @classmethod
    async def start(
        cls, name: str, process: Process, extra_env: dict[str, str], log: Path
    ) -> Driver:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as output:
            started = await asyncio.create_subprocess_exec(
                *process.argv,
                env=environment(process, extra_env),
                cwd=process.cwd,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=output,
                start_new_session=True,
            )
        return cls(name, started, log)

    def returncode(self) -> int | None:
        return self.process.returncode

    async def expect(self, word: str, timeout: float) -> None:
        """Wait for a line ``word`` on stdout; other lines are logged to the console."""
        deadline = time.monotonic() + timeout
        while True:
            line = await self.reply(deadline - time.monotonic(), f"{word!r}")
            if line == word:
                return
            print(f"    driver: {line}")

    async def reply(self, timeout: float, what: str = "an answer") -> str:
        """The next line on stdout (stripped); raise if none comes within ``timeout`` s."""
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), max(timeout, 0.001))
        except TimeoutError:
            raise RuntimeError(
                self.describe_failure(f"no {what} from {self.name} in {timeout:.0f} s")
            ) from None
        if not line:
            await self.process.wait()
            raise RuntimeError(self.describe_failure(f"{self.name} ended before {what}"))
        return line.decode(errors="replace").strip()

    async def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def stop(self, grace: float = 10.0) -> None:
        """Close stdin (the driver exits at end of input); kill it if it does not."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.kill_group(signal.SIGKILL)
            await self.process.wait()
        self.kill_group(signal.SIGKILL)  # anything it left behind in its group
        _live_groups.discard(self.pid)
