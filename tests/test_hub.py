"""The per-process hub: one layer subscription per stream, shared by the sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import override_settings
from django.utils.safestring import mark_safe

from tests.conftest import Socket, layer_config
from tests.testapp.streams import LobbyStream, RoomStream
from turbo import batches, fragments, history, hub, limits, signing
from turbo.watch import PROBE_INTERVAL, PROBE_TIMEOUT, Watch

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from turbo.streams import Stream

pytestmark = pytest.mark.django_db


def count_calls(target: Any, name: str) -> Any:
    """Patch ``target.name`` with a spy that still calls it."""
    return mock.patch.object(target, name, wraps=getattr(target, name))


@contextlib.asynccontextmanager
async def subscribed_on(config: dict[str, Any], stream: Stream) -> AsyncIterator[Socket]:
    """A socket subscribed to ``stream`` on a default layer of ``config``, closed after."""
    with override_settings(CHANNEL_LAYERS={"default": config}):
        socket = Socket()
        await socket.communicator.connect()
        await socket.subscribe(stream)
        yield socket
        await socket.communicator.disconnect()


def the_hub() -> hub.Hub:
    """This loop's only hub."""
    [watching] = hub._hubs[asyncio.get_running_loop()].values()
    return watching


async def test_many_sockets_share_one_membership_and_one_encoding(connect, channel_layer):
    stream = RoomStream.for_pk(1)
    with count_calls(channel_layer, "group_add") as group_add:
        sockets = [await connect() for _ in range(20)]
        for socket in sockets:
            await socket.subscribe(stream)
    with count_calls(hub, "encode") as encode:
        await stream.aupdate(text="to all", id="x")

        for socket in sockets:
            assert "to all" in await socket.receive_html(stream)

    assert [call.args[0] for call in group_add.call_args_list] == [stream.group]
    encode.assert_called_once()


async def test_sockets_connecting_at_once_share_one_hub(channel_layer):
    # A hub started by each of the sockets racing to connect would deliver
    # every broadcast once per hub.
    stream = RoomStream.for_pk(1)
    sockets = [Socket() for _ in range(30)]
    await asyncio.gather(*(socket.communicator.connect() for socket in sockets))
    await asyncio.gather(*(socket.subscribe(stream) for socket in sockets))

    await stream.aupdate(text="first", id="x")
    await stream.aupdate(text="second", id="x")

    for socket in sockets:
        assert "first" in await socket.receive_html(stream)
        assert "second" in await socket.receive_html(stream)  # not a second "first"
        await socket.communicator.disconnect()


async def test_the_last_socket_out_leaves_the_group_and_stops_the_hub(connect, channel_layer):
    stream = RoomStream.for_pk(1)
    first, second = await connect(), await connect()
    await first.subscribe(stream)
    await second.subscribe(stream)

    with count_calls(channel_layer, "group_discard") as group_discard:
        await first.communicator.disconnect()
        group_discard.assert_not_called()
        await second.communicator.disconnect()

    assert [call.args[0] for call in group_discard.call_args_list] == [stream.group]
    assert not hub._hubs.get(asyncio.get_running_loop())


async def test_a_socket_joining_as_the_last_one_leaves_still_receives(connect):
    stream = RoomStream.for_pk(1)
    leaving, joining = await connect(), await connect()
    await leaving.subscribe(stream)

    await asyncio.gather(
        leaving.send({"type": "unsubscribe", "stream": stream.group}),
        joining.send({"type": "subscribe", "token": signing.dumps(stream)}),
    )
    assert (await leaving.receive())["type"] == "unsubscribed"
    assert (await joining.receive())["type"] == "subscribed"
    await stream.aupdate(text="after the race", id="x")

    assert "after the race" in await joining.receive_html(stream)


