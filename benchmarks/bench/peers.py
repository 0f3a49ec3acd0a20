"""The peers: turbo-django and django-turbo-helper, each from PyPI in its own virtualenv.

Each is a minimal Django project under ``benchmarks/systems/`` whose Message
saves broadcast the library's idiomatic way, and each is driven through its own
protocol: the clients send and read exactly what the library's JavaScript would.

turbo-django 0.4.4 (``systems/turbo_django``): its ``turbo-django.js`` opens
``/ws/`` and sends ``{"type": "subscribe", "signed_channel_name", "args",
"kwargs"}`` taken from the ``<turbo-channels-stream-source>`` element that
``{% turbo_subscribe %}`` renders; the signed name is Django's ``Signer`` over
``(stream name, args, kwargs)``. The server never acknowledges it. Broadcasts
arrive as ``{"signed_channel_name": ..., "data": "<turbo-stream ...>"}``.

django-turbo-helper 2.1.5 (``systems/turbo_helper``): ``{% turbo_stream_from %}``
renders a ``<turbo-cable-stream-source channel signed-stream-name>`` element for
turbo-rails' JavaScript, which speaks ActionCable (served by django-actioncable)
at ``/cable`` with subprotocol ``actioncable-v1-json``: the server says
``{"type": "welcome"}``, the client sends ``{"command": "subscribe",
"identifier": "<JSON of channel and signed_stream_name>"}``, the server confirms
with ``{"type": "confirm_subscription", "identifier"}``, pings every 5 s, and
broadcasts ``{"identifier", "message": "<turbo-stream ...>"}``. The signed name is
Django's ``Signer`` over the stream name. The clients must offer the subprotocols
in :attr:`TurboHelper.subprotocols` (``connect(..., subprotocols=...)``): without
them daphne and uvicorn both fail the handshake, as the consumer accepts with one.

Both keep :meth:`System.on_frame` as it is: as in their JavaScript, a socket has
one subscription and only broadcasts carry HTML (welcome, confirmation and ping
frames never hold ``seq=``), so the hot path need not parse the JSON.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench.system import Process, Server, System
from bench.systems import DJANGO_DRIVER, run_checked, serve

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

SYSTEMS = Path(__file__).resolve().parent.parent / "systems"

#: Run in a system's virtualenv: renders the template tag a page would use to
#: subscribe (argv[1]) and prints the attributes of the element it renders, so
#: the clients subscribe with exactly what the library gives its JavaScript.
SOURCE_ELEMENT = """
import json, sys
from html.parser import HTMLParser

import django

django.setup()
from django.template import engines


class Element(HTMLParser):
    attributes = None

    def handle_starttag(self, tag, attrs):
        if self.attributes is None:
            self.attributes = dict(attrs)


parser = Element()
parser.feed(engines["django"].from_string(sys.argv[1]).render({}))
print(json.dumps(parser.attributes))
"""


def compact(value: object) -> str:
    """JSON as JavaScript's ``JSON.stringify`` writes it (no spaces, keys in order)."""
    return json.dumps(value, separators=(",", ":"))


