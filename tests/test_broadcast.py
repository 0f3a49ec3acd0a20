from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import threading
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connections, transaction
from django.template import TemplateDoesNotExist
from django.test import RequestFactory, override_settings
from django.utils.safestring import mark_safe
from redis.asyncio.connection import AbstractConnection

import turbo
import turbo.broadcast
import turbo.loops
import turbo.suppression
import turbo.transactions
from tests.conftest import following_marks, layer_config
from tests.live import BUDGET_MARGIN, ROOT, environment
from tests.testapp.models import Message, Room
from tests.testapp.streams import RoomStream, UserStream
from turbo import fragments, history, markup
from turbo.batches import MAX_COMBINED_BYTES


async def joined_channel(layer, stream):
    """A new channel of ``layer`` in ``stream``'s group, watched, as a consumer's hub makes it."""
    channel = await layer.new_channel()
    await layer.group_add(stream.group, channel)
    await history.mark_watched(layer, [stream.group])
    return channel


ALL_ACTIONS = [
    ("append", {"html": mark_safe("<li>x</li>"), "id": "list"}),
    ("prepend", {"html": mark_safe("<li>x</li>"), "id": "list"}),
    ("replace", {"html": mark_safe("<li>x</li>"), "id": "item", "method": "morph"}),
    ("update", {"text": "3", "id": "count"}),
    ("before", {"html": mark_safe("<li>x</li>"), "id": "item"}),
    ("after", {"html": mark_safe("<li>x</li>"), "id": "item"}),
    ("remove", {"id": "item"}),
    ("refresh", {"method": "morph", "scroll": "preserve"}),
]


@pytest.mark.parametrize(("action", "options"), ALL_ACTIONS, ids=[a for a, _ in ALL_ACTIONS])
def test_sync_actions_on_every_layer(channel_layer, subscribe, action, options):
    stream = UserStream(1)
    page = subscribe(stream)
    getattr(stream, action)(**options)
    message = page.receive()
    assert message == {
        "type": "turbo.stream",
        "group": stream.group,
        "html": str(getattr(fragments, action)(**options)),
        # Its place in the stream's history (turbo.history): the stream's first.
        "epoch": message["epoch"],
        "position": message["position"],
        "previous": 0,
    }


@pytest.mark.parametrize(("action", "options"), ALL_ACTIONS, ids=[a for a, _ in ALL_ACTIONS])
async def test_async_actions_on_every_layer(channel_layer, action, options):
    stream = UserStream(2)
    channel = await joined_channel(channel_layer, stream)
    await getattr(stream, f"a{action}")(**options)
    message = await asyncio.wait_for(channel_layer.receive(channel), 5)
    assert message["html"] == str(getattr(fragments, action)(**options))
    await channel_layer.flush()


def test_several_fragments_in_one_message(subscribe):
    stream = UserStream(3)
    page = subscribe(stream)
    parts = [
        fragments.append(text="a", id="list"),
        fragments.update(text="1", id="count"),
    ]
    stream.broadcast(*parts)
    assert page.receive_html() == str(parts[0]) + str(parts[1])
    page.assert_nothing_received()


def test_rendered_once_however_many_subscribers(subscribe, monkeypatch):
    renders = []
    monkeypatch.setattr(markup, "render_to_string", lambda *a: renders.append(a) or "<li>x</li>")
    stream = UserStream(4)
    pages = [subscribe(stream) for _ in range(5)]
    stream.append("any.html", {"n": 1}, id="list")
    assert {page.receive_html() for page in pages} == {
        '<turbo-stream action="append" target="list"><template><li>x</li></template></turbo-stream>'
    }
    assert len(renders) == 1


