from __future__ import annotations

import contextlib
import logging

import pytest
from django.core import serializers
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

import turbo
from tests.testapp.models import Announcement, Message, PinnedMessage, Room, Tag
from tests.testapp.streams import MessageStream
from turbo import hook_calls
from turbo.registry import StreamRegistry

SAVE_EXTRAS = ("update_fields", "raw", "using", "signal")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def room():
    return Room.objects.create(name="lobby")


@pytest.fixture
def calls(monkeypatch):
    """Record MessageStream hook calls instead of broadcasting."""
    recorded = []
    # What every call carries the same; test_hooks_get_turbo_djangos_keywords checks them.
    constant = {"raw", "signal", "origin"}

    def on_save(self, message, created, *args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in constant}
        recorded.append(("save", type(self), message.pk, created, message.text, kwargs))

    def on_delete(self, message, *args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in constant}
        recorded.append(("delete", type(self), message.pk, message.room_id, kwargs))

    monkeypatch.setattr(MessageStream, "on_save", on_save)
    monkeypatch.setattr(MessageStream, "on_delete", on_delete)
    return recorded


def test_seed_tutorial_streams_work_as_written(room, subscribe):
    """TRAPS 20: the tutorial's streams.py appends each new message."""
    page = subscribe(room.stream)
    message = Message.objects.create(room=room, text="<hello>")
    html = page.receive_html()
    assert html.startswith('<turbo-stream action="append" target="messages"><template>')
    assert f'<li id="message-{message.pk}">' in html
    assert "&lt;hello&gt;</li>" in html
    message.text = "edited"
    message.save()  # the tutorial broadcasts creations only
    page.assert_nothing_received()


def test_commit_sends_exactly_once_after_commit(room, subscribe):
    page = subscribe(room.stream)
    with transaction.atomic():
        Message.objects.create(room=room, text="hi")
        page.assert_nothing_received()
    assert "hi</li>" in page.receive_html()
    page.assert_nothing_received()


def test_rollback_sends_nothing(room, subscribe):
    page = subscribe(room.stream)
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        Message.objects.create(room=room, text="hi")
        1 / 0  # noqa: B018
    page.assert_nothing_received()


def test_nested_savepoint_rollback_drops_only_its_changes(room, subscribe):
    page = subscribe(room.stream)
    with transaction.atomic():
        Message.objects.create(room=room, text="kept")
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            Message.objects.create(room=room, text="dropped")
            1 / 0  # noqa: B018
        with transaction.atomic():
            Message.objects.create(room=room, text="inner-kept")
        page.assert_nothing_received()
    html = page.receive_html()  # one message: the transaction's broadcasts to one stream
    assert "dropped" not in html
    assert 0 <= html.index(": kept</li>") < html.index(": inner-kept</li>")
    page.assert_nothing_received()


def test_create_then_update_is_one_created_save(room, calls):
    with transaction.atomic():
        message = Message.objects.create(room=room, text="draft")
        message.text = "final"
        message.save(update_fields=["text"])
        message.save()
    assert calls == [
        (
            "save",
            MessageStream,
            message.pk,
            True,
            "final",
            {"using": "default", "update_fields": None},
        )
    ]


def test_updates_coalesce_and_merge_update_fields(room, calls):
    message = Message.objects.create(room=room, text="a")
    calls.clear()
    with transaction.atomic():
        message.save(update_fields=["text"])
        message.save(update_fields=["room"])
    assert calls == [
        (
            "save",
            MessageStream,
            message.pk,
            False,
            "a",
            {"using": "default", "update_fields": frozenset({"text", "room"})},
        )
    ]


def test_create_then_delete_calls_nothing(room, calls, caplog):
    with transaction.atomic():
        message = Message.objects.create(room=room, text="oops")
        message.delete()
    assert calls == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_update_then_delete_is_one_delete(room, calls):
    message = Message.objects.create(room=room, text="a")
    pk = message.pk
    calls.clear()
    with transaction.atomic():
        message.save()
        message.delete()
    assert calls == [("delete", MessageStream, pk, room.pk, {"using": "default"})]


def update_in_a_rolled_back_savepoint(message):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        message.text = "b"
        message.save()
        1 / 0  # noqa: B018


def test_update_in_a_rolled_back_savepoint_keeps_the_create(room, calls):
    with transaction.atomic():
        message = Message.objects.create(room=room, text="a")
        update_in_a_rolled_back_savepoint(message)
    assert [(c[0], c[3]) for c in calls] == [("save", True)]


