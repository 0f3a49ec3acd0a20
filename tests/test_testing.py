from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

from tests.testapp.models import Message, Room
from tests.testapp.streams import RoomStream
from turbo.testing import CapturedBroadcast, capture_broadcasts


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
