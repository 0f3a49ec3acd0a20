"""End to end over real processes: daphne or runserver, Redis, a separate saver."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys

import pytest
import websockets

from tests.conftest import layer_config
from tests.live import POSITION, ROOT, TOKEN, LiveSocket, free_port, manage
from tests.strategies import sign
from tests.testapp.models import Room
from tests.testapp.streams import LobbyStream
from turbo import signing
from turbo.limits import CLOSE_TOO_SLOW
from turbo.templatetags.turbo_streams import CLIENT_SCRIPT, TURBO_SCRIPT

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = re.compile(r"(burst-\d+)")


@pytest.mark.parametrize("layer", ["redis-core", "redis-pubsub"])
async def test_a_save_in_a_command_reaches_sockets_on_every_server(servers, layer):
    config = layer_config(layer)
    room = await Room.objects.acreate(name="everywhere")
    first, second = await asyncio.gather(
        asyncio.to_thread(servers, config), asyncio.to_thread(servers, config)
    )

    async with LiveSocket(first) as on_first, LiveSocket(second) as on_second:
        for socket, server in ((on_first, first), (on_second, second)):
            await socket.subscribe(server.token(f"/rooms/{room.pk}/"))
        output = await asyncio.to_thread(manage, config, "say", str(room.pk), "hello all")
        message_id = output.strip()

        for socket in (on_first, on_second):
            html = await socket.receive_html()
            assert f'<li id="{message_id}">' in html
            assert "hello all" in html


@pytest.mark.parametrize("layer", ["redis-core", "redis-pubsub"])
async def test_a_thousand_broadcasts_in_one_transaction_reach_every_socket(servers, layer):
    # Redis core holds 100 messages per channel by default and drops the rest
    # silently; a server busy writing to its sockets falls that far behind a
    # command committing a burst.
    config = layer_config(layer)
    room = await Room.objects.acreate(name="burst")
    server = await asyncio.to_thread(servers, config)
    token = await asyncio.to_thread(server.token, f"/rooms/{room.pk}/")
    texts = [f"burst-{n}" for n in range(1000)]

    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(LiveSocket(server)) for _ in range(20)]
        for socket in sockets:
            await socket.subscribe(token)
        await asyncio.to_thread(manage, config, "say", "--atomic", str(room.pk), *texts)

        # The commit's broadcasts come combined, a few messages of 64 KiB at
        # most (test_hub sends such a burst one message each, too).
        for socket in sockets:
            received: list[str] = []
            while len(received) < len(texts):
                received += TEXT.findall(await socket.receive_html())
            assert received == texts


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_a_client_that_stops_reading_is_dropped_and_no_other(servers, kind):
    # Neither server makes a send wait for a stalled client (daphne never
    # does), so the acknowledgements it no longer sends give it away.
    config = layer_config("redis-pubsub")
    # Long enough that the reading client, in a test run sharing its two cores
    # with five others (CI's tox run-parallel), acks in time; 3 s was not
    # always; short enough for the stalled one to be seen.
    server = await asyncio.to_thread(servers, config, kind, ACK_TIMEOUT="6")
    room = await Room.objects.acreate(name="slow")
    token = await asyncio.to_thread(server.token, f"/rooms/{room.pk}/")
    # Message.text holds 500 characters: 200 messages owe an ack (over 64 KiB).
    texts = [f"{n:04d}" + "x" * 440 for n in range(220)]

    async with LiveSocket(server) as reading, LiveSocket(server, max_queue=1) as stalled:
        await reading.subscribe(token)
        await stalled.subscribe(token)
        # From here on the stalled client reads nothing: its library stops
        # reading the socket once a frame waits unread.
        for batch in (texts[:200], texts[200:]):
            await asyncio.to_thread(manage, config, "say", str(room.pk), *batch)
            for text in batch:
                assert text in await reading.receive_html()
            await asyncio.sleep(6.5)  # the condition under test: TURBO_ACK_TIMEOUT passing

        closing = await asyncio.to_thread(server.wait_for_output, "Closing a turbo websocket")
    assert f"({CLOSE_TOO_SLOW}): the client has owed an ack for over 6 s" in closing


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_a_genuine_token_of_a_malformed_payload_is_rejected_and_the_socket_stays_usable(
    servers, kind
):
    server = await asyncio.to_thread(servers, layer_config("memory"), kind)
    malformed = sign([["testapp:LobbyStream"], [], {}])

    async with LiveSocket(server) as socket:
        await socket.send({"type": "subscribe", "token": malformed})
        rejected = await socket.receive()
        stream = await socket.subscribe(signing.dumps(LobbyStream()))

    assert (rejected["type"], rejected["reason"]) == ("rejected", "invalid")
    assert stream == LobbyStream().group


@pytest.mark.parametrize("kind", ["daphne", "runserver"])
async def test_the_scripts_turbo_head_emits_are_served(servers, kind):
    server = await asyncio.to_thread(servers, layer_config("memory"), kind)
    room = await Room.objects.acreate(name="static")

    status, html = await asyncio.to_thread(server.get, f"/rooms/{room.pk}/")
    assert status == 200
    for path in (TURBO_SCRIPT, CLIENT_SCRIPT):
        assert f'src="/static/{path}"' in html
        status, body = await asyncio.to_thread(server.get, f"/static/{path}")
        assert status == 200
        assert "customElements" in body or "Turbo" in body


async def test_runserver_on_the_in_memory_layer_delivers_a_views_broadcast(servers):
    server = await asyncio.to_thread(servers, layer_config("memory"), "runserver")
    room = await Room.objects.acreate(name="day one")

    async with LiveSocket(server) as socket:
        await socket.subscribe(await asyncio.to_thread(server.token, f"/rooms/{room.pk}/"))
        message_id = await asyncio.to_thread(server.post, f"/rooms/{room.pk}/say/", text="hi")

        html = await socket.receive_html()

    assert f'<li id="{message_id}">' in html


@pytest.mark.parametrize(
    "origin", [None, "http://evil.example"], ids=["no-origin", "foreign-origin"]
)
async def test_a_handshake_without_an_allowed_origin_is_refused(servers, origin):
    server = await asyncio.to_thread(servers, layer_config("memory"))
    headers = {} if origin is None else {"origin": origin}

    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/turbo/", **headers)

    assert refused.value.response.status_code == 403
    async with LiveSocket(server):  # the page's own origin is welcome
        pass


@pytest.mark.parametrize("layer", ["redis-core", "redis-pubsub"])
async def test_a_broadcast_between_the_pages_render_and_its_subscribe_is_replayed(servers, layer):
    config = layer_config(layer)
    room = await Room.objects.acreate(name="race")
    server = await asyncio.to_thread(servers, config)
    status, page = await asyncio.to_thread(server.get, f"/rooms/{room.pk}/")
    assert status == 200, page
    token, position = TOKEN.search(page).group(1), POSITION.search(page).group(1)

    output = await asyncio.to_thread(manage, config, "say", str(room.pk), "in between")
    async with LiveSocket(server) as socket:
        await socket.send({"type": "subscribe", "token": token, "position": position})
        answer = await socket.receive()

    [missed] = answer["missed"]
    assert f'<li id="{output.strip()}">' in missed["html"]
    assert "in between" in missed["html"]


def test_a_port_one_test_process_claimed_is_not_handed_to_another():
    # Two tox environments probing the same port before either server bound it
    # once sent a test's requests to the other environment's server.
    claimed = free_port()
    script = (
        "import random, sys\n"
        "from tests import live\n"
        f"ports, draw = iter([{claimed}, {claimed}]), random.randrange\n"
        "random.randrange = lambda *bounds: next(ports, None) or draw(*bounds)\n"
        "print(live.free_port())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert int(result.stdout) != claimed
