from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client, override_settings

import turbo.loops
from tests.live import RedisProcess, ServerProcess
from tests.testapp.streams import UserStream
from turbo import history, routing, signing
from turbo.history import RedisHistory

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator

    from turbo.streams import Stream

#: Set by .ci/run: a test that would skip for want of a service fails instead.
REQUIRE_SERVICES = os.environ.get("TURBO_REQUIRE_SERVICES") == "1"

LAYERS = {
    "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    "redis-core": {"BACKEND": "channels_redis.core.RedisChannelLayer"},
    "redis-pubsub": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"},
}


def unavailable(message: str) -> NoReturn:
    """Skip the test for want of ``message``'s service; fail it in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def require_service(name: str, url: str) -> None:
    """Skip (fail in CI) unless ``url``'s host accepts TCP connections."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError as error:
        unavailable(f"{name} is not reachable at {parts.hostname}:{parts.port}: {error}")


def pytest_sessionstart(session: pytest.Session) -> None:
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        database = settings.DATABASES["default"]
        try:
            socket.create_connection((database["HOST"], int(database["PORT"])), timeout=2).close()
        except OSError as error:
            if REQUIRE_SERVICES:
                raise
            pytest.exit(f"PostgreSQL not reachable, nothing tested: {error}", returncode=0)


def layer_config(name: str, **config: Any) -> dict[str, Any]:
    """The ``CHANNEL_LAYERS`` entry of layer ``name``; Redis ones under a fresh prefix.

    Its hosts read without a timeout (``socket_timeout``), unless ``config``
    gives ``hosts`` (tests/test_layer_settings.py gives the ordinary ones).
    """
    entry: dict[str, Any] = {"BACKEND": LAYERS[name]["BACKEND"]}
    if name.startswith("redis"):
        require_service("Redis", settings.REDIS_URL)
        # Without a read timeout, as channels_redis#422's usual workaround
        # writes it; the ordinary settings are tests/test_layer_settings.py's.
        hosts = [{"address": settings.REDIS_URL, "socket_timeout": None}]
        config = {"hosts": hosts, "prefix": f"t{uuid.uuid4().hex}", **config}
    if config:
        entry["CONFIG"] = config
    return entry


@pytest.fixture
async def close_sync_thread_connections() -> AsyncIterator[None]:
    """Close the connections async code opened in Django's sync thread.

    A leftover one would keep PostgreSQL from dropping the test database.
    """
    yield
    await sync_to_async(connections.close_all)()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.fixturenames.insert(0, "close_sync_thread_connections")


