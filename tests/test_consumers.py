from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils.safestring import mark_safe

import turbo.loops
import turbo.sending
from tests.conftest import Socket, log_in, session_cookie
from tests.testapp.models import Tag
from tests.testapp.streams import (
    FaultyStream,
    LobbyStream,
    PrivateStream,
    RoomStream,
    TagStream,
    UserStream,
)
from turbo import compat, history, limits, signing
from turbo.consumers import TurboStreamConsumer
from turbo.limits import RECHECK_INTERVAL

# Channels closes stale database connections around every consumer event.
pytestmark = pytest.mark.django_db


async def test_a_subscriber_receives_broadcasts(connect):
    socket = await connect()
    stream = RoomStream.for_pk(1)
    token = signing.dumps(stream)

    ack = await socket.subscribe(stream, token)
    await stream.aappend(html=mark_safe("<li>hello</li>"), id="messages")

    assert ack == {"type": "subscribed", "token": token, "stream": stream.group}
    assert await socket.receive_html(stream) == (
        '<turbo-stream action="append" target="messages"><template><li>hello</li>'
        "</template></turbo-stream>"
    )


async def test_one_socket_carries_many_streams(connect):
    socket = await connect()
    room, lobby = RoomStream.for_pk(1), LobbyStream()
    await socket.subscribe(room)
    await socket.subscribe(lobby)

    await lobby.aupdate(text="lobby", id="x")
    await room.aupdate(text="room", id="x")

    assert "lobby" in await socket.receive_html(lobby)
    assert "room" in await socket.receive_html(room)


async def test_each_subscriber_receives_each_broadcast_once(connect):
    first, second = await connect(), await connect()
    stream = RoomStream.for_pk(1)
    await first.subscribe(stream)
    await second.subscribe(stream)

    await stream.aupdate(text="one", id="x")
    await stream.aupdate(text="two", id="x")

    for socket in (first, second):
        assert "one" in await socket.receive_html(stream)
        assert "two" in await socket.receive_html(stream)


async def test_a_broadcast_from_a_plain_thread_arrives_promptly(connect):
    socket = await connect()
    stream = RoomStream.for_pk(1)
    await socket.subscribe(stream)

    # A timer, a pool or a command's thread: no event loop of its own.
    thread = threading.Thread(target=stream.update, kwargs={"text": "from a thread", "id": "x"})
    thread.start()

    assert "from a thread" in await socket.receive_html(stream, timeout=1)
    await asyncio.to_thread(thread.join)


async def test_subscribing_twice_counts_and_delivers_once(connect):
    socket = await connect()
    stream = RoomStream.for_pk(1)
    await socket.subscribe(stream)
    await socket.subscribe(stream)

    await stream.aupdate(text="once", id="x")
    assert "once" in await socket.receive_html(stream)
    await socket.send({"type": "unsubscribe", "stream": stream.group})
    assert await socket.receive() == {"type": "unsubscribed", "stream": stream.group}

    await stream.aupdate(text="still subscribed", id="x")
    assert "still subscribed" in await socket.receive_html(stream)

    await socket.send({"type": "unsubscribe", "stream": stream.group})
    assert (await socket.receive())["type"] == "unsubscribed"
    await socket.assert_nothing_from(stream)


async def test_unsubscribing_a_stream_not_held_is_acknowledged(connect):
    socket = await connect()

    await socket.send({"type": "unsubscribe", "stream": "turbo.unknown"})

    assert await socket.receive() == {"type": "unsubscribed", "stream": "turbo.unknown"}


async def test_a_closed_socket_leaves_every_group(connect, channel_layer):
    channels: list[str] = []
    new_channel = channel_layer.new_channel

    async def recorded_new_channel(*args: Any, **kwargs: Any) -> str:
        channels.append(await new_channel(*args, **kwargs))
        return channels[-1]

    with mock.patch.object(channel_layer, "new_channel", recorded_new_channel):
        socket = await connect()
    room, lobby = RoomStream.for_pk(1), LobbyStream()
    await socket.subscribe(room)
    await socket.subscribe(lobby)
    await socket.subscribe(lobby)

    await socket.communicator.disconnect()

    if isinstance(channel_layer, RedisPubSubChannelLayer):
        # This layer drops a channel whose reader stopped, so only its group table
        # can show a membership left behind.
        groups = channel_layer._get_layer().groups
        assert not [group for group, members in groups.items() if channels[0] in members]
        return
    # Were the closed socket's channel still in a group, a broadcast would reach it
    # before the marker does.
    marker = UserStream("marker")
    await channel_layer.group_add(marker.group, channels[0])
    await history.mark_watched(channel_layer, [marker.group])
    for stream in (room, lobby):
        await stream.aupdate(text="to nobody", id="x")
    await marker.aupdate(text="marker", id="x")
    received = await asyncio.wait_for(channel_layer.receive(channels[0]), 3)
    assert "marker" in received["html"]