def pins(directory: Path) -> dict[str, str]:
    """The ``name==version`` pins of a system's requirements file, by lower-case name."""
    found = {}
    for line in (directory / "requirements.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


class Peer(System):
    """A peer library's Django project, run from its own virtualenv."""

    #: The project's directory under ``benchmarks/systems/``.
    directory: ClassVar[Path]
    #: The template tag a page uses to subscribe to the benchmark's stream.
    subscribe_tag: ClassVar[str]
    #: The websocket path the library's JavaScript connects to.
    path: ClassVar[str]
    #: The peer's own distributions, for :meth:`versions`.
    libraries: ClassVar[tuple[str, ...]]
    #: The websocket subprotocols the library's JavaScript offers, if any.
    subprotocols: ClassVar[list[str] | None] = None

    def __init__(self) -> None:
        self.venv: Path | None = None
        self.database: Path | None = None
        #: The attributes of the element the subscribe tag renders.
        self.source: dict[str, str] = {}

    def setup(self, workdir: Path) -> None:
        workdir = workdir.resolve()
        self.venv = workdir / "venvs" / self.name
        self.database = workdir / "db" / f"{self.name}.sqlite3"
        self.install()
        self.database.parent.mkdir(parents=True, exist_ok=True)
        self.database.unlink(missing_ok=True)
        self.run("-m", "django", "migrate", "--noinput", "--verbosity", "0")
        self.source = json.loads(self.run("-c", SOURCE_ELEMENT, self.subscribe_tag))

    def install(self) -> None:
        """Build the virtualenv from the pinned requirements, unless it already holds them."""
        assert self.venv is not None
        requirements = self.directory / "requirements.txt"
        stamp = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()
        marker = self.venv / "bench-requirements.sha256"
        if marker.is_file() and marker.read_text() == stamp:
            return
        # --clear: a venv left by an interrupted or older install starts over.
        subprocess.run([sys.executable, "-m", "venv", "--clear", self.venv], check=True)
        subprocess.run(
            [
                self.bin("python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--requirement",
                requirements,
            ],
            check=True,
        )
        marker.write_text(stamp)

    def versions(self) -> dict[str, str]:
        """The versions of the library and of the stack it runs on, as pinned and installed."""
        found = pins(self.directory)
        names = (*self.libraries, "django", "channels", "channels-redis", "redis", "daphne")
        return {name: found[name] for name in (*names, "uvicorn")}

    def bin(self, program: str) -> str:
        assert self.venv is not None, "setup() first"
        return str(self.venv / "bin" / program)

    def project_env(self) -> dict[str, str]:
        assert self.database is not None, "setup() first"
        return {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "BENCH_DB": str(self.database),
            # Only the project: our own ``turbo`` would shadow turbo-django's.
            "PYTHONPATH": str(self.directory),
        }

    def run(self, *args: str) -> str:
        """Run the virtualenv's Python in the project; its standard output."""
        return run_checked([self.bin("python"), *args], self.directory, self.project_env())

    def server(self, kind: Server, port: int) -> Process:
        # The same command line as our systems (bench.systems.serve), with the
        # virtualenv's daphne or uvicorn: the servers differ only by the library.
        process = serve(kind, "project.asgi:application", port, self.directory, self.project_env())
        process.argv[0] = self.bin(Path(process.argv[0]).name)
        return process

    def driver(self) -> Process:
        return Process(
            [self.bin("python"), str(DJANGO_DRIVER), "chat.Message"],
            env=self.project_env(),
            cwd=self.directory,
        )

    def url(self, port: int) -> str:
        return f"ws://127.0.0.1:{port}{self.path}"


class TurboDjango(Peer):
    """turbo-django 0.4.4: a sync ``TurboStreamsConsumer`` per socket, ``ModelStream.on_save``."""

    name = "turbo-django"
    directory = SYSTEMS / "turbo_django"
    description = (
        f"turbo-django {pins(directory)['turbo-django']} (unmaintained predecessor): "
        "a sync JsonWebsocketConsumer per socket, ModelStream.on_save appends to a Stream"
    )
    libraries = ("turbo-django",)
    subscribe_tag = "{% load turbo_streams %}{% turbo_subscribe 'chat:MessagesStream' %}"
    path = "/ws/"

    async def subscribe(
        self, socket: ClientConnection, previous: ClientConnection | None = None
    ) -> list[tuple[int, float]]:
        # As turbo-django.js's sendSubscription (its request_id is undefined, so
        # JSON.stringify leaves it out). The consumer answers nothing, and a
        # websocket ping is answered before the consumer runs, so there is no
        # round trip that proves the group_add: return once sent, and rely on the
        # harness's warm-up broadcast before anything is measured.
        await socket.send(
            compact(
                {
                    "type": "subscribe",
                    "signed_channel_name": self.source["signed-channel-name"],
                    "args": json.loads(self.source["args"]),
                    "kwargs": json.loads(self.source["kwargs"]),
                }
            )
        )
        return []


class TurboHelper(Peer):
    """django-turbo-helper 2.1.5: ActionCable via django-actioncable, ``broadcast_action_to``."""

    name = "turbo-helper"
    directory = SYSTEMS / "turbo_helper"
    description = (
        f"django-turbo-helper {pins(directory)['django-turbo-helper']}: ActionCable "
        "(django-actioncable consumer per socket), broadcast_action_to on post_save"
    )
    libraries = ("django-turbo-helper", "django-actioncable")
    subscribe_tag = "{% load turbo_helper %}{% turbo_stream_from 'messages' %}"
    path = "/cable"
    #: What @rails/actioncable offers; the consumer accepts the first.
    subprotocols: ClassVar[list[str] | None] = ["actioncable-v1-json", "actioncable-unsupported"]

    @property
    def identifier(self) -> str:
        """The subscription's identifier, as turbo-rails' cable stream source builds it."""
        return compact(
            {
                "channel": self.source["channel"],
                "signed_stream_name": self.source["signed-stream-name"],
            }
        )

    async def subscribe(
        self, socket: ClientConnection, previous: ClientConnection | None = None
    ) -> list[tuple[int, float]]:
        # @rails/actioncable sends its subscriptions once welcomed, then waits for
        # the confirmation; pings may come in between.
        await _expect(socket, {"type": "welcome"})
        await socket.send(compact({"command": "subscribe", "identifier": self.identifier}))
        await _expect(socket, {"type": "confirm_subscription", "identifier": self.identifier})
        return []


async def _expect(socket: ClientConnection, wanted: dict[str, Any]) -> None:
    """Read ActionCable frames up to one with the ``wanted`` items, skipping pings."""
    while True:
        data = json.loads(await socket.recv())
        if all(data.get(key) == value for key, value in wanted.items()):
            return
        if data.get("type") != "ping":
            raise RuntimeError(f"ActionCable: expected {wanted}, got {data}")
