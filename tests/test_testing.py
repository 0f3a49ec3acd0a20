from __future__ import annotations

import os
import re
import subprocess
import sys
import unittest

import pytest
from django.db import transaction
from django.test import TestCase, override_settings

from tests.testapp.models import Message, Room
from tests.testapp.streams import LobbyStream, RoomStream
from turbo import fragments
from turbo.testing import Broadcasts, BroadcastsTestMixin, CapturedBroadcast, capture_broadcasts


def test_a_direct_broadcast_is_recorded_not_sent(subscribe):
    stream = RoomStream.for_pk(3)
    subscriber = subscribe(stream)

    with capture_broadcasts() as broadcasts:
        stream.update(text="hi", id="x")

    assert broadcasts == [
        CapturedBroadcast(
            "testapp:RoomStream(3)",
            stream.group,
            '<turbo-stream action="update" target="x"><template>hi</template></turbo-stream>',
        )
    ]
    subscriber.assert_nothing_received()


@pytest.mark.django_db
def test_hooks_are_recorded_when_the_commit_runs_them(django_capture_on_commit_callbacks):
    room = Room.objects.create(name="r")

    with (
        capture_broadcasts() as broadcasts,
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = Message.objects.create(room=room, text="hello")

    [broadcast] = broadcasts
    assert broadcast.stream == f"testapp:RoomStream({room.pk})"
    assert f'<li id="message-{message.pk}">' in broadcast.html


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_save_records_nothing():
    room = Room.objects.create(name="r")

    with capture_broadcasts() as broadcasts, transaction.atomic():
        Message.objects.create(room=room, text="never")
        transaction.set_rollback(True)

    assert broadcasts == []


@override_settings(CHANNEL_LAYERS={})
async def test_async_broadcasts_are_recorded_without_a_channel_layer():
    with capture_broadcasts() as broadcasts:
        await RoomStream.for_pk(1).aremove(id="message-1")

    assert [b.html for b in broadcasts] == [
        '<turbo-stream action="remove" target="message-1"></turbo-stream>'
    ]


def test_outside_the_block_nothing_is_recorded(subscribe):
    stream = RoomStream.for_pk(3)
    subscriber = subscribe(stream)
    with capture_broadcasts() as broadcasts:
        pass

    stream.update(text="sent", id="x")

    assert broadcasts == []
    assert "sent" in subscriber.receive_html()


def test_a_broadcast_keeps_its_fragments_for_inspection():
    with capture_broadcasts() as broadcasts:
        RoomStream.for_pk(3).broadcast(
            fragments.append(text="<hi>", id="messages"), fragments.remove(selector=".old")
        )

    [broadcast] = broadcasts
    append, remove = broadcast.fragments
    assert (append.action, append.target, append.targets) == ("append", "messages", None)
    assert append.content == "&lt;hi&gt;"
    assert (remove.action, remove.target, remove.targets) == ("remove", None, ".old")


@pytest.mark.django_db
def test_a_hooks_fragment_holds_its_rendered_template(django_capture_on_commit_callbacks):
    room = Room.objects.create(name="r")

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        message = Message.objects.create(room=room, text="<b>hi</b>")

    [fragment] = broadcasts[0].fragments
    assert fragment.content.startswith(f'<li id="message-{message.pk}">')
    assert fragment.content.endswith(": &lt;b&gt;hi&lt;/b&gt;</li>\n")


@override_settings(CHANNEL_LAYERS={})
async def test_async_broadcasts_keep_their_fragments():
    with capture_broadcasts() as broadcasts:
        await RoomStream.for_pk(1).aupdate(text="two", id="count")

    [fragment] = broadcasts[0].fragments
    assert (fragment.action, fragment.target, fragment.content) == ("update", "count", "two")


def test_turbo_testing_does_not_need_pytest():
    code = (
        "import sys, django; django.setup(); import turbo.testing; "
        "sys.exit('pytest' in sys.modules)"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    subprocess.run([sys.executable, "-c", code], env=environment, check=True)


@pytest.fixture
def case() -> BroadcastsTestMixin:
    """The mixin as a unittest test case uses it."""

    class Case(BroadcastsTestMixin, unittest.TestCase):
        pass

    return Case()


@pytest.mark.django_db
def test_assert_broadcasts_runs_the_hooks_of_a_test_case_transaction(case):
    room = Room.objects.create(name="r")

    with case.assertBroadcasts(room, 1) as broadcasts:
        message = Message.objects.create(room=room, text="hi")

    [fragment] = broadcasts[0].fragments
    assert (fragment.action, fragment.target) == ("append", "messages")
    assert f'<li id="message-{message.pk}">' in fragment.content


@pytest.mark.django_db
def test_a_block_is_a_transaction_of_its_own(case):
    # In one transaction, create + delete would coalesce into nothing.
    message = Message.objects.create(room=Room.objects.create(name="r"), text="hi")
    pk = message.pk

    with case.assertBroadcasts(message.room, 1) as broadcasts:
        message.delete()

    [fragment] = broadcasts[0].fragments
    assert (fragment.action, fragment.target) == ("remove", f"message-{pk}")


@pytest.mark.django_db
def test_a_refresh_asked_for_before_the_block_does_not_hide_the_blocks(case):
    stream = RoomStream.for_pk(3)
    stream.refresh()

    with case.assertBroadcasts(stream, 1) as broadcasts:
        stream.refresh()

    assert broadcasts[0].fragments[0].action == "refresh"


@pytest.mark.django_db(transaction=True)
def test_assert_broadcasts_in_autocommit(case):
    message = Message.objects.create(room=Room.objects.create(name="r"), text="hi")
    pk = message.pk

    with case.assertBroadcasts(message.room, 1) as broadcasts:
        message.delete()

    assert (
        broadcasts[0].html == f'<turbo-stream action="remove" target="message-{pk}"></turbo-stream>'
    )


def test_assert_broadcasts_counts_only_the_streams_broadcasts(case):
    with case.assertBroadcasts(RoomStream.for_pk(3), 2) as broadcasts:
        RoomStream.for_pk(3).update(text="a", id="x")
        RoomStream.for_pk(4).update(text="b", id="x")
        RoomStream.for_pk(3).remove(id="y")

    assert [b.fragments[0].action for b in broadcasts] == ["update", "remove"]


def test_assert_broadcasts_takes_a_streams_name(case):
    with case.assertBroadcasts("testapp:LobbyStream", 1):
        LobbyStream().update(text="a", id="x")


@pytest.mark.django_db
def test_assert_broadcasts_fails_listing_what_was_broadcast(case):
    room, other = Room.objects.create(name="r"), Room.objects.create(name="o")

    expected = (
        f"Expected 1 broadcast to testapp:RoomStream({room.pk}), got 0. Broadcast:\n"
        f"  testapp:RoomStream({other.pk}): append target='messages'"
    )
    with (
        pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"),
        case.assertBroadcasts(room, 1),
    ):
        Message.objects.create(room=other, text="elsewhere")


def test_assert_broadcasts_fails_on_too_many(case):
    stream = RoomStream.for_pk(3)
    expected = (
        "Expected 1 broadcast to testapp:RoomStream(3), got 2. Broadcast:\n"
        "  testapp:RoomStream(3): update target='x', remove targets='.old'\n"
        "  testapp:RoomStream(3): refresh"
    )
    with pytest.raises(AssertionError, match=re.escape(expected)), case.assertBroadcasts(stream, 1):
        stream.broadcast(fragments.update(text="a", id="x"), fragments.remove(selector=".old"))
        stream.broadcast(fragments.refresh())


@pytest.mark.django_db
def test_assert_no_broadcasts_passes_when_a_savepoint_rolls_back(case):
    room = Room.objects.create(name="r")

    with case.assertNoBroadcasts(), transaction.atomic():
        Message.objects.create(room=room, text="never")
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_assertions_leave_commit_callbacks_from_before_the_block_alone(case):
    room = Room.objects.create(name="r")
    Message.objects.create(room=room, text="before")

    with case.assertNoBroadcasts(room):
        pass


@pytest.mark.django_db
def test_assert_no_broadcasts_to_a_stream_fails_when_it_gets_one(case):
    room = Room.objects.create(name="r")

    with (
        pytest.raises(AssertionError, match=rf"^Expected 0 broadcasts to .*\({room.pk}\), got 1\."),
        case.assertNoBroadcasts(room),
    ):
        Message.objects.create(room=room, text="hi")


def test_assert_no_broadcasts_to_a_stream_ignores_other_streams(case):
    with case.assertNoBroadcasts(RoomStream.for_pk(3)):
        RoomStream.for_pk(4).update(text="b", id="x")


def test_assert_no_broadcasts_at_all_fails_on_any_stream(case):
    expected = "Expected no broadcasts. Broadcast:\n  testapp:RoomStream(4): update target='x'"
    with pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"), case.assertNoBroadcasts():
        RoomStream.for_pk(4).update(text="b", id="x")


class TestInDjangosTestCase(BroadcastsTestMixin, TestCase):
    """The mixin and the recorder as the docs show them."""

    def setUp(self):
        self.message = Message.objects.create(room=Room.objects.create(name="r"), text="hi")

    def test_deleting_what_set_up_made_broadcasts_its_removal(self):
        pk = self.message.pk

        with self.assertBroadcasts(self.message.room, 1) as broadcasts:
            self.message.delete()

        assert broadcasts[0].fragments[0].target == f"message-{pk}"

    def test_a_recorder_entered_in_the_test(self):
        broadcasts = self.enterContext(Broadcasts())

        Message.objects.create(room=self.message.room, text="again")

        [broadcast] = broadcasts.assert_count(self.message.room, 1)
        assert "again" in broadcast.fragments[0].content
