from __future__ import annotations

import re

import pytest
from django.db import transaction
from django.test import override_settings

from tests.testapp.models import Document, Message, Room
from tests.testapp.streams import LobbyStream, RoomStream
from turbo.testing import Broadcasts, CapturedBroadcast


@pytest.fixture
def message(db):
    return Message.objects.create(room=Room.objects.create(name="r"), text="hi")


def test_the_plugin_is_registered_by_its_entry_point(pytestconfig):
    # The suite's conftest does not load it: pytest found it installed.
    assert pytestconfig.pluginmanager.has_plugin("turbo_streams")


@pytest.mark.django_db
def test_a_hooks_broadcast_is_there_right_after_the_save(turbo_broadcasts):
    room = Room.objects.create(name="r")

    message = Message.objects.create(room=room, text="hi")

    [broadcast] = turbo_broadcasts.assert_count(room, 1)
    assert (broadcast.fragments[0].action, broadcast.fragments[0].target) == ("append", "messages")
    assert f'<li id="message-{message.pk}">' in broadcast.fragments[0].content
    assert list(turbo_broadcasts) == turbo_broadcasts.to(room) == [broadcast]


@pytest.mark.django_db
def test_each_commit_is_run_once_and_later_changes_still_broadcast(turbo_broadcasts):
    document = Document.objects.create(title="first")
    assert len(turbo_broadcasts) == 1

    document.title = "second"
    document.save()

    assert [b.fragments[0].content for b in turbo_broadcasts] == ["first", "second"]


@pytest.mark.django_db
def test_a_block_of_the_test_is_recorded_when_it_commits(turbo_broadcasts):
    room = Room.objects.create(name="r")

    with transaction.atomic():
        Message.objects.create(room=room, text="hi")
        assert turbo_broadcasts == []

    turbo_broadcasts.assert_count(room, 1)


@pytest.mark.django_db
def test_a_rolled_back_block_of_the_test_records_nothing(turbo_broadcasts):
    room = Room.objects.create(name="r")

    with transaction.atomic():
        Message.objects.create(room=room, text="never")
        transaction.set_rollback(True)

    turbo_broadcasts.assert_none()


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_a_committed_block_is_recorded_once(turbo_broadcasts):
    room = Room.objects.create(name="r")

    with transaction.atomic():
        Message.objects.create(room=room, text="hi")
        assert len(turbo_broadcasts) == 0
    Message.objects.create(room=room, text="autocommit")

    texts = [re.search(r": (\w+)</li>", b.fragments[0].content)[1] for b in turbo_broadcasts]
    assert texts == ["hi", "autocommit"]


def test_to_selects_one_streams_broadcasts(turbo_broadcasts):
    RoomStream.for_pk(3).update(text="a", id="x")
    LobbyStream().remove(id="y")
    RoomStream.for_pk(3).remove(id="z")

    assert [b.fragments[0].target for b in turbo_broadcasts.to(RoomStream.for_pk(3))] == ["x", "z"]
    assert [b.fragments[0].target for b in turbo_broadcasts.to("testapp:LobbyStream")] == ["y"]


def test_it_compares_and_shows_like_a_list(turbo_broadcasts):
    assert turbo_broadcasts == []

    LobbyStream().remove(id="y")

    removal = '<turbo-stream action="remove" target="y"></turbo-stream>'
    expected = CapturedBroadcast("testapp:LobbyStream()", LobbyStream().group, removal)
    assert turbo_broadcasts == [expected]
    assert repr(turbo_broadcasts).startswith(
        "Broadcasts([CapturedBroadcast(stream='testapp:LobbyStream()', "
    )


def test_assert_count_fails_listing_what_was_broadcast(turbo_broadcasts):
    RoomStream.for_pk(4).update(text="a", id="x")

    expected = (
        "Expected 2 broadcasts to testapp:RoomStream(3), got 0. Broadcast:\n"
        "  testapp:RoomStream(4): update target='x'"
    )
    with pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"):
        turbo_broadcasts.assert_count(RoomStream.for_pk(3), 2)


def test_assert_count_says_when_nothing_was_broadcast(turbo_broadcasts):
    expected = "Expected 1 broadcast to testapp:RoomStream(3), got 0. Nothing was broadcast."
    with pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"):
        turbo_broadcasts.assert_count(RoomStream.for_pk(3), 1)


def test_assert_none_fails_on_any_broadcast(turbo_broadcasts):
    turbo_broadcasts.assert_none()
    RoomStream.for_pk(4).update(text="a", id="x")
    turbo_broadcasts.assert_none(RoomStream.for_pk(3))

    with pytest.raises(AssertionError, match=r"^Expected no broadcasts\. Broadcast:\n  .*\(4\)"):
        turbo_broadcasts.assert_none()
    with pytest.raises(AssertionError, match=r"^Expected 0 broadcasts to .*\(4\), got 1\."):
        turbo_broadcasts.assert_none(RoomStream.for_pk(4))


@override_settings(CHANNEL_LAYERS={})
async def test_async_broadcasts_are_recorded(turbo_broadcasts):
    await RoomStream.for_pk(1).aremove(id="message-1")

    [broadcast] = turbo_broadcasts.assert_count(RoomStream.for_pk(1), 1)
    assert broadcast.fragments[0].action == "remove"


# Fixtures set up before and after turbo_broadcasts alike: what they did is
# committed before the test, not recorded (nor coalesced with the test's changes).
def test_a_fixture_set_up_before_is_not_recorded(message, turbo_broadcasts):
    pk = message.pk
    message.delete()

    [broadcast] = turbo_broadcasts.assert_count(message.room, 1)
    assert (broadcast.fragments[0].action, broadcast.fragments[0].target) == (
        "remove",
        f"message-{pk}",
    )


def test_a_fixture_set_up_after_is_not_recorded(turbo_broadcasts, message):
    pk = message.pk
    message.delete()

    [broadcast] = turbo_broadcasts.assert_count(message.room, 1)
    assert broadcast.fragments[0].target == f"message-{pk}"


@pytest.mark.django_db
def test_a_refresh_after_a_read_is_not_taken_for_the_one_before(turbo_broadcasts):
    stream = RoomStream.for_pk(3)
    stream.refresh()
    assert len(turbo_broadcasts) == 1

    stream.refresh()

    assert [b.fragments[0].action for b in turbo_broadcasts] == ["refresh", "refresh"]


def test_broadcasts_records_only_while_entered(subscribe):
    stream = RoomStream.for_pk(3)
    subscriber = subscribe(stream)

    with Broadcasts() as broadcasts:
        stream.update(text="inside", id="x")
    stream.update(text="after", id="x")

    assert [b.fragments[0].content for b in broadcasts] == ["inside"]
    assert "after" in subscriber.receive_html()
