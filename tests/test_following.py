"""Sockets follow their session and user: reconnect on a session change, re-checks on demand."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.models import Session
from django.db import transaction
from django.test import AsyncClient, Client, override_settings

import turbo
import turbo.hub
from tests.conftest import Socket, log_in, session_cookie
from tests.testapp.models import Room
from tests.testapp.streams import LobbyStream, PrivateStream, RoomStream
from turbo import identity_groups, revocation, signing

if TYPE_CHECKING:
    from django.http import HttpResponse

pytestmark = pytest.mark.django_db(transaction=True)

RECONNECT = {"type": "reconnect", "reason": "session"}


async def private_socket(connect, username: str = "ada") -> tuple[User, Client, Socket, str]:
    """A logged-in socket holding its user's private stream and the lobby; the private token."""
    user, client = await log_in(username)
    socket = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(client)])
    token = signing.dumps(PrivateStream(user.pk))
    assert (await socket.subscribe(PrivateStream(user.pk), token))["type"] == "subscribed"
    assert (await socket.subscribe(LobbyStream()))["type"] == "subscribed"
    return user, client, socket, token


async def assert_only_public(socket: Socket, user: User) -> None:
    """The lobby still reaches the socket; the private stream does not."""
    await socket.assert_nothing_from(PrivateStream(user.pk))
    await LobbyStream().aupdate(text="still public", id="x")
    assert "still public" in await socket.receive_html(LobbyStream())


def session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def test_a_logout_asks_the_sessions_sockets_to_reconnect_and_drops_private_streams(
    connect,
):
    user, client, socket, _ = await private_socket(connect)

    await sync_to_async(client.logout)()

    assert await socket.receive() == RECONNECT
    await assert_only_public(socket, user)


async def test_after_a_session_change_the_socket_subscribes_as_anonymous(connect):
    _, client, socket, token = await private_socket(connect)
    other = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(client)])

    await revocation.asession_changed(session_key(client))
    for each in (socket, other):
        assert await each.receive() == RECONNECT
    await socket.send({"type": "subscribe", "token": token})
    frame = await socket.receive()

    # The session itself is still logged in: only the socket stopped trusting it.
    assert await Session.objects.filter(session_key=session_key(client)).aexists()
    assert frame["type"] == "rejected"
    assert frame["reason"] == "forbidden"


async def test_a_second_session_change_sends_no_second_reconnect(connect):
    user, client, socket, _ = await private_socket(connect)

    await revocation.asession_changed(session_key(client))
    await revocation.asession_changed(session_key(client))

    assert await socket.receive() == RECONNECT
    await assert_only_public(socket, user)


async def test_another_sessions_change_reaches_no_socket_of_this_one(connect):
    user, _, socket, _ = await private_socket(connect)
    _, stranger = await log_in("eve")

    await sync_to_async(stranger.logout)()

    await PrivateStream(user.pk).aupdate(text="still private", id="x")
    assert "still private" in await socket.receive_html(PrivateStream(user.pk))


@pytest.mark.parametrize("change", ["password", "inactive"])
async def test_saving_a_user_who_no_longer_passes_rejects_their_private_streams(connect, change):
    user, _, socket, token = await private_socket(connect)

    if change == "password":
        user.set_password("second")
    else:
        user.is_active = False
    await user.asave()
    frame = await socket.receive()

    assert frame == {
        "type": "rejected",
        "token": token,
        "reason": "forbidden",
        "message": f"user_passes_test() refused {PrivateStream(user.pk)}.",
    }
    await assert_only_public(socket, user)


async def test_a_login_saving_last_login_asks_for_no_re_check():
    user = await sync_to_async(User.objects.create_user)("ada")
    sent: list[tuple[list[str], str]] = []

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(identity_groups, "send", lambda groups, event: sent.append((groups, event)))
        await user.asave(update_fields=["last_login"])
        assert sent == []
        await user.asave(update_fields=["last_login", "is_active"])

    assert sent == [([identity_groups.user_group(user)], identity_groups.RECHECK)]


