from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpResponse
from django.test import AsyncRequestFactory, RequestFactory, override_settings

from tests.conftest import following_marks, require_service
from tests.testapp.streams import LobbyStream, UserStream
from turbo import history
from turbo.history import Entry, MemoryHistory, Position, RedisHistory, covering
from turbo.history import memory as memory_history
from turbo.history.redis import _text
from turbo.middleware import TurboMiddleware
from turbo.replay import missed_since
from turbo.templatetags.turbo_streams import turbo_subscribe


def make_history(kind: str, max_entries: int = 100, max_age: float = 600) -> Any:
    if kind == "memory":
        return MemoryHistory(max_entries, max_age)
    require_service("Redis", settings.REDIS_URL)
    host = {"address": settings.REDIS_URL}
    return RedisHistory(host, f"t{uuid.uuid4().hex}:turbo-history", max_entries, max_age)


KINDS = ["memory", "redis"]


@pytest.mark.parametrize("kind", KINDS)
async def test_broadcasts_get_increasing_positions_and_their_streams_previous(kind):
    kept = make_history(kind)
    start = await kept.position()

    first = await kept.record("a", "<1>")
    await kept.record("b", "<2>")
    third = await kept.record("a", "<3>")

    assert first.epoch == third.epoch == start.epoch
    assert (first.sequence, first.previous) == (start.sequence + 1, 0)
    assert (third.sequence, third.previous) == (start.sequence + 3, first.sequence)
    assert await kept.position() == Position(start.epoch, start.sequence + 3)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_gives_what_it_broadcast_after_a_position(kind):
    kept = make_history(kind)
    start = await kept.position()
    first = await kept.record("a", "<1>")
    await kept.record("b", "<2>")
    third = await kept.record("a", "<3>")

    assert await kept.since("a", start) == [
        Entry(first.sequence, 0, "<1>"),
        Entry(third.sequence, first.sequence, "<3>"),
    ]
    assert await kept.since("a", Position(start.epoch, first.sequence)) == [
        Entry(third.sequence, first.sequence, "<3>")
    ]
    assert await kept.since("a", await kept.position()) == []
    assert await kept.since("quiet", start) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_position_of_another_epoch_cannot_be_answered(kind):
    kept = make_history(kind)
    await kept.record("a", "<1>")

    assert await kept.since("a", Position("another-run", 0)) is None


@pytest.mark.parametrize("kind", KINDS)
async def test_broadcasts_trimmed_away_cannot_be_answered(kind):
    kept = make_history(kind, max_entries=2)
    start = await kept.position()
    for n in range(5 if kind == "memory" else 300):  # Redis trims in whole nodes
        await kept.record("a", f"<{n}>")

    assert await kept.since("a", start) is None
    assert len(await kept.since("a", Position(start.epoch, (await kept.position()).sequence - 1)))


async def test_broadcasts_older_than_the_age_limit_cannot_be_answered(monkeypatch):
    kept = make_history("memory", max_age=10)
    now = [1000.0]
    monkeypatch.setattr(memory_history.time, "monotonic", lambda: now[0])
    start = await kept.position()
    await kept.record("a", "<old>")
    now[0] += 11

    assert await kept.since("a", start) is None


async def test_redis_forgets_a_streams_log_after_the_age_limit():
    kept = make_history("redis", max_age=0.0001)  # expires at once
    start = await kept.position()
    await kept.record("a", "<gone>")

    assert await kept.since("a", start) is None


async def test_redis_reads_a_streams_history_in_one_step(monkeypatch):
    """A broadcast recorded by another process while since() reads is not a gap.

    It is recorded after each command since() sends; read in two commands (the
    stream's last position, then its log), they disagree, and the page would
    be told to refresh instead of being answered.
    """
    kept = make_history("redis")
    other_process = RedisHistory(kept.host, kept.prefix, kept.max_entries, kept.max_age)
    start = await kept.position()
    first = await kept.record("a", "<1>")
    client = kept._client()
    send = client.execute_command
    recorded = []

    async def record_after_each_command(*args: Any, **options: Any) -> Any:
        result = await send(*args, **options)
        recorded.append(await other_process.record("a", f"<{len(recorded) + 2}>"))
        return result

    monkeypatch.setattr(client, "execute_command", record_after_each_command)
    answer = await kept.since("a", start)
    monkeypatch.undo()

    assert answer == [Entry(first.sequence, 0, "<1>")]
    assert [entry.html for entry in await kept.since("a", start)] == ["<1>", "<2>"]