@pytest.mark.parametrize("cap", [batches.MAX_COMBINED_BYTES, 0], ids=["combined", "one-each"])
async def test_messages_of_a_transaction_are_all_delivered_in_order(connect, monkeypatch, cap):
    # The in-memory layer and Redis core hold 100 messages per channel by
    # default and drop the rest silently: 1000 broadcasts in one transaction
    # must not overrun the hub's channel, combined (a few messages) or, with
    # no room to combine, one message each.
    monkeypatch.setattr(batches, "MAX_COMBINED_BYTES", cap)
    stream = LobbyStream()
    socket = await connect()
    await socket.subscribe(stream)
    parts = [fragments.append(html=mark_safe(f"<p>{n}</p>"), id="log") for n in range(1000)]

    @sync_to_async
    def broadcast_in_one_transaction() -> None:
        with transaction.atomic():
            for part in parts:
                stream.broadcast(part)

    await broadcast_in_one_transaction()

    received = []
    while len(received) < len(parts):
        html = await socket.receive_html(stream, timeout=10)
        received += [f"{f}</turbo-stream>" for f in html.split("</turbo-stream>")[:-1]]
    assert received == [str(part) for part in parts]


@pytest.mark.parametrize("layer", ["memory", "redis-core"])
async def test_a_subscriber_outlives_the_layers_group_expiry(layer):
    # The layers forget a group membership after group_expiry seconds; the
    # hub renews its memberships before that.
    config = layer_config(layer, group_expiry=2)
    stream = RoomStream.for_pk(1)
    async with subscribed_on(config, stream) as socket:
        await asyncio.sleep(5)  # the condition under test: time passing, not a sync
        await stream.aupdate(text="a day later", id="x")

        assert "a day later" in await socket.receive_html(stream)


@pytest.mark.parametrize(
    ("layer", "config", "capacity"),
    [
        ("redis-core", {}, hub.CHANNEL_CAPACITY),
        ("redis-core", {"channel_capacity": {hub.CHANNEL_PATTERN: 50}}, 50),
        ("memory", {}, 100),  # a hub drains it without yielding to the sender
    ],
    ids=["core", "core-configured", "memory"],
)
def test_hub_channels_hold_a_burst_where_the_sender_checks_capacity(layer, config, capacity):
    with override_settings(CHANNEL_LAYERS={"default": layer_config(layer, **config)}):
        channel_layer = get_channel_layer()
        hub.allow_backlog(channel_layer)

        channel = f"specific.abc!{hub.CHANNEL_PREFIX}.def"
        assert channel_layer.get_capacity(channel) == capacity
        assert channel_layer.get_capacity("specific.abc!def") == 100


@override_settings(TURBO_MAX_UNACKED_BYTES=128 * 1024)
async def test_a_client_too_far_behind_is_closed_and_no_other(connect):
    stream = LobbyStream()
    stalled, reading = await connect(), await connect()
    await stalled.subscribe(stream)
    await reading.subscribe(stream)
    text = "x" * 4000

    for received in range(1, 65):  # 256 KiB
        await stream.aupdate(text=text, id="x")
        assert text in await reading.receive_html(stream)
        # Every frame counts: the subscribed frame, then the messages.
        await reading.send({"type": "ack", "messages": 1 + received})

    messages = []
    while (output := await stalled.communicator.receive_output(3))["type"] == "websocket.send":
        messages.append(output["text"])
    assert output["type"] == "websocket.close"
    assert output["code"] == limits.CLOSE_TOO_SLOW
    # Closed before a message would take it beyond the bound.
    assert 96 * 1024 < len("".join(messages)) <= 128 * 1024


async def test_a_client_owing_an_ack_too_long_is_closed_at_the_next_message(connect):
    stream = LobbyStream()
    with override_settings(TURBO_ACK_TIMEOUT=10):
        socket = await connect()
    await socket.subscribe(stream)
    text = "x" * 40_000
    clock = mock.patch("turbo.limits.monotonic", return_value=1000.0)

    with clock as now:
        for _ in range(2):  # 80 kB: an ack is owed from the second on
            await stream.aupdate(text=text, id="x")
            await socket.receive_html(stream)
        now.return_value = 1010.0
        await stream.aupdate(text="within the timeout", id="x")
        assert "within the timeout" in await socket.receive_html(stream)
        now.return_value = 1010.5
        await stream.aupdate(text="too late", id="x")
        # Still on this clock: through Redis, the message arrives after the call.
        await socket.assert_closed(limits.CLOSE_TOO_SLOW)


