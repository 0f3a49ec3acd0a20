from __future__ import annotations

from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from django.urls import path

from tests.conftest import log_in, session_cookie
from tests.testapp.streams import PrivateStream
from turbo import routing, signing
from turbo.routing import websocket_application

SAME_ORIGIN = (b"origin", b"http://testserver")
EVIL_ORIGIN = (b"origin", b"http://evil.example")


class WhoAmI(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A project's own consumer: says who the socket's user is."""

    async def connect(self) -> None:
        await self.accept()
        await self.send_json({"user": str(self.scope["user"])})


async def handshake(application: Any, path: str, *headers: tuple[bytes, bytes]) -> Any:
    """The communicator of a socket to ``path``, if its handshake was accepted, else None."""
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await communicator.connect()
    if connected:
        return communicator
    await communicator.disconnect()
    return None


@pytest.mark.parametrize(
    "headers",
    [pytest.param([EVIL_ORIGIN], id="cross-origin"), pytest.param([], id="no-origin")],
)
async def test_a_handshake_from_another_or_no_origin_is_refused(headers):
    assert await handshake(websocket_application(), "/ws/turbo/", *headers) is None


@pytest.mark.django_db(transaction=True)
async def test_a_same_origin_socket_subscribes_as_the_sessions_user():
    user, client = await log_in("ada")
    token = signing.dumps(PrivateStream(user.pk))
    socket = await handshake(
        websocket_application(), "/ws/turbo/", SAME_ORIGIN, session_cookie(client)
    )

    await socket.send_json_to({"type": "subscribe", "token": token})
    ack = await socket.receive_json_from()
    await socket.disconnect()

    assert ack["type"] == "subscribed"


def suspended_in(task: Any) -> list[str]:
    """The qualified names of the coroutines ``task`` waits in, outermost first."""
    names = []
    awaited = task.get_coro()
    while hasattr(awaited, "cr_code"):
        names.append(awaited.cr_code.co_qualname)
        awaited = awaited.cr_await
    return names


@pytest.mark.django_db(transaction=True)
async def test_a_turbo_socket_is_served_with_no_middleware_beneath_it():
    user, client = await log_in("ada")
    application = websocket_application(extra_urlpatterns=[path("ws/whoami/", WhoAmI.as_asgi())])
    socket = await handshake(application, "/ws/turbo/", SAME_ORIGIN, session_cookie(client))
    other = await handshake(application, "/ws/whoami/", SAME_ORIGIN)

    await socket.send_json_to({"type": "subscribe", "token": signing.dumps(PrivateStream(user.pk))})
    assert (await socket.receive_json_from())["type"] == "subscribed"
    served, routed_inside = suspended_in(socket.future), suspended_in(other.future)
    await socket.disconnect()
    await other.disconnect()

    assert served[0] == "ServedOnTop.__call__"
    assert "FlowConsumer.__call__" in served
    # Nor a task and an asyncio.wait per socket for its one source of events.
    beneath = [n for n in served if "Middleware" in n or "Router" in n or "dispatch" in n]
    assert not beneath, served
    # A route of the project's own runs inside the stack, as Channels runs it.
    assert "AuthMiddleware.__call__" in routed_inside
    assert "URLRouter.__call__" in routed_inside


async def test_extra_urlpatterns_are_routed_behind_the_same_checks():
    application = websocket_application(extra_urlpatterns=[path("ws/whoami/", WhoAmI.as_asgi())])

    socket = await handshake(application, "/ws/whoami/", SAME_ORIGIN)
    greeting = await socket.receive_json_from()
    await socket.disconnect()

    assert greeting == {"user": "AnonymousUser"}
    assert await handshake(application, "/ws/whoami/", EVIL_ORIGIN) is None


@pytest.mark.parametrize(
    ("allowed_origins", "headers", "accepted"),
    [
        pytest.param(
            ["https://app.example"], [(b"origin", b"https://app.example")], True, id="listed"
        ),
        pytest.param(["https://app.example"], [SAME_ORIGIN], False, id="allowed-host-refused"),
        pytest.param(["https://app.example"], [], False, id="no-origin-refused"),
        pytest.param(["*"], [], True, id="check-off"),
    ],
)
async def test_allowed_origins_replace_the_allowed_hosts_check(allowed_origins, headers, accepted):
    application = websocket_application(allowed_origins=allowed_origins)

    socket = await handshake(application, "/ws/turbo/", *headers)

    assert (socket is not None) == accepted
    if socket is not None:
        await socket.disconnect()


@override_settings(TURBO_WEBSOCKET_PATH="live/streams/")
async def test_the_websocket_path_is_read_when_the_routes_are_built():
    [route] = routing.websocket_urlpatterns

    socket = await handshake(websocket_application(), "/live/streams/", SAME_ORIGIN)
    await socket.send_json_to({"type": "unsubscribe", "stream": "turbo.none"})
    answer = await socket.receive_json_from()
    await socket.disconnect()

    assert str(route.pattern) == "live/streams/"
    assert route.name == "turbo-streams"
    assert answer == {"type": "unsubscribed", "stream": "turbo.none"}