async def forget(kept: Any, group: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``kept`` forget ``group``, as ``max_age`` of quiet does, at its next record."""
    if isinstance(kept, MemoryHistory):
        later = time.monotonic() + kept.max_age + 1
        monkeypatch.setattr(memory_history.time, "monotonic", lambda: later)
    else:  # its log expires: the same as waiting out its TTL
        await kept._client().delete(f"{kept.prefix}:log:{group}")
    await kept.record("other", "<other>")


async def held_streams(kept: Any) -> set[str]:
    if isinstance(kept, MemoryHistory):
        return set(kept.logs)
    return {_text(m) for m in await kept._client().zrange(f"{kept.prefix}:streams", 0, -1)}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_quiet_for_the_max_age_is_forgotten(kind, monkeypatch):
    kept = make_history(kind)
    await kept.record("a", "<1>")
    assert await held_streams(kept) == {"a"}

    await forget(kept, "a", monkeypatch)

    assert await held_streams(kept) == {"other"}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_forgotten_stream_cannot_answer_a_page_from_before_it_was_forgotten(
    kind, monkeypatch
):
    """Within the history's reach a page is answered; beyond it, it refreshes."""
    kept = make_history(kind)
    start = await kept.position()
    first = await kept.record("a", "<1>")
    after_first = await kept.position()

    await forget(kept, "a", monkeypatch)

    assert await kept.since("a", start) is None  # it missed <1>, no longer held
    assert await kept.since("a", after_first) == []  # it missed nothing
    assert await kept.since("quiet", after_first) == []
    assert await kept.since("quiet", start) is None  # it might have missed something
    again = await kept.record("a", "<3>")
    # Its previous is the latest broadcast forgotten: a live page standing
    # before it asks for a replay, and is told to refresh.
    assert again.previous == first.sequence
    assert await kept.since("a", start) is None
    assert await kept.since("a", after_first) == [Entry(again.sequence, first.sequence, "<3>")]


async def test_memory_history_holds_at_most_max_streams():
    kept = MemoryHistory(max_entries=10, max_age=600, max_streams=3)
    start = await kept.position()
    for group in "abcde":
        await kept.record(group, f"<{group}>")
    await kept.record("c", "<c again>")

    assert list(kept.logs) == ["d", "e", "c"]
    assert await kept.since("a", start) is None
    assert await kept.since("b", await kept.position()) == []


async def test_redis_keeps_a_stream_no_longer_than_the_max_age():
    """No key per stream outlives its log, which expires ``max_age`` after its last broadcast."""
    kept = make_history("redis", max_age=60)
    for group in ("a", "b", "c"):
        await kept.record(group, "<x>")
    client = kept._client()

    keys = {_text(key) async for key in client.scan_iter(f"{kept.prefix}:*")}
    per_stream = {key for key in keys if key.startswith(f"{kept.prefix}:log:")}
    assert keys - per_stream == {f"{kept.prefix}:{k}" for k in ("sequence", "epoch", "streams")}
    assert len(per_stream) == 3
    assert all(0 < ttl <= 60_000 for ttl in [await client.pttl(key) for key in per_stream])


async def test_redis_forgets_streams_whose_log_expired_a_few_at_a_time():
    kept = make_history("redis", max_age=0.0001)  # every log expires at once
    for n in range(30):
        await kept.record(f"s{n}", "<x>")

    assert await kept._client().zcard(f"{kept.prefix}:streams") <= 1


def test_covering_needs_the_entry_right_after_the_position():
    entries = [Entry(5, 3, "<5>"), Entry(8, 5, "<8>")]

    assert covering(entries, last=8, after=3) == entries
    assert covering(entries, last=8, after=4) == entries
    assert covering(entries, last=8, after=2) is None  # 3 is missing
    assert covering(entries, last=9, after=5) is None  # 9 is missing
    assert covering(entries, last=8, after=8) == []


@pytest.mark.parametrize(
    "text", ["", "3", ":3", "e:", "e:x", "e:-1", "e:²", 3, None, "e:" + "9" * 70]
)
def test_a_position_is_parsed_strictly(text):
    assert Position.parse(text) is None


def test_a_position_reads_back_as_written():
    assert Position.parse(str(Position("17001:23", 42))) == Position("17001:23", 42)


# Where the history is kept


def test_the_in_memory_layer_keeps_its_history_in_the_process(channel_layer):
    kept = history.for_layer(channel_layer)
    expected = MemoryHistory if "InMemory" in type(channel_layer).__name__ else RedisHistory

    assert isinstance(kept, expected)
    assert history.for_layer(channel_layer) is kept
    with override_settings(TURBO_HISTORY=None):
        assert history.for_layer(channel_layer) is None


def test_a_redis_history_needs_a_redis_layer():
    from channels.layers import InMemoryChannelLayer
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(TURBO_HISTORY="redis"),
        pytest.raises(ImproperlyConfigured, match="not a channels_redis one"),
    ):
        history.for_layer(InMemoryChannelLayer())