def rolled_back_savepoint():
    """An unrelated savepoint that rolls back, as get_or_create() hitting an IntegrityError does."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Tag.objects.create(slug="taken")


def test_an_unrelated_savepoint_rollback_keeps_create_then_delete_silent(room, calls):
    """Issue 20, item 8: a rollback elsewhere used to reset coalescing."""
    Tag.objects.create(slug="taken")
    with transaction.atomic():
        message = Message.objects.create(room=room, text="oops")
        rolled_back_savepoint()
        message.delete()
    assert calls == []


def test_an_unrelated_savepoint_rollback_keeps_create_then_update_one_call(room, calls):
    Tag.objects.create(slug="taken")
    with transaction.atomic():
        message = Message.objects.create(room=room, text="draft")
        rolled_back_savepoint()
        message.text = "final"
        message.save()
    assert [(c[0], c[3], c[4]) for c in calls] == [("save", True, "final")]


def test_a_rolled_back_update_leaves_the_create_to_merge_with_a_delete(room, calls):
    with transaction.atomic():
        message = Message.objects.create(room=room, text="a")
        update_in_a_rolled_back_savepoint(message)
        message.delete()
    assert calls == []


def test_changes_in_a_released_savepoint_merge_with_earlier_and_later_ones(room, calls):
    with transaction.atomic():
        message = Message.objects.create(room=room, text="a")
        with transaction.atomic():
            message.text = "b"
            message.save()
        message.delete()
    assert calls == []


def test_a_create_in_a_rolled_back_savepoint_is_gone_for_later_changes(room, calls):
    # The next row may get the rolled-back one's primary key (SQLite reuses it).
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            Message.objects.create(room=room, text="gone")
            1 / 0  # noqa: B018
        Message.objects.create(room=room, text="kept")
    assert [(c[0], c[3], c[4]) for c in calls] == [("save", True, "kept")]


@pytest.mark.parametrize("outer_atomic", [False, True], ids=["autocommit", "atomic-requests"])
def test_on_delete_sees_pk_and_foreign_keys(room, calls, outer_atomic):
    """TRAPS 1: delete() sets pk to None before an outer transaction commits."""
    message = Message.objects.create(room=room, text="bye")
    pk = message.pk
    calls.clear()
    with transaction.atomic() if outer_atomic else transaction.atomic(durable=False):
        message.delete()
        assert message.pk is None
    assert calls == [("delete", MessageStream, pk, room.pk, {"using": "default"})]


def test_cascade_delete_calls_each_child_and_raises_nothing(room, subscribe, caplog):
    first = Message.objects.create(room=room, text="1")
    second = Message.objects.create(room=room, text="2")
    page = subscribe(room.stream)
    with transaction.atomic():
        room.delete()
    html = page.receive_html()  # one message, in the order Django deleted them
    assert sorted(html.removesuffix("</turbo-stream>").split("</turbo-stream>")) == [
        f'<turbo-stream action="remove" target="message-{m.pk}">' for m in (first, second)
    ]
    page.assert_nothing_received()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.django_db(transaction=False)
def test_on_delete_in_a_test_case_transaction(room, calls, django_capture_on_commit_callbacks):
    """In TestCase, the test's transaction never commits: hooks run on capture."""
    with django_capture_on_commit_callbacks(execute=True):
        message = Message.objects.create(room=room, text="x")
    pk = message.pk
    calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        message.delete()
    assert calls == [("delete", MessageStream, pk, room.pk, {"using": "default"})]


def test_raw_saves_do_not_broadcast(room, calls):
    """loaddata saves with raw=True."""
    data = serializers.serialize(
        "json", [Message(pk=99, room=room, text="fixture", created_at=timezone.now())]
    )
    for obj in serializers.deserialize("json", data):
        obj.save()
    assert Message.objects.filter(pk=99).exists()
    assert calls == []


def test_proxy_and_multi_table_saves_call_the_hook_once(room, calls):
    """TRAPS 5: those saves send sender=<subclass>."""
    pinned = PinnedMessage.objects.create(room=room, text="pinned")
    announcement = Announcement.objects.create(room=room, text="news", level=2)
    assert [(c[0], c[2], c[3]) for c in calls] == [
        ("save", pinned.pk, True),
        ("save", announcement.pk, True),
    ]


@pytest.mark.parametrize("outer_atomic", [False, True], ids=["autocommit", "atomic-requests"])
def test_multi_table_delete_calls_the_hook_once(room, monkeypatch, outer_atomic):
    """Django deletes the parent row too, and sends post_delete for both models.

    The hook gets the child, as on_save does.
    """
    deleted = []

    def on_delete(self, message, *args, **kwargs):
        deleted.append((type(message), message.pk))

    monkeypatch.setattr(MessageStream, "on_delete", on_delete)
    announcement = Announcement.objects.create(room=room, text="news", level=2)
    pk = announcement.pk
    with transaction.atomic() if outer_atomic else contextlib.nullcontext():
        announcement.delete()
    assert deleted == [(Announcement, pk)]
    assert not Message.objects.filter(pk=pk).exists()


