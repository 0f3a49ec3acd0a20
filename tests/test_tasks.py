"""Background broadcasts: ``*_later`` enqueue the render and send on Django's Tasks framework."""

from __future__ import annotations

import datetime
import json
import logging
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings
from django.utils.html import format_html
from django.utils.module_loading import import_string

import turbo
from tests.testapp.models import Document, Message, Room
from tests.testapp.streams import DocumentStream, LobbyStream, RoomStream, UserStream
from turbo import fragments
from turbo.later import framework
from turbo.refreshes import use_request_id
from turbo.testing import capture_broadcasts

MESSAGE = "chat/components/message.html"


class UnregisteredStream(turbo.Stream):
    class Meta:
        app_label = "testapp"


@pytest.fixture
def queue():
    """The default task backend, swapped for one that keeps tasks instead of running them."""
    backend = f"{framework().__name__}.backends.dummy.DummyBackend"
    with override_settings(TASKS={"default": {"BACKEND": backend}}):
        yield framework().task_backends["default"]


@pytest.fixture
def run_as_a_worker(django_capture_on_commit_callbacks):
    """``run_as_a_worker(result)``: run an enqueued task as a worker would.

    Found by its path, its arguments read back from JSON; and its broadcast sent
    at once, as outside a test's transaction.
    """

    def run(result):
        task = import_string(result.task.module_path)
        with django_capture_on_commit_callbacks(execute=True):
            task.call(*json.loads(json.dumps(result.args)), **json.loads(json.dumps(result.kwargs)))

    return run


def test_the_immediate_backend_renders_and_broadcasts_at_once():
    stream = UserStream(3)

    with capture_broadcasts() as broadcasts:
        stream.update_later(text="3 online", id="online")

    [broadcast] = broadcasts
    assert broadcast.group == stream.group
    assert broadcast.html == (
        '<turbo-stream action="update" target="online"><template>3 online</template></turbo-stream>'
    )


@pytest.mark.django_db
def test_in_a_test_case_the_task_runs_with_the_commit_callbacks(
    django_capture_on_commit_callbacks,
):
    room = Room.objects.create(name="r")
    message = Message.objects.create(room=room, text="hi")

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        room.stream.append_later(MESSAGE, {"message": message}, id="messages")

    [broadcast] = broadcasts
    assert broadcast.group == room.stream.group
    assert 'action="append" target="messages"' in broadcast.html
    assert f'<li id="message-{message.pk}">' in broadcast.html


@pytest.mark.django_db
def test_instances_travel_as_label_and_pk_and_render_as_the_task_finds_them(
    queue, run_as_a_worker, django_capture_on_commit_callbacks
):
    room = Room.objects.create(name="r")
    message = Message.objects.create(room=room, text="first draft")

    with django_capture_on_commit_callbacks(execute=True):
        room.stream.replace_later(
            MESSAGE, {"message": message, "note": ["kept", 1]}, id=f"message-{message.pk}"
        )
    Message.objects.filter(pk=message.pk).update(text="final text")
    [result] = queue.results
    with capture_broadcasts() as broadcasts:
        run_as_a_worker(result)

    assert result.args[:4] == ["testapp:RoomStream", [room.pk], {}, "replace"]
    assert result.args[5] == {
        "values": {"note": ["kept", 1]},
        "instances": {"message": ["testapp.Message", message.pk]},
        "lists": {},
    }
    [broadcast] = broadcasts
    assert broadcast.group == room.stream.group
    assert "final text" in broadcast.html
    assert "first draft" not in broadcast.html


@pytest.mark.django_db
def test_a_uuid_keyed_stream_and_instance_travel(
    queue, run_as_a_worker, django_capture_on_commit_callbacks
):
    document = Document.objects.create(title="old")

    with django_capture_on_commit_callbacks(execute=True):
        document.stream.update_later("chat/count.html", {"room": document}, id="title")
    [result] = queue.results
    with capture_broadcasts() as broadcasts:
        run_as_a_worker(result)

    assert result.args[1] == [str(document.pk)]
    [broadcast] = broadcasts
    assert broadcast.group == DocumentStream(document).group


@pytest.mark.django_db
def test_a_deleted_instance_skips_the_broadcast_quietly(
    queue, run_as_a_worker, caplog, django_capture_on_commit_callbacks
):
    room = Room.objects.create(name="r")
    message = Message.objects.create(room=room, text="gone")
    pk = message.pk
    with django_capture_on_commit_callbacks(execute=True):
        room.stream.append_later(MESSAGE, {"message": message}, id="messages")
    message.delete()
    [result] = queue.results

    with caplog.at_level(logging.INFO, logger="turbo"), capture_broadcasts() as broadcasts:
        run_as_a_worker(result)

    assert broadcasts == []
    assert f"testapp.Message {pk!r} (context['message']) was deleted" in caplog.text


@pytest.mark.django_db
def test_a_list_of_instances_is_reloaded_in_order_without_the_deleted_ones(
    queue, run_as_a_worker, django_capture_on_commit_callbacks
):
    room = Room.objects.create(name="r")
    first, second, third = (Message.objects.create(room=room, text=t) for t in "abc")
    with django_capture_on_commit_callbacks(execute=True):
        room.stream.update_later(
            "chat/messages.html", {"messages": [third, first, second]}, id="messages"
        )
    second.delete()
    [result] = queue.results

    with capture_broadcasts() as broadcasts:
        run_as_a_worker(result)

    [broadcast] = broadcasts
    assert broadcast.html.index(f"message-{third.pk}") < broadcast.html.index(f"message-{first.pk}")
    assert f"message-{second.pk}" not in broadcast.html