# The page's position (TRAPS 15)


def rendered_position(html: str) -> Position:
    position = Position.parse(html.split(' position="')[1].split('"')[0])
    assert position is not None
    return position


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("watched", [True, False], ids=["watched", "unwatched"])
def test_a_broadcast_while_the_view_runs_is_after_the_pages_position(
    channel_layer, server, watched
):
    """TRAPS 15: the tag reads the position the request started at, wherever it sits.

    A stream a page watches has the broadcast replayed; one that no page
    watched until this one rendered its tag has a placeholder in its place,
    and the page refreshes once it subscribes (issue 19).
    """
    stream = LobbyStream()
    late = UserStream("late")
    kept = history.for_layer(channel_layer)
    following_marks(kept)
    if watched:
        server.run(history.mark_watched(channel_layer, [stream.group]))

    def view(request):
        # The view queries, then a commit elsewhere broadcasts, then the
        # template renders the tag: the page misses the broadcast's data.
        stream.update(text="committed while the page rendered", id="x")
        from django.http import HttpResponse

        return HttpResponse(turbo_subscribe(stream, late))

    response = TurboMiddleware(view)(RequestFactory().get("/"))
    position = rendered_position(response.content.decode())
    server.run(history.flush_placeholders(channel_layer))

    missed = server.run(kept.since(stream.group, position))
    assert [entry.html for entry in missed] == [
        '<turbo-stream action="update" target="x"><template>'
        "committed while the page rendered</template></turbo-stream>"
        if watched
        else history.PLACEHOLDER
    ]
    answer = server.run(missed_since(kept, stream.group, position, 10_000))
    assert ("refresh" in answer) is not watched


def test_without_the_middleware_the_tag_reads_the_position_itself(channel_layer):
    html = turbo_subscribe(LobbyStream())

    assert rendered_position(html).epoch


def test_without_a_history_no_position_is_rendered():
    with override_settings(TURBO_HISTORY=None):
        assert "position=" not in turbo_subscribe(LobbyStream())


@pytest.mark.parametrize("view", ["sync", "async"])
async def test_a_position_redis_cannot_give_is_rendered_unknown(view, caplog):
    """Issue 20, item 5: the page learns, once it subscribes, that it must refresh."""
    dead = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": ["redis://127.0.0.1:9"]},
    }

    def page(request):
        return HttpResponse(turbo_subscribe(LobbyStream()))

    async def apage(request):
        return page(request)

    with override_settings(CHANNEL_LAYERS={"default": dead}):
        if view == "sync":
            response = await sync_to_async(TurboMiddleware(page))(RequestFactory().get("/"))
        else:
            response = await TurboMiddleware(apage)(AsyncRequestFactory().get("/"))

    assert rendered_position(response.content.decode()) == history.UNKNOWN
    assert "Reading the position of the stream history failed" in caplog.text


def test_positions_are_not_read_for_other_requests_than_pages(monkeypatch):
    def fail(layer):
        raise AssertionError("read for a POST")

    monkeypatch.setattr(history, "page_position", fail)
    response = TurboMiddleware(lambda request: HttpResponse("done"))(RequestFactory().post("/"))

    assert response.content == b"done"


# Replay over the websocket


async def current_position() -> Position:
    return await history.for_layer(get_channel_layer()).position()