@pytest.fixture(params=list(LAYERS))
def channel_layer(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each real channel layer in turn; Redis ones under a per-test prefix."""
    with override_settings(CHANNEL_LAYERS={"default": layer_config(request.param)}):
        yield get_channel_layer()


@pytest.fixture
def register_late() -> Iterator[Callable[[type[Stream]], type[Stream]]]:
    """``register_late(StreamClass)`` registers it as a late import would; undone afterwards.

    Afterwards the registry, the model's attribute and the signal receivers
    are as the test found them.
    """
    from django.apps import apps
    from django.db.models.signals import post_delete, post_save

    from turbo import hooks
    from turbo.model_streams import ModelStream
    from turbo.registry import registry

    undo: list[Callable[[], None]] = []

    def register(stream_class: type[Stream]) -> type[Stream]:
        if issubclass(stream_class, ModelStream):
            model, attribute = stream_class.model(), stream_class._meta.attribute
            if attribute in model.__dict__:
                previous = model.__dict__[attribute]
                undo.append(lambda: setattr(model, attribute, previous))
            else:
                undo.append(lambda: delattr(model, attribute))
            undo.append(lambda: registry._remove_for_model(model, attribute))
        undo.append(lambda: registry._by_name.pop(stream_class.stream_name()))
        return registry.register(stream_class)

    yield register
    for step in reversed(undo):
        step()
    for model in apps.get_models():
        post_save.disconnect(sender=model, dispatch_uid=hooks.dispatch_uid(model))
        post_delete.disconnect(sender=model, dispatch_uid=hooks.dispatch_uid(model))
    hooks.connect()


ORIGIN = (b"origin", b"http://testserver")


class Socket:
    """A websocket to the consumer, speaking the protocol in dicts."""

    def __init__(
        self,
        user: Any = None,
        middleware: Callable[[Any], Any] | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        application = URLRouter(routing.websocket_urlpatterns)
        self.communicator = WebsocketCommunicator(
            middleware(application) if middleware else application,
            "/ws/turbo/",
            headers=[ORIGIN, *headers],
        )
        if user is not None:
            self.communicator.scope["user"] = user

    async def send(self, frame: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        return json.loads(await self.communicator.receive_from(timeout))

    async def subscribe(
        self, stream: Stream, token: str | None = None, position: str | None = None
    ) -> dict[str, Any]:
        frame = {"type": "subscribe", "token": token or signing.dumps(stream)}
        if position is not None:
            frame["position"] = position
        await self.send(frame)
        return await self.receive()

    async def receive_html(self, stream: Stream, timeout: float = 3) -> str:
        frame = await self.receive(timeout)
        assert frame["type"] == "message", frame
        assert frame["stream"] == stream.group
        return frame["html"]

    async def assert_nothing_from(self, stream: Stream) -> None:
        """Nothing of ``stream`` arrived before a marker broadcast after it."""
        marker = UserStream("marker")
        assert (await self.subscribe(marker))["type"] == "subscribed"
        await stream.aupdate(text="not for this socket", id="x")
        await marker.aupdate(text="marker", id="x")
        assert "marker" in await self.receive_html(marker)

    async def assert_closed(self, code: int) -> None:
        output = await self.communicator.receive_output(3)
        assert output["type"] == "websocket.close", output
        assert output["code"] == code


@sync_to_async
def log_in(username: str) -> tuple[User, Client]:
    """A new user, logged in by a test client whose session cookie a socket can send."""
    user = User.objects.create_user(username, password="first")
    client = Client()
    client.force_login(user)
    return user, client


def session_cookie(client: Client) -> tuple[bytes, bytes]:
    """The ``Cookie`` header carrying ``client``'s session."""
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    return b"cookie", f"{cookie.key}={cookie.value}".encode()


@pytest.fixture
async def connect(channel_layer: Any) -> AsyncIterator[Callable[..., Any]]:
    """``await connect(user=None, middleware=None, headers=())`` → an open :class:`Socket`.

    On each layer. ``middleware`` wraps the consumer's router, e.g.
    ``AuthMiddlewareStack``; ``headers`` are sent besides the ``Origin``.
    """
    sockets: list[Socket] = []

    async def open_socket(
        user: Any = None,
        middleware: Callable[[Any], Any] | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> Socket:
        socket = Socket(user, middleware, headers)
        connected, _ = await socket.communicator.connect()
        assert connected
        sockets.append(socket)
        return socket

    yield open_socket
    for opened in sockets:
        await opened.communicator.disconnect()


class ServerLoop:
    """A thread running an event loop, standing in for an ASGI server's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self._note())

    async def _note(self) -> None:
        turbo.loops.note_running_loop()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 5) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        turbo.loops._server_loop = None


def following_marks(kept: Any) -> None:
    """Wait until the process knows which streams are watched (:mod:`turbo.history.marks`).

    Until then it takes every stream as watched; the in-memory history always knows.
    """
    if not isinstance(kept, RedisHistory):
        return
    kept.watched("")
    deadline = time.monotonic() + 5
    while not kept.marks.ready:
        assert time.monotonic() < deadline, "the marks were not loaded within 5 s"
        time.sleep(0.01)


@pytest.fixture(params=["redis-core", "redis-pubsub"])
def redis_layer(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each Redis channel layer in turn, under a per-test prefix."""
    with override_settings(CHANNEL_LAYERS={"default": layer_config(request.param)}):
        yield get_channel_layer()


def redis_histories(channel_layer: Any) -> tuple[RedisHistory, RedisHistory]:
    """This process's history, and one standing for another process's on the same Redis."""
    kept = history.for_layer(channel_layer)
    assert isinstance(kept, RedisHistory)
    elsewhere = RedisHistory(kept.host, kept.prefix, kept.max_entries, kept.max_age)
    return kept, elsewhere


class Subscriber:
    """A channel joined to a stream's group, read from sync test code.

    The stream is marked watched, as a page's hub marks it: broadcasts to a
    stream nobody watches are not sent.
    """

    def __init__(self, server: ServerLoop, layer: Any, stream: Stream) -> None:
        self.server, self.layer = server, layer
        self.channel = server.run(layer.new_channel())
        server.run(layer.group_add(stream.group, self.channel))
        server.run(history.mark_watched(layer, [stream.group]))

    def receive(self, timeout: float = 5) -> dict[str, Any]:
        return self.server.run(
            asyncio.wait_for(self.layer.receive(self.channel), timeout), timeout + 1
        )

    def receive_html(self) -> str:
        message = self.receive()
        assert message["type"] == "turbo.stream"
        return message["html"]

    def assert_nothing_received(self) -> None:
        """Nothing came before a marker sent now: ordering, not waiting, proves it."""
        self.server.run(self.layer.send(self.channel, {"type": "test.marker"}))
        assert self.receive() == {"type": "test.marker"}


@pytest.fixture
def server() -> Iterator[ServerLoop]:
    loop = ServerLoop()
    yield loop
    loop.stop()


@pytest.fixture
def subscribe(server: ServerLoop) -> Iterator[Any]:
    """``subscribe(stream)`` → a :class:`Subscriber` on the default layer."""
    layers = []

    def make(stream: Stream) -> Subscriber:
        layers.append(get_channel_layer())
        return Subscriber(server, layers[-1], stream)

    yield make
    for layer in layers:
        server.run(layer.flush())


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A Redis server of the test's own, which the test stops and starts."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed: apt-get install redis-server")
    redis = RedisProcess()
    try:
        redis.start()
        yield redis
    finally:
        redis.close()


@pytest.fixture
def servers() -> Iterator[Callable[..., ServerProcess]]:
    """``servers(layer, kind="daphne")`` → a started :class:`ServerProcess`."""
    started: list[ServerProcess] = []

    def start(layer: dict[str, Any], kind: str = "daphne", **settings: str) -> ServerProcess:
        server = ServerProcess(layer, kind, **settings)  # type: ignore[arg-type]
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium, driven by Playwright's async API.

    Not the sync API: it runs an event loop in this thread, where Django then
    refuses database access.
    """
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


async def new_page(browser: Any) -> Any:
    """A page in a context of its own (its own cookies); ``page.console`` collects its log."""
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(30_000)
    page.console = []
    page.on("console", lambda message: page.console.append((message.type, message.text)))
    page.on("dialog", lambda dialog: dialog.accept())
    return page