@pytest.mark.django_db(transaction=True)
def test_direct_broadcast_in_a_transaction_waits_for_commit(subscribe):
    room = Room.objects.create(name="r")
    page = subscribe(room.stream)
    with transaction.atomic():
        room.stream.update(text="new name", id="title")
        page.assert_nothing_received()
    assert "new name" in page.receive_html()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        room.stream.update(text="rolled back", id="title")
        1 / 0  # noqa: B018
    page.assert_nothing_received()


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_a_broadcast_in_another_databases_transaction_waits_for_its_commit(subscribe):
    """Issue 20, item 10: only the default connection's transaction used to count."""
    stream = UserStream("other")
    page = subscribe(stream)
    with transaction.atomic(using="other"):
        stream.update(text="committed", id="x")
        stream.refresh()
        page.assert_nothing_received()
    assert page.receive_html() == (
        str(fragments.update(text="committed", id="x")) + str(fragments.refresh())
    )
    with pytest.raises(ZeroDivisionError), transaction.atomic(using="other"):
        stream.update(text="rolled back", id="x")
        stream.refresh()
        1 / 0  # noqa: B018
    page.assert_nothing_received()


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
@pytest.mark.parametrize("outer", ["default", "other"])
def test_a_broadcast_in_transactions_on_two_databases_waits_for_both(subscribe, outer):
    inner = {"default": "other", "other": "default"}[outer]
    stream = UserStream("both")
    page = subscribe(stream)
    with transaction.atomic(using=outer):
        with transaction.atomic(using=inner):
            stream.update(text="both committed", id="x")
        page.assert_nothing_received()
    assert "both committed" in page.receive_html()
    with pytest.raises(ZeroDivisionError), transaction.atomic(using=outer):
        with transaction.atomic(using=inner):
            stream.update(text="one rolled back", id="x")
        1 / 0  # noqa: B018
    page.assert_nothing_received()


@pytest.mark.django_db(transaction=True)
def test_a_transactions_broadcasts_to_one_stream_go_out_as_one_message_in_order(subscribe):
    """Issue 20, item 16: one message (one round trip, one history entry) per stream."""
    first, second = UserStream("first"), UserStream("second")
    pages = {first: subscribe(first), second: subscribe(second)}
    made = {first: [], second: []}
    with transaction.atomic():
        for stream, part in [
            (first, fragments.append(text="1", id="list")),
            (second, fragments.update(text="2", id="x")),
            (first, fragments.replace(text="3", id="item")),
            (second, fragments.remove(id="x")),
            (first, fragments.remove(id="item")),
        ]:
            stream.broadcast(part)
            made[stream].append(str(part))
    for stream, page in pages.items():
        assert page.receive_html() == "".join(made[stream])
        page.assert_nothing_received()


@pytest.mark.django_db(transaction=True)
def test_a_last_broadcast_rolled_back_with_its_savepoint_leaves_the_others_sent(subscribe):
    stream = UserStream("last")
    page = subscribe(stream)
    with transaction.atomic():
        stream.update(text="kept", id="x")
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            stream.update(text="dropped", id="x")
            1 / 0  # noqa: B018
    assert page.receive_html() == str(fragments.update(text="kept", id="x"))
    page.assert_nothing_received()


@pytest.mark.django_db(transaction=True)
def test_a_transaction_committed_by_a_commit_callback_keeps_its_place_in_the_message(subscribe):
    stream = UserStream("nested")
    page = subscribe(stream)

    def in_a_transaction_of_its_own() -> None:  # as a hook saving something might
        with transaction.atomic():
            stream.update(text="2", id="x")

    with transaction.atomic():
        stream.update(text="1", id="x")
        turbo.transactions.after_commit(in_a_transaction_of_its_own, "nested failed")
        stream.update(text="3", id="x")
    assert page.receive_html() == "".join(str(fragments.update(text=n, id="x")) for n in "123")
    page.assert_nothing_received()


@pytest.mark.django_db(transaction=True)
def test_a_rooms_deletion_is_one_message_and_one_history_entry(server, subscribe):
    room = Room.objects.create(name="going")
    with turbo.suppress_broadcasts():
        messages = [Message.objects.create(room=room, text=str(n)) for n in range(30)]
    kept, stream = history.for_layer(get_channel_layer()), room.stream
    page = subscribe(stream)
    before = server.run(kept.position())
    room.delete()
    message = page.receive()
    assert message["html"].count("<turbo-stream") == len(messages)
    page.assert_nothing_received()
    assert len(server.run(kept.since(stream.group, before))) == 1


