"""Real server processes and websocket clients for the live tests.

A :class:`ServerProcess` runs ``daphne tests.asgi:application``, ``uvicorn
tests.asgi:application`` or ``manage.py runserver`` (daphne's) in its own
process, on the test run's database and on a channel layer given as a
``CHANNEL_LAYERS`` entry; a :class:`LiveSocket`
speaks the protocol to it with the ``websockets`` library, as a browser would
(an ``Origin`` header included: origin validation refuses a handshake without
one).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import websockets
from django.db import connection

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
#: As turbo_streams.js: 64 KiB of UTF-8 at most.
ACK_INTERVAL_CHARS = 16 * 1024
#: Seconds a request may take beyond TURBO_REDIS_TIMEOUT on a loaded test machine.
BUDGET_MARGIN = 2.0
TOKEN = re.compile(r'<turbo-channels-stream-source [^>]*token="([^"]+)"')
POSITION = re.compile(r'position="([^"]+)"')


#: Ports this process has claimed, each held by an open, locked file until it exits.
_CLAIMS: list[IO[bytes]] = []
_CLAIMS_DIR = Path(tempfile.gettempdir()) / "turbo-test-ports"


def free_port() -> int:
    """A free port below Linux's ephemeral range (32768 and up by default).

    A port the kernel handed out could be given again, between this probe and
    the server's bind, to an outgoing connection (Redis, the browser). Two test
    processes (CI runs tox environments in parallel) could both probe the same
    port before either server binds it, and one would then talk to the other's
    server: each port is claimed with a lock on a file in a shared directory,
    held for the rest of this process.
    """
    _CLAIMS_DIR.mkdir(exist_ok=True)
    while True:
        port = random.randrange(20000, 32768)
        claim = (_CLAIMS_DIR / str(port)).open("ab")
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            claim.close()
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                claim.close()
                continue
        _CLAIMS.append(claim)
        return port


def wait_until_listening(
    process: subprocess.Popen[bytes],
    port: int,
    timeout: float,
    name: str,
    output: Callable[[], str],
) -> None:
    """Return once ``port`` accepts connections; raise if ``process`` exits or is slow."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{output()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen:\n{output()}") from None
            # Nothing announces readiness but the port itself.
            time.sleep(0.05)
        else:
            return