@pytest.mark.parametrize(
    ("context", "error"),
    [
        ({"when": datetime.datetime.now(datetime.UTC)}, r"context\['when'\] cannot travel"),
        ({"nested": {"room": Room(pk=1)}}, r"context\['nested'\] cannot travel"),
        ({"mixed": [Room(pk=1), object()]}, r"context\['mixed'\] cannot travel"),
        ({1: "one"}, "context keys must be strings"),
    ],
)
def test_a_context_value_that_cannot_travel_raises_when_enqueued(queue, context, error):
    with pytest.raises(TypeError, match=error):
        UserStream(1).append_later("chat/count.html", context, id="x")

    assert queue.results == []


def test_an_unsaved_instance_raises_when_enqueued(queue):
    with pytest.raises(ValueError, match=r"context\['room'\] is an unsaved Room"):
        UserStream(1).append_later("chat/count.html", {"room": Room()}, id="x")


@pytest.mark.parametrize(
    "html",
    [format_html("<b>{}</b>", "<i>"), fragments.remove(id="old")],
    ids=["safe-string", "fragment"],
)
def test_markup_marked_safe_travels_to_the_task_and_is_inserted_as_is(queue, run_as_a_worker, html):
    stream = UserStream(1)
    stream.append_later(html=html, id="x")
    [result] = queue.results

    with capture_broadcasts() as broadcasts:
        run_as_a_worker(result)

    [broadcast] = broadcasts
    assert broadcast.html == str(fragments.append(html=html, id="x"))


def test_arguments_are_checked_when_enqueued(queue):
    stream = UserStream(1)

    with pytest.raises(TypeError, match="exactly one of id= or selector="):
        stream.append_later(text="hi")
    with pytest.raises(TypeError, match="takes no request=: a broadcast goes to every subscriber"):
        stream.append_later(text="hi", id="x", request=object())
    with pytest.raises(TypeError, match="takes html= only as markup marked safe"):
        stream.append_later(html="<b>user text</b>", id="x")
    with pytest.raises(ValueError, match="refresh method"):
        stream.refresh_later(method="reload")

    assert queue.results == []


@pytest.mark.django_db(transaction=True)
def test_inside_atomic_the_task_is_enqueued_on_commit():
    room = Room.objects.create(name="r")

    with capture_broadcasts() as broadcasts:
        with transaction.atomic():
            Message.objects.create(room=room, text="counted")
            room.stream.update_later("chat/count.html", {"room": room}, id="count")
            assert broadcasts == []
        [count] = [b.html for b in broadcasts if 'target="count"' in b.html]

    # Enqueued after the commit, the task sees the message created with it.
    assert "<template>1 messages" in count


@pytest.mark.django_db(transaction=True)
def test_after_a_rollback_nothing_is_enqueued(queue):
    room = Room.objects.create(name="r")

    with transaction.atomic():
        room.stream.update_later("chat/count.html", {"room": room}, id="count")
        room.stream.refresh_later()
        transaction.set_rollback(True)

    assert queue.results == []


def test_nothing_is_enqueued_while_broadcasts_are_suppressed(queue):
    with turbo.suppress_broadcasts():
        UserStream(1).update_later(text="hi", id="x")
        UserStream(1).refresh_later()
    with UserStream.suppress_broadcasts():
        UserStream(1).update_later(text="hi", id="x")
        LobbyStream().update_later(text="not suppressed", id="x")

    assert len(queue.results) == 1


def test_refresh_later_carries_the_request_id_to_the_task(queue, run_as_a_worker):
    stream = UserStream(1)
    with use_request_id("request-1"):
        stream.refresh_later(method="morph", scroll="preserve")
    [result] = queue.results

    with capture_broadcasts() as broadcasts:
        run_as_a_worker(result)

    [broadcast] = broadcasts
    assert broadcast.group == stream.group
    assert broadcast.html == (
        '<turbo-stream action="refresh" request-id="request-1" method="morph" '
        'scroll="preserve"></turbo-stream>'
    )


def test_an_unregistered_stream_raises_when_enqueued():
    with pytest.raises(ImproperlyConfigured, match=r"UnregisteredStream is not registered"):
        UnregisteredStream().update_later(text="hi", id="x")


def test_without_a_tasks_framework_later_methods_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "django.tasks", None)
    monkeypatch.setitem(sys.modules, "django_tasks", None)

    with pytest.raises(ImproperlyConfigured, match="pip install django-tasks"):
        RoomStream.for_pk(1).append_later(text="hi", id="x")
    with pytest.raises(ImproperlyConfigured, match="pip install django-tasks"):
        RoomStream.for_pk(1).refresh_later()


async def test_later_methods_refuse_to_block_the_event_loop():
    with pytest.raises(RuntimeError, match=r"sync_to_async\(stream.update_later\)"):
        UserStream(1).update_later(text="hi", id="x")
