"""The consumer's limits, attacked on real servers (daphne and uvicorn).

Each test speaks to a server process as a hostile client would, and checks what
``docs/security.rst`` promises: the server's memory stays bounded, the socket is
closed with the documented code, the log says so in one line, and a
well-behaved neighbour keeps receiving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.conftest import layer_config
from tests.live import POSITION, TOKEN, LiveSocket, ServerProcess, manage
from tests.testapp.models import Room
from turbo import limits

pytestmark = pytest.mark.django_db(transaction=True)

SERVERS = pytest.mark.parametrize("kind", ["daphne", "uvicorn"])

#: What one attacking socket may grow a server's memory by (docs/security.rst).
RSS_BOUND = 32 * 1024 * 1024


def rss(server: ServerProcess) -> int:
    """The server process's resident memory, in bytes."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


def log_lines(server: ServerProcess, text: str) -> list[str]:
    return [line for line in server.output().splitlines() if text in line]


async def closed_with(connection: Any) -> int | None:
    """Read until the server closes ``connection``; the close code it sent."""
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(connection.recv(), 10)
    return connection.close_code  # type: ignore[no-any-return]


@SERVERS
async def test_a_socket_that_asks_for_replays_and_never_reads_is_closed(servers, kind):
    # The attack: a public stream with 150 entries in its history; a socket
    # that never reads sends 190 replays of all of it at once, then 19 a
    # second (within the frame rate limit). Every answer counts against what
    # the client may leave unacknowledged, so the socket is closed with 4408
    # long before the server holds RSS_BOUND for it.
    config = layer_config("redis-pubsub")
    server = await asyncio.to_thread(servers, config, kind)
    room = await Room.objects.acreate(name="replayed")
    status, page = await asyncio.to_thread(server.get, f"/rooms/{room.pk}/")
    assert status == 200, page
    token, position = TOKEN.search(page).group(1), POSITION.search(page).group(1)
    await asyncio.to_thread(
        manage, config, "say", str(room.pk), *[f"{n:03d}" + "x" * 400 for n in range(150)]
    )

    async with LiveSocket(server) as neighbour, LiveSocket(server, max_queue=1) as attacker:
        group = await neighbour.subscribe(token)
        await attacker.subscribe(token)
        before = rss(server)
        replay = json.dumps({"type": "replay", "stream": group, "position": position})
        peak, started, closed_after = before, time.monotonic(), None
        for _ in range(190):
            await attacker.connection.send(replay)
        for _ in range(20 * 19):  # at most 20 s more
            if log_lines(server, f"Closing a turbo websocket ({limits.CLOSE_TOO_SLOW})"):
                closed_after = time.monotonic() - started
                break
            await attacker.connection.send(replay)
            peak = max(peak, rss(server))
            await asyncio.sleep(1 / 19)  # the attack's own pace, not a synchronisation
        peak = max(peak, rss(server))
        # The figures of docs/security.rst; pytest -rP shows them.
        print(
            f"{kind}: RSS {before / 2**20:.1f} -> {peak / 2**20:.1f} MiB, "
            f"closed after {closed_after and round(closed_after, 2)} s"
        )

        [closing] = log_lines(server, "Closing a turbo websocket")
        assert f"({limits.CLOSE_TOO_SLOW})" in closing
        assert peak - before < RSS_BOUND, f"{kind} grew by {(peak - before) / 2**20:.1f} MiB"
        output = await asyncio.to_thread(manage, config, "say", str(room.pk), "still here")
        assert "still here" in await neighbour.receive_html(), output
    assert "Traceback" not in server.output()


def one_close_logged(server: ServerProcess, code: int) -> str:
    """The server's one log line about closing a socket, with ``code``; no traceback."""
    [line] = log_lines(server, "Closing a turbo websocket")
    assert f"({code})" in line
    assert "Traceback" not in server.output()
    return line


@SERVERS
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
async def test_a_frame_over_the_size_limit_closes_with_4009(servers, kind, binary):
    server = await asyncio.to_thread(
        servers, layer_config("memory"), kind, TURBO_MAX_FRAME_SIZE="1000"
    )

    async with LiveSocket(server) as socket:
        await socket.connection.send(b"x" * 1001 if binary else "x" * 1001)
        code = await closed_with(socket.connection)
        await asyncio.to_thread(server.wait_for_output, "Closing a turbo websocket")

    assert code == limits.CLOSE_FRAME_TOO_BIG == 4009
    assert "a frame of 1001 characters" in one_close_logged(server, 4009)


