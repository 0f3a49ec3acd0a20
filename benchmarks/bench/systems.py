"""Our systems under test: the limit, stock Channels, and django-turbo-streams.

All three run in the harness's own virtualenv (``sys.executable``); the peers,
each in a virtualenv of its own, come from :mod:`bench.peers`, imported only
when asked for, so that the harness runs without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import weakref
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from bench.system import Process, Server, System, deliveries
from bench.turbo_page import Page, answer, is_message, live_message

if TYPE_CHECKING:
    from collections.abc import Callable

    from websockets.asyncio.client import ClientConnection

SYSTEMS_DIR = Path(__file__).resolve().parent.parent / "systems"
BIN = Path(sys.executable).parent
#: The driver of every Django system (ours and the peers'), given the model it saves.
DJANGO_DRIVER = Path(__file__).resolve().parent / "django_driver.py"
#: The systems of a full run, in table order.
DEFAULT = ["limit", "channels", "turbo", "turbo-django", "turbo-helper"]


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` in the harness's virtualenv."""
    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def serve(kind: Server, app: str, port: int, cwd: Path, env: dict[str, str]) -> Process:
    """The daphne or uvicorn command serving ``app`` from ``cwd``, both quiet."""
    if kind == "daphne":
        # Twisted's accept backlog is 50; uvicorn's 2048. A server taking the
        # sockets of one that died (scale-10k) needs room to queue them.
        endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=2048"
        argv = [str(BIN / "daphne"), "-e", endpoint, "-v", "0", app]
    else:
        argv = [
            *(str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning", "--no-access-log", "--lifespan", "off"),
        ]
    return Process(argv, env, cwd)


def run_checked(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a setup command; its stdout, or an error carrying its output."""
    done = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({done.returncode}) in {cwd}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


class Limit(System):
    """A plain ASGI app fanning Redis pub/sub messages out to every socket."""

    name = "limit"
    description = "plain ASGI app + redis.asyncio pub/sub, no Django, no Channels"
    directory = SYSTEMS_DIR / "limit"

    def setup(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)

    def versions(self) -> dict[str, str]:
        return versions("redis", "daphne", "uvicorn")

    def server(self, kind: Server, port: int) -> Process:
        return serve(kind, "app:app", port, self.directory, {})

    def driver(self) -> Process:
        return Process([sys.executable, "driver.py"], {}, self.directory)

    def url(self, port: int) -> str:
        return f"ws://127.0.0.1:{port}/"

    async def subscribe(
        self, socket: ClientConnection, previous: ClientConnection | None = None
    ) -> list[tuple[int, float]]:
        # Every open socket receives everything; the warm-up proves it.
        return []


class DjangoSystem(System):
    """A Django project under ``systems/<directory>`` with a fresh SQLite database."""

    directory: Path
    env: dict[str, str]

    def setup(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        database = workdir / "db.sqlite3"
        database.unlink(missing_ok=True)
        self.env = {"BENCH_DB": str(database), "DJANGO_SETTINGS_MODULE": "project.settings"}
        run_checked([sys.executable, "manage.py", "migrate", "-v", "0"], self.directory, self.env)

    def versions(self) -> dict[str, str]:
        return versions("django", "channels", "channels-redis", "redis", "daphne", "uvicorn")

    def server(self, kind: Server, port: int) -> Process:
        return serve(kind, "project.asgi:application", port, self.directory, self.env)

    def driver(self) -> Process:
        return Process(
            [sys.executable, str(DJANGO_DRIVER), "feed.Message"], self.env, self.directory
        )


class Channels(DjangoSystem):
    """Stock Channels: a consumer per socket in one group, group_send from a receiver."""

    name = "channels"
    description = "stock Channels: AsyncWebsocketConsumer in a group, group_send on post_save"
    directory = SYSTEMS_DIR / "channels"

    def url(self, port: int) -> str:
        return f"ws://127.0.0.1:{port}/ws/messages/"

    async def subscribe(
        self, socket: ClientConnection, previous: ClientConnection | None = None
    ) -> list[tuple[int, float]]:
        # The consumer joins its group before it accepts: an open socket is subscribed.
        return []


class Turbo(DjangoSystem):
    """django-turbo-streams, through its public API and its own websocket protocol.

    Each client is a page of ``turbo_streams.js`` (:class:`bench.turbo_page.Page`):
    it acknowledges frames each time 32 KiB of them have arrived since the last
    acknowledgement (the server requires one at least every 64 KiB), applies
    each message once and in order by its position, and, when it reconnects,
    subscribes from the position of the last message it applied, so that the
    server replays what it missed. Error frames are counted in
    ``protocol_errors``: a server that does not know acknowledgements answers
    each with one.
    """

    name = "turbo"
    description = "django-turbo-streams (this repository): ModelStream + turbo consumer"
    directory = SYSTEMS_DIR / "turbo"
    resumes = True
    #: Characters of frames after which the client acknowledges.
    ACK_EVERY = 32 * 1024

    def __init__(self) -> None:
        self.token = ""
        self.protocol_errors = 0
        self.pages: weakref.WeakKeyDictionary[ClientConnection, Page] = weakref.WeakKeyDictionary()

    def __getstate__(self) -> dict[str, object]:
        # What a client process needs (bench.clientproc): not the pages of this one.
        return {"token": self.token}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]
        self.__dict__.update(state)

    @property
    def refreshes(self) -> int:
        """How often the pages would have reloaded: what they missed did not come."""
        return sum(page.refreshes for page in self.pages.values())

    def setup(self, workdir: Path) -> None:
        super().setup(workdir)
        command = [sys.executable, "subscription_token.py"]
        self.token = run_checked(command, self.directory, self.env).strip()

    def versions(self) -> dict[str, str]:
        found = super().versions()
        found["django-turbo-streams"] = version("django-turbo-streams") + git_revision()
        return found

    def url(self, port: int) -> str:
        return f"ws://127.0.0.1:{port}/ws/turbo/"

    async def subscribe(
        self, socket: ClientConnection, previous: ClientConnection | None = None
    ) -> list[tuple[int, float]]:
        page = self.pages.get(previous) if previous is not None else None
        if page is None:
            page = Page(self.ACK_EVERY)
        self.pages[socket] = page
        await socket.send(json.dumps(page.subscribe_frame(socket, self.token)))
        while True:
            text = await socket.recv()
            assert isinstance(text, str)
            await page.received(text)
            if is_message(text):
                # Broadcast before the answer: held until what was missed is applied.
                await page.on_message(live_message(text))
                continue
            frame = answer(text)
            if frame.get("type") == "subscribed":
                return await page.subscribed(frame)
            if frame.get("type") in {"rejected", "error"}:
                raise RuntimeError(f"the subscription was refused: {frame}")

    async def on_frame(
        self, socket: ClientConnection, frame: str | bytes
    ) -> list[tuple[int, float]]:
        if isinstance(frame, bytes):
            self.protocol_errors += 1
            return deliveries(frame)
        page = self.pages[socket]
        await page.received(frame)
        # Message frames are the hot path: spotted without parsing the JSON.
        if is_message(frame):
            return await page.on_message(live_message(frame))
        parsed = answer(frame)
        if parsed.get("type") == "replayed":
            return await page.replayed(parsed)
        if parsed.get("type") == "error":
            self.protocol_errors += 1
        return []


def git_revision() -> str:
    """`` (git <short hash>[+dirty])`` of the repository, or nothing without git."""
    root = SYSTEMS_DIR.parent.parent
    git = shutil.which("git")
    if git is None:
        return ""
    described = subprocess.run(
        [git, "describe", "--always", "--dirty=+dirty", "--abbrev=10"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return f" (git {described.stdout.strip()})" if described.returncode == 0 else ""


OURS: dict[str, type[System]] = {"limit": Limit, "channels": Channels, "turbo": Turbo}


def peer_systems() -> dict[str, Callable[[], System]]:
    """Factories of the peers' systems from :mod:`bench.peers`, by name.

    Every ``System`` subclass defined in that module with a ``name`` counts.
    """
    module = import_module("bench.peers")
    return {
        value.name: value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, System)
        and value.__module__ == module.__name__
        and value.name
    }


def load(names: list[str]) -> tuple[list[System], list[str]]:
    """Instances of the systems ``names``, and the errors of those that cannot load."""
    available: dict[str, Callable[[], System]] = dict(OURS)
    errors = []
    if any(name not in OURS for name in names):
        try:
            available.update(peer_systems())
        except Exception as error:
            errors.append(f"bench.peers cannot be imported: {error!r}")
    systems = []
    for name in names:
        if name not in available:
            errors.append(f"no system named {name!r} (known: {', '.join(available)})")
            continue
        try:
            systems.append(available[name]())
        except Exception as error:
            errors.append(f"the system {name!r} cannot be created: {error!r}")
    return systems, errors
