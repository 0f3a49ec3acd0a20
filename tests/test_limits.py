from __future__ import annotations

from unittest import mock

import pytest
from django.test import override_settings

from turbo import limits
from turbo.conf import ACK_INTERVAL_BYTES


@pytest.fixture
def clock():
    with mock.patch("turbo.limits.monotonic", return_value=100.0) as now:
        yield now


def test_the_rate_limit_refills_over_time(clock):
    limit = limits.RateLimit(rate=10, burst=2)
    assert [limit.allow() for _ in range(3)] == [True, True, False]
    clock.return_value = 100.15
    assert [limit.allow() for _ in range(2)] == [True, False]
    clock.return_value = 1000.0
    assert limit.full()
    assert [limit.allow() for _ in range(3)] == [True, True, False]


@override_settings(TURBO_MAX_UNACKED_BYTES=256 * 1024)
def test_the_window_refuses_a_frame_that_would_go_over_the_bound():
    window = limits.AckWindow()

    assert window.send(200 * 1024) is None
    assert window.send(56 * 1024) is None
    assert window.send(1) == f"would be over {256 * 1024} bytes behind"
    assert window.total == 256 * 1024  # the refused frame is not counted


def test_the_window_closes_a_client_owing_an_ack_too_long(clock):
    window = limits.AckWindow()
    assert window.send(ACK_INTERVAL_BYTES) is None  # owes nothing yet
    assert window.send(1) is None  # owes from now
    clock.return_value = 100.0 + window.timeout

    assert window.send(1) is None
    clock.return_value += 0.5
    assert window.send(1) == f"has owed an ack for over {window.timeout:g} s"


def test_an_ack_frees_what_it_counts_and_restarts_the_timeout(clock):
    window = limits.AckWindow()
    for _ in range(3):
        window.send(40_000)
    clock.return_value = 108.0

    assert window.acknowledge(1)
    assert window.total == 80_000
    assert window.owing_since == 108.0
    assert window.acknowledge(3)
    assert (window.total, window.owing_since) == (0, None)


@pytest.mark.parametrize("frames", [-1, 2, 1.0, True, "1", None])
def test_an_impossible_ack_changes_nothing(frames):
    window = limits.AckWindow()
    window.send(10)

    assert not window.acknowledge(frames)
    assert (window.total, window.expected) == (10, "between 0 and 1")


@override_settings(TURBO_MAX_SOCKETS_PER_CLIENT=2)
def test_a_client_holds_at_most_its_share_of_sockets(caplog):
    clients = limits.Clients()
    first, second = clients.open("10.0.0.1"), clients.open("10.0.0.1")
    assert first is not None
    assert second is not None

    assert clients.open("10.0.0.1") is None
    assert clients.open("10.0.0.1") is None
    assert clients.open("10.0.0.2") is not None
    [warning] = caplog.messages  # once, not once per refusal
    assert "10.0.0.1" in warning
    assert "TURBO_MAX_SOCKETS_PER_CLIENT" in warning
    clients.close("10.0.0.1", first)
    assert clients.open("10.0.0.1") is not None


@override_settings(TURBO_MAX_SOCKETS_PER_CLIENT=None)
def test_the_cap_can_be_lifted():
    clients = limits.Clients()

    assert all(clients.open("10.0.0.1") for _ in range(1000))


def test_a_reconnecting_client_keeps_its_spent_limits(clock):
    clients = limits.Clients()
    spent = clients.open("10.0.0.1")
    assert spent is not None
    while spent.frames.allow():
        pass
    clients.close("10.0.0.1", spent)

    assert clients.open("10.0.0.1") is spent
    assert not spent.frames.allow()
    assert clients.open("10.0.0.2") is not spent


def close_spent_sockets(clients, count):
    for n in range(count):
        opened = clients.open(f"10.0.{n // 250}.{n % 250}")
        assert opened is not None
        opened.frames.allow()
        clients.close(f"10.0.{n // 250}.{n % 250}", opened)


def test_refilled_limits_are_forgotten(clock):
    clients = limits.Clients()
    close_spent_sockets(clients, 300)
    clock.return_value = 10_000.0

    close_spent_sockets(clients, 1)

    assert list(clients.left) == ["10.0.0.0"]
    assert clients.open_sockets == {}


def test_a_process_remembers_a_bounded_number_of_clients(clock, monkeypatch):
    monkeypatch.setattr(limits, "REMEMBERED", 150)
    clients = limits.Clients()

    close_spent_sockets(clients, 1000)

    assert len(clients.left) <= 150 + 101
    assert "10.0.3.249" in clients.left  # the newest are kept


def test_sockets_without_an_address_are_not_counted():
    clients = limits.Clients()
    opened = clients.open(None)
    assert opened is not None
    clients.close(None, opened)
    assert (clients.open_sockets, clients.left) == ({}, {})


@pytest.mark.parametrize(
    ("scope", "address"),
    [({"client": ("10.1.2.3", 5000)}, "10.1.2.3"), ({"client": None}, None), ({}, None)],
)
def test_client_address(scope, address):
    assert limits.client_address(scope) == address


@pytest.mark.parametrize(("frames", "advances"), [(0, False), (1, True), (2, True), (3, False)])
def test_an_ack_advances_when_it_acknowledges_a_frame_sent(frames, advances):
    window = limits.AckWindow()
    window.send(10)
    window.send(10)

    assert window.advances(frames) is advances