@pytest.mark.parametrize("by", ["user", "pk", "session"])
async def test_reauthorize_rejects_what_the_user_may_no_longer_receive(connect, by):
    user, client, socket, token = await private_socket(connect)
    await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)

    if by == "session":
        await sync_to_async(turbo.reauthorize)(session_key=session_key(client))
    else:
        await sync_to_async(turbo.reauthorize)(user=user if by == "user" else user.pk)
    frame = await socket.receive()

    assert (frame["type"], frame["token"], frame["reason"]) == ("rejected", token, "forbidden")
    await assert_only_public(socket, user)


async def test_reauthorize_keeps_what_still_passes(connect):
    user, _, socket, _ = await private_socket(connect)

    await turbo.areauthorize(user=user)

    await PrivateStream(user.pk).aupdate(text="still private", id="x")
    assert "still private" in await socket.receive_html(PrivateStream(user.pk))


async def test_reauthorize_waits_for_the_commit_and_skips_a_rollback(connect):
    user, _, socket, token = await private_socket(connect)

    def deactivate(commit: bool) -> None:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(is_active=False)
            turbo.reauthorize(user=user)
            if not commit:
                transaction.set_rollback(True)

    await sync_to_async(deactivate)(False)
    await PrivateStream(user.pk).aupdate(text="kept", id="x")
    assert "kept" in await socket.receive_html(PrivateStream(user.pk))
    await sync_to_async(deactivate)(True)
    frame = await socket.receive()

    assert (frame["type"], frame["token"]) == ("rejected", token)


async def test_every_token_a_revoked_stream_was_subscribed_with_is_rejected(connect):
    user, _, socket, token = await private_socket(connect)
    with override_settings(SECRET_KEY_FALLBACKS=[settings.SECRET_KEY], SECRET_KEY="newer"):
        second = signing.dumps(PrivateStream(user.pk))
        assert (await socket.subscribe(PrivateStream(user.pk), second))["type"] == "subscribed"
    await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)

    await turbo.areauthorize(user=user)

    tokens = {(await socket.receive())["token"] for _ in range(2)}
    assert tokens == {token, second}
    await assert_only_public(socket, user)


async def test_reauthorize_every_rechecks_without_a_signal(connect):
    with override_settings(TURBO_REAUTHORIZE_EVERY=0.2):
        user, _, socket, token = await private_socket(connect)
        await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)
        loop = asyncio.get_running_loop()
        started = loop.time()

        frame = await socket.receive()

    assert (frame["type"], frame["token"], frame["reason"]) == ("rejected", token, "forbidden")
    assert loop.time() - started < 1.0


def test_identity_group_names_hide_the_session_key():
    key = "abcdefghijklmnopqrstuvwxyz012345"

    group = identity_groups.session_group(key)

    assert group.startswith("turbo-auth.s.")
    assert key not in group
    assert len(group) < 100
    assert identity_groups.user_group(User(pk=7)) == identity_groups.user_group(7)
    assert identity_groups.user_group(7) != identity_groups.session_group("7")


@pytest.fixture(params=["sync", "async"])
def browser(request: pytest.FixtureRequest) -> Client | AsyncClient:
    """A test client going through TurboMiddleware's sync or async path."""
    return Client() if request.param == "sync" else AsyncClient()


async def fetch(
    client: Client | AsyncClient, path: str, data: dict[str, str] | None = None
) -> HttpResponse:
    """GET ``path``, or POST ``data`` to it."""
    method = "get" if data is None else "post"
    if isinstance(client, AsyncClient):
        return await getattr(client, method)(path, data)
    return await sync_to_async(getattr(client, method))(path, data)


async def test_a_page_that_subscribes_gives_an_anonymous_visitor_a_session(browser):
    room = await Room.objects.acreate(name="hall")

    unsubscribing = await fetch(browser, "/nowhere/")
    subscribing = await fetch(browser, f"/rooms/{room.pk}/")

    assert settings.SESSION_COOKIE_NAME not in unsubscribing.cookies
    key = subscribing.cookies[settings.SESSION_COOKIE_NAME].value
    assert await Session.objects.filter(session_key=key).aexists()