@SERVERS
async def test_a_frame_flood_closes_with_4429(servers, kind):
    server = await asyncio.to_thread(
        servers, layer_config("memory"), kind, TURBO_FRAME_BURST="5", TURBO_FRAME_RATE="0.01"
    )

    async with LiveSocket(server) as socket:
        for _ in range(6):
            await socket.send({"type": "unsubscribe", "stream": "turbo.none"})
        code = await closed_with(socket.connection)
        await asyncio.to_thread(server.wait_for_output, "Closing a turbo websocket")

    assert code == limits.CLOSE_RATE_LIMITED
    assert "too many frames" in one_close_logged(server, 4429)


@SERVERS
async def test_replays_faster_than_the_replay_rate_close_with_4429(servers, kind):
    # A page reads the history of each of its streams at once when it
    # reconnects (TURBO_MAX_SUBSCRIPTIONS of them, here 2), then at
    # TURBO_REPLAY_RATE; each read costs the server, whatever the client reads.
    config = layer_config("redis-pubsub")
    server = await asyncio.to_thread(
        servers, config, kind, TURBO_MAX_SUBSCRIPTIONS="2", TURBO_REPLAY_RATE="0.01"
    )
    room = await Room.objects.acreate(name="replayed")
    status, page = await asyncio.to_thread(server.get, f"/rooms/{room.pk}/")
    assert status == 200, page
    token, position = TOKEN.search(page).group(1), POSITION.search(page).group(1)

    async with LiveSocket(server) as socket:
        group = await socket.subscribe(token, position)
        await socket.send({"type": "replay", "stream": group, "position": position})
        assert (await socket.receive())["type"] == "replayed"
        await socket.send({"type": "replay", "stream": group, "position": position})
        code = await closed_with(socket.connection)
        await asyncio.to_thread(server.wait_for_output, "Closing a turbo websocket")

    assert code == limits.CLOSE_RATE_LIMITED
    assert "too many history reads" in one_close_logged(server, 4429)


async def refused(server: ServerProcess) -> int:
    """The HTTP status of a handshake the server refuses."""
    with pytest.raises(websockets.InvalidStatus) as refusal:
        async with LiveSocket(server):
            pass
    return refusal.value.response.status_code  # type: ignore[no-any-return]


@SERVERS
async def test_a_client_over_its_share_of_sockets_is_refused(servers, kind):
    server = await asyncio.to_thread(
        servers, layer_config("memory"), kind, TURBO_MAX_SOCKETS_PER_CLIENT="2"
    )
    room = await Room.objects.acreate(name="crowded")
    token = await asyncio.to_thread(server.token, f"/rooms/{room.pk}/")

    async with LiveSocket(server) as first, LiveSocket(server) as second:
        assert await refused(server) == 403
        assert await refused(server) == 403
        for socket in (first, second):
            await socket.subscribe(token)
    async with LiveSocket(server) as again:  # closed sockets free their share
        await again.subscribe(token)

    [warning] = log_lines(server, "Refused turbo websockets from 127.0.0.1")
    assert "TURBO_MAX_SOCKETS_PER_CLIENT" in warning
    assert "Traceback" not in server.output()


@SERVERS
async def test_without_a_channel_layer_the_handshake_is_refused(servers, kind):
    server = await asyncio.to_thread(servers, {}, kind)

    assert await refused(server) == 403
    await asyncio.to_thread(server.wait_for_output, "no channel layer is configured")
    assert "Traceback" not in server.output()


@SERVERS
async def test_a_long_token_is_not_echoed(servers, kind):
    server = await asyncio.to_thread(servers, layer_config("memory"), kind)

    async with LiveSocket(server) as socket:
        await socket.send({"type": "subscribe", "token": "x" * 10_000})
        error = await socket.receive()
        await socket.send({"type": "x" * 10_000})
        unknown = await socket.receive()

    assert error["reason"] == "malformed"
    assert "at most 2048 characters" in error["message"]
    assert len(json.dumps(error)) < 200
    assert unknown["reason"] == "unknown-type"
    assert len(json.dumps(unknown)) < 200
