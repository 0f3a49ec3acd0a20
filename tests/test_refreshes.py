from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

import turbo
from tests.conftest import layer_config
from tests.live import manage
from tests.testapp.models import Board
from tests.testapp.streams import BoardStream, LobbyStream
from turbo.refreshes import collect_request_refreshes, current_request_id, use_request_id
from turbo.testing import capture_broadcasts

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST_ID = "0b7b6c6e-8f60-4f0e-9d4c-2f1b0c9d7a11"


@pytest.fixture
def board():
    with turbo.suppress_broadcasts():
        return Board.objects.create(name="Sprint")


def test_a_refresh_in_a_request_carries_its_request_id(client, board):
    with capture_broadcasts() as broadcasts:
        response = client.post(f"/boards/{board.pk}/refresh/", HTTP_X_TURBO_REQUEST_ID=REQUEST_ID)

    assert response.status_code == 204
    [refresh] = broadcasts
    assert refresh.group == board.stream.group
    assert refresh.html == (
        f'<turbo-stream action="refresh" request-id="{REQUEST_ID}"></turbo-stream>'
    )


def test_refreshes_in_one_request_are_sent_once_when_the_view_returns(client, board):
    # Two in a transaction, two outside it: one refresh in all.
    with capture_broadcasts() as broadcasts:
        client.post(f"/boards/{board.pk}/refresh/?times=4", HTTP_X_TURBO_REQUEST_ID=REQUEST_ID)

    assert [b.group for b in broadcasts] == [board.stream.group]


def test_a_change_declared_to_refresh_refreshes_once_per_request(client, board):
    with capture_broadcasts() as broadcasts:
        client.post(f"/boards/{board.pk}/rename/", {"name": "Next"})

    [refresh] = broadcasts
    assert refresh.html == '<turbo-stream action="refresh"></turbo-stream>'


def test_refreshes_in_one_transaction_are_sent_once_on_commit(board):
    with capture_broadcasts() as broadcasts, transaction.atomic():
        board.stream.refresh()
        board.stream.refresh()
        assert broadcasts == []

    assert len(broadcasts) == 1


def test_a_rolled_back_refresh_is_not_sent(board):
    with capture_broadcasts() as broadcasts, pytest.raises(RuntimeError), transaction.atomic():
        board.stream.refresh()
        raise RuntimeError

    assert broadcasts == []


def test_a_refresh_after_a_rolled_back_savepoint_is_still_sent(board):
    with capture_broadcasts() as broadcasts, transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            board.stream.refresh()
            raise RuntimeError
        board.stream.refresh()

    assert len(broadcasts) == 1


def test_refreshes_that_differ_are_all_sent(board):
    other = BoardStream.for_pk(board.pk + 1)
    with capture_broadcasts() as broadcasts, transaction.atomic():
        board.stream.refresh()
        board.stream.refresh(method="morph")
        board.stream.refresh(scroll="preserve")
        other.refresh()
        with use_request_id(REQUEST_ID):
            board.stream.refresh()

    assert [b.html for b in broadcasts] == [
        '<turbo-stream action="refresh"></turbo-stream>',
        '<turbo-stream action="refresh" method="morph"></turbo-stream>',
        '<turbo-stream action="refresh" scroll="preserve"></turbo-stream>',
        '<turbo-stream action="refresh"></turbo-stream>',
        f'<turbo-stream action="refresh" request-id="{REQUEST_ID}"></turbo-stream>',
    ]
    assert broadcasts[3].group == other.group


def test_the_request_id_is_read_when_the_refresh_is_asked_for_not_at_commit(board):
    """TRAPS 3: the block setting the request id has exited when the commit runs."""
    with capture_broadcasts() as broadcasts, transaction.atomic():
        with use_request_id(REQUEST_ID):
            board.stream.refresh()
        assert current_request_id() is None

    assert f'request-id="{REQUEST_ID}"' in broadcasts[0].html


def test_a_refresh_asked_for_after_the_request_ended_goes_out_at_once(board):
    with capture_broadcasts() as broadcasts:
        with collect_request_refreshes() as collected:
            board.stream.refresh()
            board.stream.refresh()
            assert broadcasts == []
        collected.send()
        assert len(broadcasts) == 1
        board.stream.refresh()

    assert len(broadcasts) == 2


async def test_async_refreshes_are_collected_per_request_too(board):
    with capture_broadcasts() as broadcasts:
        with collect_request_refreshes() as collected:
            await board.stream.arefresh(method="morph")
            await board.stream.arefresh(method="morph")
        await collected.asend()

    [refresh] = broadcasts
    assert refresh.html == '<turbo-stream action="refresh" method="morph"></turbo-stream>'


def test_suppressed_refreshes_send_nothing(board):
    with capture_broadcasts() as broadcasts:
        with BoardStream.suppress_broadcasts():
            board.stream.refresh()
            LobbyStream().refresh()
        with turbo.suppress_broadcasts():
            LobbyStream().refresh()

    assert [b.group for b in broadcasts] == [LobbyStream().group]


def test_bad_options_raise_when_the_refresh_is_asked_for(board):
    with pytest.raises(ValueError, match="refresh method must be one of"):
        board.stream.refresh(method="reload")  # type: ignore[arg-type]


async def test_the_sync_refresh_names_its_async_twin_in_async_code(board):
    with pytest.raises(RuntimeError, match=r"await stream\.arefresh"):
        board.stream.refresh()


@override_settings(TURBO_REFRESH_DEBOUNCE=0.2)
def test_equal_refreshes_within_the_debounce_reach_a_page_once(board, subscribe):
    page = subscribe(board.stream)
    for _ in range(3):
        board.stream.refresh(method="morph")

    assert page.receive_html() == '<turbo-stream action="refresh" method="morph"></turbo-stream>'
    page.assert_nothing_received()


@override_settings(TURBO_REFRESH_DEBOUNCE=0.2)
async def test_equal_async_refreshes_within_the_debounce_reach_a_socket_once(board, connect):
    socket = await connect()
    await socket.subscribe(board.stream)
    for _ in range(3):
        await board.stream.arefresh()

    assert await socket.receive_html(board.stream) == (
        '<turbo-stream action="refresh"></turbo-stream>'
    )
    await board.stream.aupdate(text="after", id="x")
    assert "after" in await socket.receive_html(board.stream)


@pytest.mark.parametrize("value", [-1, "0.5", True])
def test_a_bad_debounce_setting_is_named(board, value):
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(TURBO_REFRESH_DEBOUNCE=value),
        pytest.raises(ImproperlyConfigured, match="TURBO_REFRESH_DEBOUNCE"),
    ):
        board.stream.refresh()


def test_a_refresh_a_command_debounces_as_it_exits_is_sent_before_the_process_ends(subscribe):
    """Issue 20, item 14: the debounce runs on a daemon thread's loop, which
    the process would end with the refresh still waiting."""
    layer = layer_config("redis-pubsub")
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        page = subscribe(LobbyStream())
        code = "from tests.testapp.streams import LobbyStream; LobbyStream().refresh()"
        manage(layer, "shell", "-c", code, TURBO_REFRESH_DEBOUNCE="5")

        assert page.receive_html() == '<turbo-stream action="refresh"></turbo-stream>'