def test_a_child_with_its_own_stream_deletes_once_on_each(room, calls, register_late):
    """The child's stream sees the child go; the parent's, the parent row it took along."""

    class AnnouncementStream(turbo.ModelStream):
        class Meta:
            model = Announcement
            app_label = "testapp"

        def on_delete(self, announcement, *args, **kwargs):
            calls.append(("delete", type(self), announcement.pk, type(announcement)))

    register_late(AnnouncementStream)
    announcement = Announcement.objects.create(room=room, text="news")
    pk = announcement.pk
    calls.clear()
    announcement.delete()
    assert sorted(calls, key=str) == [
        ("delete", AnnouncementStream, pk, Announcement),
        ("delete", MessageStream, pk, room.pk, {"using": "default"}),
    ]


def test_proxy_delete_calls_the_hook_once(room, calls):
    pinned = PinnedMessage.objects.create(room=room, text="pinned")
    pk = pinned.pk
    calls.clear()
    pinned.delete()
    assert calls == [("delete", MessageStream, pk, room.pk, {"using": "default"})]


def test_a_cascade_through_a_multi_table_child_calls_the_hook_once(room, calls):
    announcement = Announcement.objects.create(room=room, text="news")
    message = Message.objects.create(room=room, text="plain")
    calls.clear()
    room.delete()
    assert sorted(c[2] for c in calls) == sorted([announcement.pk, message.pk])


def test_deleting_a_row_twice_in_one_transaction_calls_the_hook_once(room, calls):
    message = Message.objects.create(room=room, text="twice")
    pk, copy = message.pk, Message.objects.get(pk=message.pk)
    calls.clear()
    with transaction.atomic():
        message.delete()
        copy.delete()  # deletes no row, but sends post_delete again
    assert calls == [("delete", MessageStream, pk, room.pk, {"using": "default"})]


def test_a_delete_rolled_back_with_its_savepoint_leaves_the_next_one(room, calls):
    message = Message.objects.create(room=room, text="kept, then gone")
    pk = message.pk
    calls.clear()
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            Message.objects.get(pk=pk).delete()
            1 / 0  # noqa: B018
        message.delete()
    assert calls == [("delete", MessageStream, pk, room.pk, {"using": "default"})]


def test_historical_models_in_migrations_never_broadcast(room, calls):
    """TRAPS 5: RunPython uses historical models, which must stay silent."""
    state = MigrationExecutor(connection).loader.project_state()
    HistoricalMessage = state.apps.get_model("testapp", "Message")
    HistoricalMessage.objects.create(room_id=room.pk, text="migrated")
    assert calls == []


def test_suppressed_saves_stay_silent_after_a_later_commit(room, subscribe, calls):
    """TRAPS 3: suppression is read when the hook is scheduled, not at commit."""
    with transaction.atomic():
        with turbo.suppress_broadcasts():
            Message.objects.create(room=room, text="bulk")
        Message.objects.create(room=room, text="loud")
    assert [c[4] for c in calls] == ["loud"]


def test_suppression_captured_for_deferred_direct_broadcasts(room, subscribe):
    page = subscribe(room.stream)
    with transaction.atomic():
        with turbo.suppress_broadcasts():
            room.stream.update(text="quiet", id="x")
        room.stream.update(text="loud", id="x")
    assert "loud" in page.receive_html()
    page.assert_nothing_received()


@pytest.mark.turbo_raise_errors(False)
def test_failing_hook_is_logged_and_save_succeeds(room, monkeypatch, caplog):
    """TRAPS 2: the error names the hook; later commit callbacks still run."""

    def on_save(self, message, created, *args, **kwargs):
        raise RuntimeError("hook exploded")

    monkeypatch.setattr(MessageStream, "on_save", on_save)
    later = []
    with transaction.atomic():
        message = Message.objects.create(room=room, text="x")
        transaction.on_commit(lambda: later.append("other app"))
    assert Message.objects.filter(pk=message.pk).exists()
    assert later == ["other app"]
    [record] = [r for r in caplog.records if r.name == "turbo"]
    assert record.getMessage() == "MessageStream.on_save(<Message: x>) failed"
    assert "hook exploded" in str(record.exc_info[1])


@pytest.mark.turbo_raise_errors(False)
def test_template_error_in_hook_is_logged(room, subscribe, monkeypatch, caplog):
    subscribe(room.stream)  # nothing is rendered for a stream nobody listens to

    def on_save(self, message, created, *args, **kwargs):
        message.room.stream.append("chat/missing.html", {}, id="messages")

    monkeypatch.setattr(MessageStream, "on_save", on_save)
    Message.objects.create(room=room, text="x")
    [record] = [r for r in caplog.records if r.name == "turbo"]
    assert "MessageStream.on_save" in record.getMessage()
    assert "chat/missing.html" in str(record.exc_info[1])