async def test_logging_in_from_an_anonymous_page_asks_its_socket_to_reconnect(connect, browser):
    room = await Room.objects.acreate(name="hall")
    await sync_to_async(User.objects.create_user)("ada")
    await fetch(browser, f"/rooms/{room.pk}/")
    socket = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(browser)])
    assert (await socket.subscribe(RoomStream.for_pk(room.pk)))["type"] == "subscribed"

    await fetch(browser, "/log-in/", {"username": "ada"})

    assert await socket.receive() == RECONNECT
    await RoomStream.for_pk(room.pk).aupdate(text="public still", id="x")
    assert "public still" in await socket.receive_html(RoomStream.for_pk(room.pk))


async def test_logging_out_asks_the_sessions_sockets_to_reconnect_once(connect, browser):
    user = await sync_to_async(User.objects.create_user)("ada")
    await fetch(browser, "/log-in/", {"username": "ada"})
    socket = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(browser)])
    assert (await socket.subscribe(PrivateStream(user.pk)))["type"] == "subscribed"
    assert (await socket.subscribe(LobbyStream()))["type"] == "subscribed"

    await fetch(browser, "/log-out/", {})

    assert await socket.receive() == RECONNECT
    await assert_only_public(socket, user)


async def test_a_logout_through_the_middleware_tells_its_session_once_after_the_flush(
    browser, monkeypatch
):
    await sync_to_async(User.objects.create_user)("ada")
    await fetch(browser, "/log-in/", {"username": "ada"})
    key = session_key(browser)
    happened: list[object] = []
    send, flush = identity_groups.send, SessionBase.flush

    def recording_send(groups: list[str], event: str) -> None:
        happened.append(groups)
        send(groups, event)

    def recording_flush(session: SessionBase) -> None:
        happened.append("flush")
        flush(session)

    monkeypatch.setattr(identity_groups, "send", recording_send)
    monkeypatch.setattr(SessionBase, "flush", recording_flush)
    await fetch(browser, "/log-out/", {})

    # Told while the session still logged the user in, a page would reconnect
    # as that user, with the cookie the response was about to replace.
    assert happened == ["flush", [identity_groups.session_group(key)]]


async def test_a_password_change_reconnects_its_session_and_revokes_the_users_others(
    connect, browser
):
    user = await sync_to_async(User.objects.create_user)("ada", password="first")
    await fetch(browser, "/log-in/", {"username": "ada"})
    _, elsewhere = await log_in("ada-elsewhere")
    await sync_to_async(elsewhere.force_login)(user)
    here = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(browser)])
    there = await connect(middleware=AuthMiddlewareStack, headers=[session_cookie(elsewhere)])
    token = signing.dumps(PrivateStream(user.pk))
    for socket in (here, there):
        assert (await socket.subscribe(PrivateStream(user.pk), token))["type"] == "subscribed"

    await fetch(browser, "/password/", {"password": "second"})

    # The save's re-check may reach this socket first (a rejected frame): the
    # client retries what it rejected once it reconnects.
    first = await here.receive()
    assert RECONNECT in (first, first["type"] == "rejected" and await here.receive())
    frame = await there.receive()
    assert (frame["type"], frame["token"], frame["reason"]) == ("rejected", token, "forbidden")


async def test_a_socket_whose_identity_groups_fail_to_join_still_serves_its_streams(
    connect, caplog
):
    async def unreachable(*args: object) -> None:
        raise ConnectionError("the layer is down")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(turbo.hub.Hub, "listen", unreachable)
        user, _, socket, _ = await private_socket(connect)

    await PrivateStream(user.pk).aupdate(text="served", id="x")
    assert "served" in await socket.receive_html(PrivateStream(user.pk))
    assert "Joining the identity groups of a turbo socket failed" in caplog.text


async def test_a_token_subscribed_many_times_is_rejected_once(connect):
    user, _, socket, token = await private_socket(connect)
    for _ in range(3):
        assert (await socket.subscribe(PrivateStream(user.pk), token))["type"] == "subscribed"
    await sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)

    await turbo.areauthorize(user=user)

    assert (await socket.receive())["token"] == token
    await assert_only_public(socket, user)