class RedisProcess:
    """A Redis server of a test's own, to stop and start again; it persists nothing."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="turbo-redis-", suffix=".log")  # noqa: SIM115

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def layer(self, kind: Literal["pubsub", "core"] = "pubsub") -> dict[str, Any]:
        """A ``CHANNEL_LAYERS`` entry of a channels_redis layer on this server."""
        backend = {
            "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "core": "channels_redis.core.RedisChannelLayer",
        }[kind]
        # Without a read timeout, as tests.conftest.layer_config says why.
        host = {"address": self.url, "socket_timeout": None}
        config = {"hosts": [host], "prefix": f"t{uuid.uuid4().hex}"}
        return {"BACKEND": backend, "CONFIG": config}

    def start(self, timeout: float = 10) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until_listening(self.process, self.port, timeout, "redis-server", self.output)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def close(self) -> None:
        """Stop the server for good and drop its log."""
        try:
            self.stop()
        finally:
            self.log.close()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


class SilentRedis:
    """A TCP server that accepts connections, reads what they send and never answers.

    What a client sees of a Redis behind a network partition, or hung: the
    connection opens, and no reply ever comes.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.wake, self.woken = socket.socketpair()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def __enter__(self) -> SilentRedis:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wake.send(b"x")
        self.thread.join(5)
        self.wake.close()

    def _serve(self) -> None:
        connections: list[socket.socket] = []
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            selector.register(self.woken, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self.woken:
                        for opened in [*connections, self.listener, self.woken]:
                            opened.close()
                        return
                    if key.fileobj is self.listener:
                        connection, _ = self.listener.accept()
                        connections.append(connection)
                        selector.register(connection, selectors.EVENT_READ)
                    elif not connection_read(key.fileobj):  # type: ignore[arg-type]
                        selector.unregister(key.fileobj)


def connection_read(connection: socket.socket) -> bool:
    """Read what ``connection`` sent, into nothing; whether it is still open."""
    try:
        return bool(connection.recv(65536))
    except OSError:
        return False


class ServerProcess:
    """One server process; :meth:`start` returns once it accepts connections."""

    def __init__(
        self,
        layer: dict[str, Any],
        kind: Literal["daphne", "uvicorn", "runserver"] = "daphne",
        port: int | None = None,
        **settings: str,
    ) -> None:
        self.layer, self.kind, self.settings = layer, kind, settings
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        #: Where the server runs: the repository, for the test project.
        self.cwd = ROOT
        #: What daphne and uvicorn serve.
        self.application = "tests.asgi:application"
        self.log = tempfile.NamedTemporaryFile(prefix=f"turbo-{kind}-", suffix=".log")  # noqa: SIM115

    @property
    def command(self) -> list[str]:
        if self.kind == "daphne":
            address = ["-b", "127.0.0.1", "-p", str(self.port)]
            return [sys.executable, "-m", "daphne", *address, self.application]
        if self.kind == "uvicorn":
            address = ["--host", "127.0.0.1", "--port", str(self.port)]
            # Channels' router has no lifespan protocol.
            options = ["--lifespan", "off", "--no-access-log"]
            return [sys.executable, "-m", "uvicorn", *address, *options, self.application]
        return [sys.executable, "-m", "django", "runserver", "--noreload", f"127.0.0.1:{self.port}"]

    def environment(self) -> dict[str, str]:
        return {
            **environment(self.layer, debug=self.kind == "runserver"),
            **{f"TURBO_LIVE_{name}": value for name, value in self.settings.items()},
        }

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.environment(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until_listening(self.process, self.port, timeout, self.kind, self.output)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as the OOM killer or a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Stop the server for good and drop its log."""
        self.stop()
        self.log.close()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        """The first line of the server's output containing ``text``, once it is there."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.output().splitlines():
                if text in line:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the output of {self.kind}:\n{self.output()}")
            # A log file announces nothing: read it again shortly.
            time.sleep(0.05)

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path``: the status and the body."""
        try:
            with urllib.request.urlopen(self.origin + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post(self, path: str, **data: str) -> str:
        body = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in data.items()).encode()
        with urllib.request.urlopen(self.origin + path, body, timeout=10) as response:
            return str(response.read().decode())

    def token(self, path: str) -> str:
        """The first subscription token of the page at ``path``."""
        status, html = self.get(path)
        assert status == 200, html
        match = TOKEN.search(html)
        assert match, html
        return match.group(1)


class Balancer:
    """A TCP load balancer in front of server processes, as deployments have one.

    Each connection goes to the first server, in order, that accepts it. While
    :attr:`accepting` is clear, new connections wait before going anywhere.
    """

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.servers = servers
        self.port = free_port()
        self.accepting = asyncio.Event()
        self.accepting.set()
        self.listener: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Balancer:
        self.listener = await asyncio.start_server(self.forward, "127.0.0.1", self.port)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.listener is not None
        self.listener.close()
        for writer in self.writers:
            writer.close()

    async def forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await self.accepting.wait()
            for server in self.servers:
                try:
                    upstream = await asyncio.open_connection("127.0.0.1", server.port)
                except OSError:
                    continue
                self.writers.add(upstream[1])
                await asyncio.gather(pipe(reader, upstream[1]), pipe(upstream[0], writer))
                return
        finally:
            writer.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until either end closes; then close ``writer``."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass  # a killed server resets its connections
    finally:
        writer.close()


def environment(layer: dict[str, Any], *, debug: bool = False) -> dict[str, str]:
    """The environment of a process of this test run: same settings, database, layer."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "TURBO_LIVE_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "TURBO_LIVE_CHANNEL_LAYER": json.dumps(layer),
    }
    if debug:
        env["TURBO_LIVE_DEBUG"] = "1"
    return env


def manage(layer: dict[str, Any], *args: str, **settings: str) -> str:
    """Run ``manage.py`` with ``args`` in a process of its own; its output.

    ``settings`` are ``TURBO_*`` settings of that process, in JSON, as
    ``TURBO_REFRESH_DEBOUNCE="0.5"``.
    """
    env = {**environment(layer), **{f"TURBO_LIVE_{k}": v for k, v in settings.items()}}
    return django_command(env, ROOT, *args)


def django_command(env: dict[str, str], cwd: Path, *args: str) -> str:
    """``python -m django <args>`` in ``env`` and ``cwd``: its output; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class LiveSocket:
    """A websocket client of the protocol, with an ``Origin``, as browsers send."""

    def __init__(
        self,
        server: ServerProcess,
        origin: str | None = None,
        max_queue: int = 16,
        path: str = "/ws/turbo/",
        cookie: str | None = None,
    ) -> None:
        self.url = f"ws://127.0.0.1:{server.port}{path}"
        #: The ``Cookie`` header of the handshake, as a browser sends its session's.
        self.headers = {"Cookie": cookie} if cookie else {}
        self.origin = origin or server.origin
        self.max_queue = max_queue
        self.connection: Any = None
        self.received = self.unacknowledged = 0

    async def __aenter__(self) -> LiveSocket:
        self.connection = await websockets.connect(
            self.url,
            origin=self.origin,
            compression=None,
            open_timeout=10,
            max_queue=self.max_queue,
            additional_headers=self.headers,
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # A socket the server closed may raise here what it could not read.
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.connection.close()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(frame))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        """The next frame, acknowledged as the browser's client does (every 16 K characters)."""
        text = await asyncio.wait_for(self.connection.recv(), timeout)
        self.received += 1
        self.unacknowledged += len(text)
        if self.unacknowledged >= ACK_INTERVAL_CHARS:
            self.unacknowledged = 0
            await self.send({"type": "ack", "messages": self.received})
        return dict(json.loads(text))

    async def subscribe(self, token: str, position: str | None = None) -> str:
        """Subscribe with ``token`` (from ``position``); the stream's key from the answer."""
        frame = {"type": "subscribe", "token": token}
        if position is not None:
            frame["position"] = position
        await self.send(frame)
        ack = await self.receive()
        assert ack["type"] == "subscribed", ack
        return str(ack["stream"])

    async def receive_html(self) -> str:
        """The next frame's HTML: it must be a ``message``."""
        frame = await self.receive()
        assert frame["type"] == "message", frame
        return str(frame["html"])