@pytest.mark.django_db(transaction=True)
def test_combined_messages_stay_under_the_size_cap(subscribe):
    stream = UserStream("large")
    page = subscribe(stream)
    # A third of the cap each: two fit in a message, three with their markup do not.
    parts = [
        fragments.append(html=mark_safe(f"<li>{n * (MAX_COMBINED_BYTES // 3)}</li>"), id="list")
        for n in ("a", "b", "c", "d")
    ]
    with transaction.atomic():
        for part in parts:
            stream.broadcast(part)
    received = [page.receive_html(), page.receive_html()]
    page.assert_nothing_received()
    assert received == [str(parts[0]) + str(parts[1]), str(parts[2]) + str(parts[3])]
    assert all(len(html.encode()) <= MAX_COMBINED_BYTES for html in received)


def test_template_error_outside_a_transaction_raises(subscribe):
    stream = UserStream(5)
    subscribe(stream)
    with pytest.raises(TemplateDoesNotExist, match=r"chat/missing\.html"):
        stream.append("chat/missing.html", {}, id="list")


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kept", ["auto", None], ids=["history", "no-history"])
def test_nothing_is_rendered_for_a_stream_nobody_watches(
    channel_layer, server, subscribe, monkeypatch, asynchronous, kept
):
    """Issue 19: a save nobody watches costs almost nothing.

    With a history, the process knows which streams pages watch, and records
    a placeholder instead; without one, the in-memory layer knows its groups
    without a round trip, and the Redis layers would need one, which costs
    about what the send does.
    """
    stream, other = UserStream(7), UserStream(8)
    subscribe(other)
    rendered = []
    monkeypatch.setattr(
        turbo.broadcast, "join", lambda fragments: rendered.append(fragments) or "<html>"
    )

    with override_settings(TURBO_HISTORY=kept):
        following_marks(history.for_layer(channel_layer))
        if asynchronous:
            server.run(stream.aappend("chat/missing.html", {}, id="list"))
        else:
            stream.append("chat/missing.html", {}, id="list")
        other.append("chat/missing.html", {}, id="list")

    skipped = kept is not None or channel_layer.__class__.__name__ == "InMemoryChannelLayer"
    assert len(rendered) == (1 if skipped else 2)


async def test_sync_api_in_async_code_names_the_async_twin():
    with pytest.raises(RuntimeError, match=r"Use 'await stream\.aappend\(\.\.\.\)' instead"):
        UserStream(6).append(text="x", id="list")
    with pytest.raises(RuntimeError, match=r"await stream\.abroadcast"):
        UserStream(6).broadcast()


def test_broadcast_from_a_plain_thread_reaches_the_server_loop_promptly(server, subscribe):
    """TRAPS 6: a timer or pool thread has no loop of its own."""
    stream = UserStream(7)
    page = subscribe(stream)
    waiting = asyncio.run_coroutine_threadsafe(
        asyncio.wait_for(get_channel_layer().receive(page.channel), 5), server.loop
    )
    start = time.monotonic()
    worker = threading.Thread(target=stream.update, kwargs={"text": "tick", "id": "clock"})
    worker.start()
    assert "tick" in waiting.result(5)["html"]
    assert time.monotonic() - start < 1
    worker.join()


async def test_async_broadcast_from_a_running_loop_reaches_sync_senders_loop():
    """An async broadcast records its loop, where later sync sends go."""
    layer = get_channel_layer()
    stream = UserStream(8)
    channel = await joined_channel(layer, stream)
    await stream.aupdate(text="first", id="x")
    await asyncio.wait_for(layer.receive(channel), 5)
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.to_thread(stream.update, text="second", id="x")
    assert "second" in (await asyncio.wait_for(waiting, 2))["html"]