async def test_an_ack_restarts_the_timeout(connect):
    stream = LobbyStream()
    text = "x" * 40_000

    # The whole socket on this clock: its frame rate limit reads it too.
    with mock.patch("turbo.limits.monotonic", return_value=1000.0) as now:
        with override_settings(TURBO_ACK_TIMEOUT=10):
            socket = await connect()
        await socket.subscribe(stream)
        for _ in range(3):
            await stream.aupdate(text=text, id="x")
            await socket.receive_html(stream)
        now.return_value = 1008.0
        # The subscribed frame and one message: 80 kB still owed.
        await socket.send({"type": "ack", "messages": 2})
        await socket.send({"type": "unsubscribe", "stream": "turbo.none"})  # acks are silent
        assert (await socket.receive())["type"] == "unsubscribed"
        now.return_value = 1015.0  # owed for 15 s, but 7 s since the last ack
        await stream.aupdate(text="still welcome", id="x")

        assert "still welcome" in await socket.receive_html(stream)


@pytest.mark.parametrize(
    "messages",
    [-1, 3, 1.0, True, "1", None],
    ids=["negative", "more-than-sent", "float", "bool", "string", "missing"],
)
async def test_an_impossible_ack_is_an_error(connect, messages):
    stream = LobbyStream()
    socket = await connect()
    await socket.subscribe(stream)
    await stream.aupdate(text="one", id="x")
    await socket.receive_html(stream)

    await socket.send({"type": "ack", "messages": messages})

    frame = await socket.receive()
    assert frame["type"] == "error"
    assert frame["reason"] == "malformed"
    assert "between 0 and 2" in frame["message"]  # subscribed, and one message


class BurstLayer:
    """A channel layer holding a burst for the hub: once released, no receive waits."""

    def __init__(self, group: str, count: int) -> None:
        self.released = asyncio.Event()
        self.queued = [
            {"type": hub.MESSAGE_TYPE, "group": group, "html": str(n)} for n in range(count)
        ]

    async def new_channel(self, prefix: str) -> str:
        return f"{prefix}test"

    async def group_add(self, group: str, channel: str) -> None:
        pass

    async def group_discard(self, group: str, channel: str) -> None:
        pass

    async def receive(self, channel: str) -> dict[str, str]:
        await self.released.wait()
        if not self.queued:
            await asyncio.Event().wait()  # the burst is over: wait for good
        return self.queued.pop(0)


async def deliver_burst(clock: list[float], step: float) -> list[str]:
    """Deliver a burst of 3 messages while the clock advances ``step`` per message.

    Returns the messages in order, with "other" where another task ran.
    """
    layer, events = BurstLayer("g", 3), []
    all_delivered = asyncio.Event()

    class Recorder:
        def deliver(self, frame: str, size: int) -> None:
            events.append(json.loads(frame)["html"])
            clock[0] += step
            if len(events) - events.count("other") == 3:
                all_delivered.set()

    async def other() -> None:
        events.append("other")

    recorder = Recorder()
    burst_hub = hub.attach(layer)
    await burst_hub.join("g", recorder)
    layer.released.set()
    task = asyncio.create_task(other())
    await all_delivered.wait()
    await task
    await burst_hub.detach(["g"], recorder)
    return events


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The hub's clock, advanced only by the test."""
    now = [0.0]
    monkeypatch.setattr(hub, "monotonic", lambda: now[0])
    return now


async def test_a_burst_on_the_layer_lets_other_tasks_run_once_a_slice_is_spent(clock):
    # Without a pause, a socket's acks (or a new connection) would wait until
    # the whole burst is written.
    events = await deliver_burst(clock, step=hub.BURST_SLICE)

    assert events == ["0", "other", "1", "2"]


async def test_a_burst_within_one_slice_is_written_without_pausing(clock):
    # So that a server buffering writes (daphne) sends each socket's frames together.
    events = await deliver_burst(clock, step=0)

    assert events == ["0", "1", "2", "other"]


def test_a_probe_back_after_an_earlier_one_never_came_tells_of_a_loss():
    watch = Watch(mock.Mock())
    watch.outstanding = {1, 2}
    watch.arrived(2)

    assert watch.interrupted
    assert watch.outstanding == set()


def test_a_probe_back_late_in_order_tells_of_no_loss():
    watch = Watch(mock.Mock())
    watch.outstanding = {1, 2}  # 1 timed out, 2 followed: 1 is late, not lost
    watch.arrived(1)
    watch.arrived(2)

    assert not watch.interrupted