async def test_async_save_runs_hooks(room, calls):
    message = Message(room=room, text="async")
    await message.asave()
    assert [(c[0], c[2], c[3]) for c in calls] == [("save", message.pk, True)]


def test_ready_is_idempotent(room, calls):
    from django.apps import apps

    apps.get_app_config("turbo").ready()
    Message.objects.create(room=room, text="once")
    assert len(calls) == 1


def test_hooks_get_turbo_djangos_keywords(room, monkeypatch):
    """Their signal passed everything after the instance by name: hooks written so work."""
    recorded = []

    def on_save(self, obj, **kwargs):
        recorded.append(("save", obj.pk, kwargs))

    def on_delete(self, obj, **kwargs):
        recorded.append(("delete", obj.pk, kwargs))

    monkeypatch.setattr(MessageStream, "on_save", on_save)
    monkeypatch.setattr(MessageStream, "on_delete", on_delete)
    message = Message.objects.create(room=room, text="hi")
    pk = message.pk
    message.delete()

    assert recorded == [
        (
            "save",
            pk,
            {
                "created": True,
                "update_fields": None,
                "raw": False,
                "using": "default",
                "signal": post_save,
            },
        ),
        ("delete", pk, {"using": "default", "origin": message, "signal": post_delete}),
    ]


@pytest.mark.parametrize(
    ("signature", "positional", "named"),
    [
        ("self, instance, created, *args, **kwargs", (), ("created", *SAVE_EXTRAS)),
        ("self, obj, **kwargs", (), ("created", *SAVE_EXTRAS)),
        ("self, obj, is_new, **kwargs", ("created",), SAVE_EXTRAS),
        ("self, obj, is_new", ("created",), ()),
        ("self, obj, *args", ("created",), ()),
        ("self, obj", (), ()),
        ("self, *args, **kwargs", (), ("created", *SAVE_EXTRAS)),
        ("self, obj, created, using", (), ("created", "using")),
        ("self, obj, /, created=False, *, update_fields=None", (), ("created", "update_fields")),
    ],
)
def test_a_hook_is_bound_to_whatever_it_takes(signature, positional, named):
    namespace = {}
    exec(f"def on_save({signature}): pass", namespace)

    call = hook_calls.bind(namespace["on_save"], "on_save", "S")

    assert (call.positional, call.named) == (positional, named)


def test_a_bound_hook_is_called_with_the_values_where_it_takes_them():
    seen = []

    def on_save(self, obj, is_new, using="?"):
        seen.append((self, obj, is_new, using))

    values = {"created": True, "update_fields": None, "raw": False, "using": "db", "signal": 1}
    hook_calls.bind(on_save, "on_save", "S")("stream", "obj", values)
    assert seen == [("stream", "obj", True, "db")]


@pytest.mark.parametrize(
    ("hook", "signature", "why"),
    [
        ("on_save", "self", "must take the instance as its first argument"),
        ("on_save", "self, *, instance", "must take the instance as its first argument"),
        ("on_save", "self, obj, created, when", "nothing fills its parameter 'when'"),
        ("on_delete", "self, obj, created", "nothing fills its parameter 'created'"),
        ("on_delete", "self, obj, *, flag", "nothing fills its parameter 'flag'"),
    ],
)
def test_a_hook_that_cannot_be_called_is_named_with_what_to_write(hook, signature, why):
    namespace = {}
    exec(f"def {hook}({signature}): pass", namespace)
    with pytest.raises(
        TypeError, match=rf"^S\.{hook}\(\) cannot be called: (it )?{why}\. .* write e\.g\."
    ):
        hook_calls.bind(namespace[hook], hook, "S")


def test_an_unfit_hook_fails_when_its_stream_registers():
    class BadHookStream(turbo.ModelStream):
        class Meta:
            model = Tag
            app_label = "testapp"
            attribute = "bad_hook_stream"

        def on_save(self):
            pass

    with pytest.raises(TypeError, match=r"BadHookStream\.on_save\(\) cannot be called"):
        StreamRegistry().register(BadHookStream)
    assert not hasattr(Tag, "bad_hook_stream")


def test_a_hook_is_bound_once_and_again_when_replaced(room, monkeypatch):
    binds = []
    real_bind = hook_calls.bind
    monkeypatch.setattr(hook_calls, "bind", lambda *args: binds.append(args[1]) or real_bind(*args))
    monkeypatch.setattr(MessageStream, "on_save", lambda self, obj, **kwargs: None)
    Message.objects.create(room=room, text="a")
    Message.objects.create(room=room, text="b")
    assert binds == ["on_save"]

    monkeypatch.setattr(MessageStream, "on_save", lambda self, obj, created: None)
    Message.objects.create(room=room, text="c")
    assert binds == ["on_save", "on_save"]