@pytest.mark.django_db(transaction=True)
def test_dead_channel_layer_is_logged_and_save_succeeds(caplog):
    """A real Redis layer on a port where nothing listens."""
    dead = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://127.0.0.1:9"]},
    }
    room = Room.objects.create(name="r")
    with override_settings(CHANNEL_LAYERS={"default": dead}):
        message = Message.objects.create(room=room, text="still saved")
    assert Message.objects.filter(pk=message.pk).exists()
    # (A warning says the process cannot learn which streams are watched either.)
    [record] = [r for r in caplog.records if r.name == "turbo" and r.levelno >= logging.ERROR]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"Broadcast to testapp:RoomStream({room.pk}) failed"


def test_missing_channel_layer_is_logged(caplog):
    with override_settings(CHANNEL_LAYERS={}):
        RoomStream.for_pk(1).remove(id="x")
    [record] = [r for r in caplog.records if r.name == "turbo"]
    assert "set CHANNEL_LAYERS" in str(record.exc_info[1])


def leaky_fragment():
    """A fragment rendered with a request: its content holds that request's CSRF token."""
    return fragments.replace("chat/csrf_form.html", id="form", request=RequestFactory().get("/"))


@pytest.mark.django_db
def test_a_broadcast_refuses_a_fragment_rendered_with_a_request(subscribe):
    stream = UserStream(1)
    page = subscribe(stream)
    leaky = leaky_fragment()
    assert "csrfmiddlewaretoken" in leaky.content  # what every subscriber would get

    for block in (transaction.atomic, turbo.suppress_broadcasts):
        refused = pytest.raises(TypeError, match=re.escape("broadcast() takes no request="))
        # At the call, not when a commit sends it, and even where it sends nothing.
        with refused as caught, block():
            turbo.broadcast.broadcast(stream, [leaky])
        message = str(caught.value)
        assert "Pass what the template needs in the context" in message
        assert "broadcast a refresh (stream.refresh())" in message

    page.assert_nothing_received()


async def test_an_async_broadcast_refuses_a_fragment_rendered_with_a_request(channel_layer):
    stream = UserStream(2)
    channel = await joined_channel(channel_layer, stream)
    leaky = await sync_to_async(leaky_fragment)()

    with pytest.raises(TypeError, match=re.escape("abroadcast() takes no request=")):
        await turbo.broadcast.abroadcast(stream, [leaky])

    await channel_layer.send(channel, {"type": "test.marker"})
    assert await channel_layer.receive(channel) == {"type": "test.marker"}
    await channel_layer.flush()


def test_suppressed_broadcasts_send_nothing(subscribe):
    stream = UserStream(9)
    page = subscribe(stream)
    with turbo.suppress_broadcasts():
        assert turbo.suppression.broadcasts_suppressed()
        stream.remove(id="x")
    assert not turbo.suppression.broadcasts_suppressed()
    page.assert_nothing_received()


async def test_suppression_applies_to_async_broadcasts():
    layer = get_channel_layer()
    stream = UserStream(10)
    channel = await joined_channel(layer, stream)
    with turbo.suppress_broadcasts():
        await stream.aremove(id="x")
    await layer.send(channel, {"type": "test.marker"})
    assert await layer.receive(channel) == {"type": "test.marker"}


def test_suppression_covers_its_own_thread_only():
    inside, other_thread = threading.Event(), []

    def elsewhere() -> None:
        inside.wait(5)
        other_thread.append(turbo.suppression.broadcasts_suppressed(UserStream))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    with UserStream.suppress_broadcasts():
        inside.set()
        thread.join(5)
        assert turbo.suppression.broadcasts_suppressed(UserStream)

    assert other_thread == [False]


async def test_suppression_covers_its_own_task_only():
    suppressing, checked = asyncio.Event(), asyncio.Event()

    async def suppress() -> None:
        with turbo.suppress_broadcasts(UserStream):
            suppressing.set()
            await checked.wait()

    task = asyncio.create_task(suppress())
    await suppressing.wait()
    suppressed_here = turbo.suppression.broadcasts_suppressed(UserStream)
    checked.set()
    await task

    assert not suppressed_here