@pytest.mark.parametrize("layer", ["redis-pubsub", "redis-core"])
async def test_a_probe_late_for_its_timeout_makes_no_page_refresh(layer):
    """A probe late, as behind a stalled loop or a slow Redis, but in order, is
    no sign of a loss: pages must not all refresh."""
    stream = LobbyStream()
    async with subscribed_on(layer_config(layer), stream) as socket:
        watching = the_hub()
        arrivals: asyncio.Queue[object] = asyncio.Queue()
        arrived = watching.watch.arrived

        def note(number: object) -> None:
            arrived(number)
            arrivals.put_nowait(number)

        send = watching.layer.send
        sending = []

        async def delay_the_first_probe(channel: str, message: dict[str, Any]) -> None:
            if message.get("probe") != 1:
                await send(channel, message)
                return
            # Back after its timeout, before the next probe is sent.
            late = PROBE_TIMEOUT + PROBE_INTERVAL / 2
            asyncio.get_running_loop().call_later(
                late, lambda: sending.append(asyncio.ensure_future(send(channel, message)))
            )

        with (
            mock.patch.object(watching.watch, "arrived", note),
            mock.patch.object(watching.layer, "send", delay_the_first_probe),
        ):
            assert [await arrivals.get() for _ in range(3)] == [1, 2, 3]

        assert not watching.watch.interrupted
        await stream.aupdate(text="marker", id="x")
        assert "marker" in await socket.receive_html(stream)


@pytest.mark.parametrize(("busy", "rounds"), [(True, 4), (False, 20)], ids=["busy", "idle"])
async def test_probes_unheard_while_the_loop_is_behind_interrupt_nothing(busy, rounds):
    """A server taking thousands of handshakes at once fires its timers late:
    the probes' silence is the loop's, and pages must not all refresh. A loop
    on time that hears nothing takes its layer for silent, as before."""
    watch = Watch(SimpleNamespace(layer=None))
    heard: list[None] = []
    enough = asyncio.Event()

    async def unheard() -> bool:
        if busy:
            time.sleep(0.3)  # the loop held up: no timer fires meanwhile
        heard.append(None)
        if len(heard) == rounds:
            enough.set()
        return False

    timing = {"PROBE_INTERVAL": 0.01, "PROBE_TIMEOUT": 0.01, "SILENCE_LIMIT": 0.05}
    with (
        mock.patch.multiple("turbo.watch", **timing),
        mock.patch("turbo.loops.BUSY_LAG", 0.05),
        mock.patch.object(watch, "probe", unheard),
    ):
        probing = asyncio.ensure_future(watch.forever())
        await enough.wait()
        probing.cancel()

    # Busy, the silence would have lasted past SILENCE_LIMIT by the second round.
    assert watch.interrupted is not busy


@pytest.mark.parametrize("layer", ["redis-pubsub", "redis-core"])
async def test_a_hub_knows_the_historys_epoch_before_its_first_socket_has_subscribed(layer):
    """Redis restarted before the first probe loses no probe: only the epoch's
    change reveals the outage, which the hub must have read before."""
    async with subscribed_on(layer_config(layer), LobbyStream()):
        watching = the_hub()
        kept = history.for_layer(watching.layer)
        assert isinstance(kept, history.RedisHistory)

        assert watching.watch.epoch == (await kept.position()).epoch


async def test_a_hub_stops_though_its_layer_swallowed_a_cancellation(connect, channel_layer):
    # As Python 3.11's asyncio.wait_for, which redis-py sends through when a
    # read timeout is set, does when the read completes as it is cancelled.
    receive, swallowed = channel_layer.receive, []

    async def swallowing_once(channel: str) -> dict[str, Any]:
        try:
            return await receive(channel)  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(channel)
            return {"type": hub.MESSAGE_TYPE, "group": "nobody", "html": ""}

    with mock.patch.object(channel_layer, "receive", swallowing_once):
        socket = await connect()
        await socket.subscribe(LobbyStream())
        stopping = the_hub()
        await socket.communicator.disconnect()

    assert swallowed == [stopping.channel]
    assert all(task.done() for task in stopping.tasks)
