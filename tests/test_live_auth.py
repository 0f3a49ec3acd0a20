"""End to end over real servers: a logout, a password change and re-checks reach open sockets.

Each test states its bound: the time from the commit of the change to the
frame at the socket. The commit's moment is read in the process that made
it (wall clock, one machine), or taken as the start of the request that
committed it, which only lengthens what is measured.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from tests.conftest import layer_config
from tests.live import LiveSocket, ServerProcess, manage
from tests.testapp.streams import LobbyStream, PrivateStream
from turbo import signing

pytestmark = pytest.mark.django_db(transaction=True)

#: Seconds from a commit to the frame it causes at a socket, at most.
BOUND = 1.0

SERVERS = [("daphne", "redis-pubsub"), ("uvicorn", "redis-pubsub"), ("daphne", "redis-core")]


class Browser:
    """An HTTP client of one server that keeps its cookies, as a browser does."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def post(self, path: str, **data: str) -> int:
        body = urllib.parse.urlencode(data).encode()
        with self.opener.open(self.server.origin + path, body, timeout=10) as response:
            return int(response.status)

    @property
    def cookie(self) -> str:
        """The ``Cookie`` header the browser sends its server."""
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies)

    def session_key(self) -> str | None:
        found = [c.value for c in self.cookies if c.name == settings.SESSION_COOKIE_NAME]
        return found[0] if found else None


async def logged_in(server: ServerProcess) -> tuple[User, Browser]:
    user = await sync_to_async(User.objects.create_user)("ada", password="first")
    browser = Browser(server)
    assert await asyncio.to_thread(browser.post, "/log-in/", username="ada") == 204
    return user, browser


async def subscribed(socket: LiveSocket, user: User) -> str:
    """Subscribe ``socket`` to ``user``'s private stream and the lobby; the private token."""
    token = signing.dumps(PrivateStream(user.pk))
    await socket.subscribe(token)
    await socket.subscribe(signing.dumps(LobbyStream()))
    return token


async def assert_only_public(socket: LiveSocket, user: User, config: dict[str, Any]) -> None:
    """A private broadcast does not reach the socket; a public one after it does."""
    with override_settings(CHANNEL_LAYERS={"default": config}):
        await PrivateStream(user.pk).aupdate(text="private", id="x")
        await LobbyStream().aupdate(text="public", id="x")
    html = await socket.receive_html()
    assert "public" in html


async def arrival(socket: LiveSocket) -> tuple[dict[str, Any], float]:
    """The next frame, and when it arrived (``time.time()``)."""
    frame = await socket.receive(timeout=10)
    return frame, time.time()


@pytest.mark.parametrize(("kind", "layer"), SERVERS)
async def test_a_logout_reconnects_the_sessions_socket_and_stops_its_private_stream(
    servers, kind, layer
):
    config = layer_config(layer)
    server = await asyncio.to_thread(servers, config, kind)
    user, browser = await logged_in(server)

    async with LiveSocket(server, cookie=browser.cookie) as socket:
        await subscribed(socket, user)
        receiving = asyncio.create_task(arrival(socket))
        started = time.time()
        await asyncio.to_thread(browser.post, "/log-out/")
        frame, arrived = await receiving

        assert frame == {"type": "reconnect", "reason": "session"}
        assert arrived - started < BOUND
        await assert_only_public(socket, user, config)


SAVES = {
    "password": "user.set_password('second')",
    "inactive": "user.is_active = False",
}


@pytest.mark.parametrize("change", list(SAVES))
@pytest.mark.parametrize("layer", ["redis-pubsub", "redis-core"])
async def test_a_change_saved_in_another_process_revokes_the_private_stream(servers, change, layer):
    config = layer_config(layer)
    server = await asyncio.to_thread(servers, config)
    user, browser = await logged_in(server)
    code = (
        "import time; from django.contrib.auth.models import User; "
        f"user = User.objects.get(pk={user.pk}); {SAVES[change]}; user.save(); "
        "print(time.time())"
    )

    async with LiveSocket(server, cookie=browser.cookie) as socket:
        token = await subscribed(socket, user)
        receiving = asyncio.create_task(arrival(socket))
        output = await asyncio.to_thread(manage, config, "shell", "-c", code)
        frame, arrived = await receiving

        assert (frame["type"], frame["token"], frame["reason"]) == ("rejected", token, "forbidden")
        assert arrived - float(output.split()[-1]) < BOUND
        await assert_only_public(socket, user, config)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_reauthorize_every_revokes_without_a_signal(servers, kind):
    config = layer_config("redis-pubsub")
    every = 0.5
    server = await asyncio.to_thread(servers, config, kind, TURBO_REAUTHORIZE_EVERY=str(every))
    user, browser = await logged_in(server)

    async with LiveSocket(server, cookie=browser.cookie) as socket:
        token = await subscribed(socket, user)
        # An update sends no signal: only the periodic re-check can see it.
        receiving = asyncio.create_task(arrival(socket))
        await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)
        committed = time.time()
        frame, arrived = await receiving

        assert (frame["type"], frame["token"], frame["reason"]) == ("rejected", token, "forbidden")
        assert arrived - committed < every + BOUND
        await assert_only_public(socket, user, config)