def test_suppressing_classes_nests_and_covers_subclasses():
    class MentionStream(UserStream):
        pass

    with turbo.suppress_broadcasts(RoomStream):
        with UserStream.suppress_broadcasts():
            assert turbo.suppression.broadcasts_suppressed(MentionStream)
            assert turbo.suppression.broadcasts_suppressed(RoomStream)
            assert not turbo.suppression.broadcasts_suppressed()
        assert not turbo.suppression.broadcasts_suppressed(UserStream)
        with turbo.suppress_broadcasts():
            assert turbo.suppression.broadcasts_suppressed()


@pytest.mark.django_db(transaction=True)
async def test_async_broadcast_renders_templates_that_query_the_database():
    """TRAPS 4: rendering in the event loop would raise SynchronousOnlyOperation."""
    room = await Room.objects.acreate(name="r")
    await Message.objects.acreate(room=room, text="one")
    layer = get_channel_layer()
    channel = await joined_channel(layer, room.stream)
    try:
        await room.stream.aupdate("chat/count.html", {"room": room}, id="count")
        message = await asyncio.wait_for(layer.receive(channel), 5)
    finally:
        await sync_to_async(connections.close_all)()
    assert "1 messages" in message["html"]


@pytest.mark.parametrize("layer", ["redis-core", "redis-pubsub"])
def test_many_sync_broadcasts_from_a_command_reuse_redis_connections(layer, monkeypatch):
    # A command or a worker has no server loop: a loop per broadcast would
    # also mean a connection pool, and a new connection, per broadcast.
    monkeypatch.setattr(turbo.loops, "_server_loop", None)
    connects = []
    connect = AbstractConnection.connect

    async def counted_connect(self, *args, **kwargs):
        if not self.is_connected:
            connects.append(self)
        return await connect(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "connect", counted_connect)
    with override_settings(CHANNEL_LAYERS={"default": layer_config(layer)}):
        for n in range(200):
            RoomStream.for_pk(n).update(text=str(n), id="count")

    # The layer's, the history's, and the one following which streams are watched.
    assert 1 <= len(connects) <= 4


def test_an_async_broadcast_on_a_loop_of_its_own_leaves_sync_sends_on_the_servers(
    server, subscribe
):
    """Issue 20, item 14: ``async_to_sync`` from a thread runs the broadcast on a
    loop of its own, which closes after the call."""
    stream = UserStream(10)
    page = subscribe(stream)
    update = async_to_sync(stream.aupdate)
    worker = threading.Thread(target=update, kwargs={"text": "from a thread", "id": "x"})
    worker.start()
    worker.join()
    assert "from a thread" in page.receive_html()

    assert turbo.loops.loop_for_sync_send() is server.loop
    stream.update(text="then sync", id="x")
    assert "then sync" in page.receive_html()


# Broadcasts before and after a fork (gunicorn --preload forks its workers
# from a process that may have broadcast), and how long the child's took.
FORKING = """
import os, time
import django

django.setup()
from tests.testapp.streams import UserStream

UserStream(11).update(text="from the parent", id="x")
child = os.fork()
if child == 0:
    started = time.monotonic()
    UserStream(11).update(text="from the child", id="x")
    print(time.monotonic() - started, flush=True)
    os._exit(0)
os.waitpid(child, 0)
"""


def test_a_sync_broadcast_in_a_forked_child_is_sent_at_once(subscribe):
    """Issue 20, item 14: the child inherits the parent's background loop, but
    not the thread that ran it."""
    layer = layer_config("redis-pubsub")
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        page = subscribe(UserStream(11))
        forked = subprocess.run(
            [sys.executable, "-c", FORKING],
            cwd=ROOT,
            env=environment(layer),
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert forked.returncode == 0, forked.stderr
        assert "from the parent" in page.receive_html()
        assert "from the child" in page.receive_html()
    assert float(forked.stdout) < turbo.conf.redis_timeout() + BUDGET_MARGIN, forked.stderr