async def rejection(socket: Socket, token: str) -> dict[str, Any]:
    await socket.send({"type": "subscribe", "token": token})
    frame = await socket.receive()
    assert frame["type"] == "rejected", frame
    assert frame["token"] == token
    return frame


def forged_token() -> str:
    with override_settings(SECRET_KEY="an attacker's guess"):
        return signing.dumps(RoomStream.for_pk(1))


def tampered_token() -> str:
    token = signing.dumps(RoomStream.for_pk(1))
    return token[:-1] + ("A" if token[-1] != "A" else "B")


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(forged_token, "invalid", id="forged"),
        pytest.param(tampered_token, "invalid", id="tampered"),
        pytest.param(lambda: "not a token", "invalid", id="garbage"),
        pytest.param(lambda: "\ud800:not a token", "invalid", id="lone-surrogate"),
    ],
)
async def test_a_token_not_signed_here_is_rejected(connect, make_token, reason):
    socket = await connect()

    frame = await rejection(socket, make_token())

    assert frame["reason"] == reason
    assert "signature" in frame["message"]
    await socket.assert_nothing_from(RoomStream.for_pk(1))


async def test_an_expired_token_is_rejected_as_expired(connect):
    socket = await connect()
    with mock.patch("time.time", return_value=time.time() - 120):
        token = signing.dumps(RoomStream.for_pk(1))

    with override_settings(TURBO_TOKEN_MAX_AGE=60):
        frame = await rejection(socket, token)

    assert frame["reason"] == "expired"


async def test_a_token_for_one_stream_never_joins_another(connect):
    owner_stream, other_stream = PrivateStream(1), PrivateStream(2)
    owner = User(pk=1, username="owner")
    socket = await connect(owner)

    ack = await socket.subscribe(owner_stream)
    frame = await rejection(socket, signing.dumps(other_stream))

    assert ack["stream"] == owner_stream.group != other_stream.group
    assert frame["reason"] == "forbidden"
    await socket.assert_nothing_from(other_stream)


@pytest.mark.parametrize("user", [None, AnonymousUser(), User(pk=2, username="other")])
async def test_a_user_the_stream_refuses_is_rejected(connect, user):
    socket = await connect(user)
    stream = PrivateStream(1)

    frame = await rejection(socket, signing.dumps(stream))

    assert frame["reason"] == "forbidden"
    assert "user_passes_test() refused testapp:PrivateStream(owner_id=1)" in frame["message"]
    await socket.assert_nothing_from(stream)


async def log_out(user: User, client: Client) -> None:
    await sync_to_async(client.logout)()


async def change_password(user: User, client: Client) -> None:
    user.set_password("second")
    await user.asave()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("elsewhere", [log_out, change_password], ids=["logout", "password"])
async def test_once_the_session_no_longer_logs_the_user_in_a_subscribe_is_refused(
    connect, elsewhere
):
    user, client = await log_in("ada")
    socket = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(client)])
    stream = PrivateStream(user.pk)

    ack = await socket.subscribe(stream)
    await socket.send({"type": "unsubscribe", "stream": stream.group})
    assert (await socket.receive())["type"] == "unsubscribed"
    await elsewhere(user, client)
    if elsewhere is log_out:
        assert await socket.receive() == {"type": "reconnect", "reason": "session"}
    frame = await rejection(socket, signing.dumps(stream))

    assert ack["type"] == "subscribed"
    assert frame["reason"] == "forbidden"