async def test_subscribing_from_a_position_replays_what_the_stream_missed(connect):
    stream = UserStream("missed")
    # As the page's render marked it.
    await history.mark_watched(get_channel_layer(), [stream.group])
    start = await current_position()
    await stream.aupdate(text="one", id="x")
    await UserStream("other").aupdate(text="not this stream", id="x")
    await stream.aupdate(text="two", id="x")
    socket = await connect()

    answer = await socket.subscribe(stream, position=str(start))

    assert answer["type"] == "subscribed"
    first, second = answer["missed"]
    assert "one" in first["html"]
    assert "two" in second["html"]
    assert second["previous"] == first["position"]
    assert first["previous"] == f"{start.epoch}:0"


async def test_a_subscribe_without_a_position_replays_nothing(connect):
    stream = UserStream("fresh")
    await stream.aupdate(text="before", id="x")
    socket = await connect()

    answer = await socket.subscribe(stream)

    assert "missed" not in answer
    assert "refresh" not in answer


@pytest.mark.parametrize("position", ["another-run:3", str(history.UNKNOWN), "not a position"])
async def test_a_position_the_history_cannot_answer_asks_for_a_refresh(connect, position):
    stream = UserStream("gap")
    await stream.aupdate(text="before", id="x")
    socket = await connect()

    answer = await socket.subscribe(stream, position=position)

    assert answer.get("refresh") is (True if ":" in position else None)


async def subscribe_reading(connect, name: str, read: Any) -> dict[str, Any]:
    """The answer to subscribing ``UserStream(name)`` from now, the history read with ``read``."""
    start = await current_position()
    kept = history.for_layer(get_channel_layer())
    socket = await connect()
    with mock.patch.object(kept, "read", read):
        return await socket.subscribe(UserStream(name), position=str(start))


async def test_a_history_that_fails_asks_for_a_refresh_and_is_logged(connect, caplog):
    async def fail(group, after):
        raise ConnectionError("Redis is down")

    answer = await subscribe_reading(connect, "broken", fail)

    assert answer["refresh"] is True
    assert "Reading the history of turbo." in caplog.text


async def test_a_history_too_slow_to_answer_asks_for_a_refresh_in_one_line(connect, caplog):
    async def hang(group, after):
        await asyncio.Event().wait()

    with override_settings(TURBO_REDIS_TIMEOUT=0.05):
        answer = await subscribe_reading(connect, "slow", hang)

    assert answer["refresh"] is True
    [record] = [r for r in caplog.records if r.getMessage().startswith("Reading the history")]
    assert "took more than TURBO_REDIS_TIMEOUT (0.05 s)" in record.getMessage()
    assert record.exc_info is None


async def test_messages_carry_their_position_and_their_streams_previous(connect):
    stream = UserStream("ordered")
    socket = await connect()
    await socket.subscribe(stream)

    await stream.aupdate(text="one", id="x")
    await stream.aupdate(text="two", id="x")
    first, second = await socket.receive(), await socket.receive()

    assert second["previous"] == first["position"]
    assert Position.parse(second["position"]).sequence > Position.parse(first["position"]).sequence


async def test_a_replay_frame_is_answered_with_what_was_missed(connect):
    stream = UserStream("replayed")
    socket = await connect()
    await socket.subscribe(stream)
    start = await current_position()
    await stream.aupdate(text="one", id="x")
    await socket.receive()

    await socket.send({"type": "replay", "stream": stream.group, "position": str(start)})
    answer = await socket.receive()

    assert answer["type"] == "replayed"
    assert answer["stream"] == stream.group
    assert ["one" in m["html"] for m in answer["missed"]] == [True]


async def test_a_replay_of_a_stream_not_subscribed_is_refused(connect):
    socket = await connect()

    await socket.send({"type": "replay", "stream": UserStream("no").group, "position": "e:1"})
    answer = await socket.receive()

    assert answer["type"] == "error"
    assert "subscribed 'stream'" in answer["message"]


async def test_more_reads_at_once_than_redis_has_connections_wait_their_turn():
    require_service("Redis", settings.REDIS_URL)
    host = {"address": settings.REDIS_URL, "max_connections": 3}
    kept = RedisHistory(host, f"t{uuid.uuid4().hex}:turbo-history", 100, 600)
    start = await kept.position()
    await kept.record("a", "<1>")

    # As the pages of a server that died resubscribe to another all at once;
    # redis-py's pool would raise MaxConnectionsError past its third.
    answers = await asyncio.gather(*(kept.since("a", start) for _ in range(50)))

    assert [[entry.html for entry in entries or []] for entries in answers] == [["<1>"]] * 50