@pytest.mark.django_db(transaction=True)
async def test_a_subscribe_after_a_secret_key_rotation_keeps_the_session_and_its_key(connect):
    user, client = await log_in("ada")
    socket = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(client)])
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value

    # Django's get_user gives such a session a new key; the browser, whose cookie
    # a socket cannot change, would then be logged out.
    with override_settings(SECRET_KEY="the new key", SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
        ack = await socket.subscribe(PrivateStream(user.pk))

    assert ack["type"] == "subscribed"
    assert await Session.objects.filter(session_key=session_key).aexists()


async def test_a_user_set_by_other_middleware_is_taken_as_it_is(connect):
    owner = User(pk=1, username="owner")
    socket = await connect(owner, middleware=AuthMiddlewareStack)

    ack = await socket.subscribe(PrivateStream(1))

    assert ack["type"] == "subscribed"


async def test_a_failing_permission_check_is_logged_and_rejected(connect, caplog):
    socket = await connect()

    frame = await rejection(socket, signing.dumps(FaultyStream()))

    assert frame["reason"] == "error"
    assert "the permission check is broken" not in frame["message"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "Checking a subscription to testapp:FaultyStream() failed"
    assert "the permission check is broken" in str(record.exc_info[1])


@pytest.mark.django_db(transaction=True)
async def test_a_stream_of_a_deleted_instance_is_not_found(connect):
    socket = await connect()
    await Tag.objects.acreate(slug="news")

    ack = await socket.subscribe(TagStream.for_pk("news"))
    frame = await rejection(socket, signing.dumps(TagStream.for_pk("gone")))

    assert ack["type"] == "subscribed"
    assert frame["reason"] == "not-found"
    assert "does not exist" in frame["message"]


async def test_a_socket_holds_at_most_max_subscriptions_streams(connect):
    socket = await connect()
    held = [UserStream(1), UserStream(2)]

    with override_settings(TURBO_MAX_SUBSCRIPTIONS=2):
        for stream in held:
            await socket.subscribe(stream)
        frame = await rejection(socket, signing.dumps(UserStream(3)))
        again = await socket.subscribe(held[0])

    assert frame["reason"] == "limit"
    assert again["type"] == "subscribed"


BAD_FRAMES = [
    pytest.param("{", "malformed", id="not-json"),
    pytest.param("[1, 2]", "malformed", id="a-list"),
    pytest.param("null", "malformed", id="null"),
    pytest.param('"subscribe"', "malformed", id="a-string"),
    pytest.param("[" * 5000 + "]" * 5000, "malformed", id="deeply-nested"),
    pytest.param("{}", "malformed", id="no-type"),
    pytest.param('{"type": 3}', "malformed", id="type-not-a-string"),
    pytest.param('{"type": "dance"}', "unknown-type", id="unknown-type"),
    pytest.param('{"type": "subscribe"}', "malformed", id="subscribe-without-token"),
    pytest.param('{"type": "subscribe", "token": 5}', "malformed", id="token-not-a-string"),
    pytest.param('{"type": "unsubscribe"}', "malformed", id="unsubscribe-without-stream"),
    pytest.param('{"type": "unsubscribe", "stream": []}', "malformed", id="stream-not-a-string"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_and_harms_nothing(connect, text, reason):
    bystander, socket = await connect(), await connect()
    stream = RoomStream.for_pk(1)
    await bystander.subscribe(stream)
    await socket.subscribe(stream)

    await socket.communicator.send_to(text_data=text)
    error = await socket.receive()
    await stream.aupdate(text="after", id="x")

    assert error["type"] == "error"
    assert error["reason"] == reason
    assert error["message"]
    for each in (socket, bystander):
        assert "after" in await each.receive_html(stream)


async def test_a_binary_frame_gets_an_error(connect):
    socket = await connect()

    await socket.communicator.send_to(bytes_data=b'{"type": "subscribe"}')

    assert (await socket.receive())["reason"] == "binary"
    assert (await socket.subscribe(LobbyStream()))["type"] == "subscribed"


async def test_an_oversized_frame_closes_the_socket_and_no_other(connect):
    bystander, socket = await connect(), await connect()
    stream = RoomStream.for_pk(1)
    await bystander.subscribe(stream)

    with override_settings(TURBO_MAX_FRAME_SIZE=1000):
        await socket.send({"type": "subscribe", "token": "x" * 1000})
        await socket.assert_closed(limits.CLOSE_FRAME_TOO_BIG)
    await stream.aupdate(text="after", id="x")

    assert "after" in await bystander.receive_html(stream)


async def test_a_frame_flood_closes_the_socket_and_no_other(connect):
    bystander = await connect()
    stream = RoomStream.for_pk(1)
    await bystander.subscribe(stream)
    with override_settings(TURBO_FRAME_BURST=5, TURBO_FRAME_RATE=0.001):
        socket = await connect()
    token = signing.dumps(stream)

    for _ in range(5):
        await socket.send({"type": "subscribe", "token": token})
        assert (await socket.receive())["type"] == "subscribed"
    await socket.send({"type": "subscribe", "token": token})
    await socket.assert_closed(limits.CLOSE_RATE_LIMITED)
    await stream.aupdate(text="after", id="x")

    assert "after" in await bystander.receive_html(stream)


async def test_acks_of_frames_received_do_not_count_against_the_rate_limit(connect):
    stream = RoomStream.for_pk(1)
    with override_settings(TURBO_FRAME_BURST=3, TURBO_FRAME_RATE=0.001):
        socket = await connect()
    await socket.subscribe(stream)  # frame 1, token 1

    for received in range(2, 12):  # a page acknowledging more than it may send frames
        await stream.aupdate(text=str(received), id="x")
        await socket.receive_html(stream)
        await socket.send({"type": "ack", "messages": received})
    await socket.send({"type": "unsubscribe", "stream": "turbo.none"})  # token 2

    assert (await socket.receive())["type"] == "unsubscribed"


@pytest.mark.parametrize("messages", [1, 99], ids=["nothing-new", "impossible"])
async def test_acks_that_acknowledge_nothing_count_against_the_rate_limit(connect, messages):
    stream = RoomStream.for_pk(1)
    with override_settings(TURBO_FRAME_BURST=3, TURBO_FRAME_RATE=0.001):
        socket = await connect()
    await socket.subscribe(stream)
    await socket.send({"type": "ack", "messages": 1})

    for _ in range(3):  # with the subscribe, one more than the burst
        await socket.send({"type": "ack", "messages": messages})
    if messages == 99:
        for _ in range(2):
            assert (await socket.receive())["reason"] == "malformed"

    await socket.assert_closed(limits.CLOSE_RATE_LIMITED)


async def test_a_refused_stream_is_refused_again_for_a_while_without_a_check(connect):
    stream = PrivateStream(1)
    socket = await connect(User(pk=2, username="other"))
    token = signing.dumps(stream)
    checks = mock.patch.object(PrivateStream, "user_passes_test", autospec=True, return_value=False)

    with checks as check, mock.patch("turbo.consumers.monotonic", return_value=100.0) as now:
        for _ in range(3):
            assert (await rejection(socket, token))["reason"] == "forbidden"
        assert check.call_count == 1
        now.return_value = 100.0 + RECHECK_INTERVAL
        await rejection(socket, token)
        assert check.call_count == 2


async def test_a_public_stream_is_subscribed_without_resolving_the_user(connect):
    """A server taking the pages of one that died subscribes thousands at once."""
    socket = await connect(User(pk=1, username="owner"))

    with mock.patch.object(TurboStreamConsumer, "user_may_subscribe") as check:
        assert (await socket.subscribe(LobbyStream()))["type"] == "subscribed"
        assert (await socket.subscribe(PrivateStream(1)))["type"] == "subscribed"

    [(stream,)] = [call.args for call in check.call_args_list]
    assert stream == PrivateStream(1)


async def test_a_stream_the_socket_holds_is_counted_without_a_check(connect):
    stream = PrivateStream(1)
    socket = await connect(User(pk=1, username="owner"))
    assert (await socket.subscribe(stream))["type"] == "subscribed"

    with mock.patch.object(PrivateStream, "user_passes_test", autospec=True) as check:
        assert (await socket.subscribe(stream))["type"] == "subscribed"
    await socket.send({"type": "unsubscribe", "stream": stream.group})
    await socket.receive()
    await stream.aupdate(text="still held", id="x")

    check.assert_not_called()
    assert "still held" in await socket.receive_html(stream)


@override_settings(TURBO_MAX_UNACKED_BYTES=256 * 1024)
async def test_a_subscribe_that_missed_more_than_half_the_window_refreshes(connect):
    stream = RoomStream.for_pk(1)
    kept = history.for_layer(get_channel_layer())
    await history.mark_watched(get_channel_layer(), [stream.group])
    position = str(await kept.position())
    for n in range(3):
        await stream.aupdate(text=f"{n}" * 50_000, id="x")

    answer = await (await connect()).subscribe(stream, position=position)

    assert answer["type"] == "subscribed"
    assert answer["refresh"] is True
    assert "missed" not in answer


async def test_without_a_channel_layer_the_handshake_is_refused(caplog):
    with override_settings(CHANNEL_LAYERS={}):
        socket = Socket()
        connected, code = await socket.communicator.connect()

    assert not connected
    assert code == 1000  # a close before accepting: the server answers 403
    assert "no channel layer is configured" in caplog.text


@pytest.fixture
def no_consumer_yet(monkeypatch):
    monkeypatch.setattr(turbo.loops, "_consumer_connected", False)
    monkeypatch.setattr(turbo.sending, "_warned_in_memory", False)


WARNING = "on the in-memory channel layer, in a process where no turbo websocket has connected"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_consumer_yet")
def test_broadcasting_in_memory_without_consumers_warns_once(caplog):
    RoomStream.for_pk(1).update(text="lost", id="x")
    LobbyStream().update(text="lost", id="x")

    [warning] = [r for r in caplog.records if WARNING in r.getMessage()]
    assert warning.levelno == logging.WARNING
    # It names each likely cause and its fix.
    for cause in (
        "testapp:RoomStream(1)",
        "turbo.routing.websocket_application()",
        "ASGI_APPLICATION",
        "'daphne' first in INSTALLED_APPS",
        "{% turbo_head %} and {% turbo_subscribe %}",
        "use a channels_redis layer",
    ):
        assert cause in warning.getMessage()


@pytest.mark.usefixtures("no_consumer_yet")
async def test_broadcasting_in_memory_after_a_consumer_connected_does_not_warn(caplog):
    socket = Socket()
    await socket.communicator.connect()

    await RoomStream.for_pk(1).aupdate(text="delivered", id="x")
    await socket.communicator.disconnect()

    assert WARNING not in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_consumer_yet")
def test_broadcasting_on_any_layer_without_consumers_warns_only_in_memory(channel_layer, caplog):
    RoomStream.for_pk(1).update(text="to other processes", id="x")

    assert (WARNING in caplog.text) == (channel_layer.__class__.__name__ == "InMemoryChannelLayer")


async def inner_send(message: dict[str, Any]) -> None:
    """The send a middleware wraps."""


def session_send(wrapper_class: type[InstanceSessionWrapper] = InstanceSessionWrapper) -> Any:
    return wrapper_class({"cookies": {}}, inner_send).send


def test_message_frames_skip_the_session_middlewares_send_wrapper():
    # Nested session middlewares wrap send once each.
    outer = InstanceSessionWrapper({"cookies": {}}, session_send())

    assert compat.frame_sender(outer.send) is inner_send


def test_message_frames_go_through_any_other_send_wrapper():
    class SavesOnEveryFrame(InstanceSessionWrapper):
        save_message_types = ["http.response.start", "websocket.send"]

    async def counting_send(message: dict[str, Any]) -> None:
        await session_send()(message)

    assert compat.frame_sender(counting_send) is counting_send
    wrapped = session_send(SavesOnEveryFrame)
    assert compat.frame_sender(wrapped) == wrapped


async def test_a_socket_behind_auth_middleware_sends_messages_past_the_session(connect):
    stream = LobbyStream()
    session_middleware = InstanceSessionWrapper.send

    with mock.patch.object(InstanceSessionWrapper, "send", autospec=True) as wrapper:
        wrapper.side_effect = session_middleware
        socket = await connect(middleware=AuthMiddlewareStack)
        await socket.subscribe(stream)
        await stream.aupdate(text="hi", id="x")
        assert "hi" in await socket.receive_html(stream)

    sent = [call.args[1] for call in wrapper.call_args_list]
    assert {"type": "websocket.accept", "subprotocol": None} in sent
    assert not any('"message"' in message.get("text", "") for message in sent)
