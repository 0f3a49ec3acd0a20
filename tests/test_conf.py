from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from turbo import conf


def test_defaults():
    assert conf.websocket_path() == "ws/turbo/"
    assert conf.token_max_age() == 24 * 60 * 60.0
    assert conf.max_frame_size() == 16384
    assert conf.max_subscriptions() == 100
    assert conf.frame_rate() == (20.0, 200)
    assert conf.max_unacked_bytes() == 4 * 1024 * 1024
    assert conf.ack_timeout() == 10.0
    assert conf.replay_rate() == 1.0
    assert conf.max_sockets_per_client() == 100
    assert conf.redis_timeout() == 0.5


@override_settings(
    TURBO_WEBSOCKET_PATH="/live/socket/",
    TURBO_TOKEN_MAX_AGE=timedelta(hours=1),
    TURBO_MAX_FRAME_SIZE=100,
    TURBO_MAX_SUBSCRIPTIONS=5,
    TURBO_FRAME_RATE=2,
    TURBO_FRAME_BURST=10,
    TURBO_MAX_UNACKED_BYTES=200_000,
    TURBO_ACK_TIMEOUT=2,
    TURBO_REPLAY_RATE=0.5,
    TURBO_MAX_SOCKETS_PER_CLIENT=3,
    TURBO_REDIS_TIMEOUT=2,
)
def test_settings_override_the_defaults():
    assert conf.websocket_path() == "live/socket/"
    assert conf.token_max_age() == 3600.0
    assert conf.max_frame_size() == 100
    assert conf.max_subscriptions() == 5
    assert conf.frame_rate() == (2.0, 10)
    assert conf.max_unacked_bytes() == 200_000
    assert conf.ack_timeout() == 2.0
    assert conf.replay_rate() == 0.5
    assert conf.max_sockets_per_client() == 3
    assert conf.redis_timeout() == 2.0


@override_settings(TURBO_TOKEN_MAX_AGE=None, TURBO_MAX_SOCKETS_PER_CLIENT=None)
def test_none_lifts_a_limit():
    assert conf.token_max_age() is None
    assert conf.max_sockets_per_client() is None


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("TURBO_WEBSOCKET_PATH", "", conf.websocket_path),
        ("TURBO_WEBSOCKET_PATH", "/", conf.websocket_path),
        ("TURBO_WEBSOCKET_PATH", None, conf.websocket_path),
        ("TURBO_TOKEN_MAX_AGE", 0, conf.token_max_age),
        ("TURBO_TOKEN_MAX_AGE", "1h", conf.token_max_age),
        ("TURBO_TOKEN_MAX_AGE", timedelta(0), conf.token_max_age),
        ("TURBO_MAX_FRAME_SIZE", -1, conf.max_frame_size),
        ("TURBO_MAX_FRAME_SIZE", 1.5, conf.max_frame_size),
        ("TURBO_MAX_SUBSCRIPTIONS", True, conf.max_subscriptions),
        ("TURBO_FRAME_RATE", "fast", conf.frame_rate),
        ("TURBO_FRAME_BURST", 0, conf.frame_rate),
        ("TURBO_MAX_UNACKED_BYTES", 100_000, conf.max_unacked_bytes),
        ("TURBO_MAX_UNACKED_BYTES", "1M", conf.max_unacked_bytes),
        ("TURBO_ACK_TIMEOUT", 0, conf.ack_timeout),
        ("TURBO_REPLAY_RATE", -1, conf.replay_rate),
        ("TURBO_MAX_SOCKETS_PER_CLIENT", 0, conf.max_sockets_per_client),
        ("TURBO_MAX_SOCKETS_PER_CLIENT", 2.5, conf.max_sockets_per_client),
        ("TURBO_REDIS_TIMEOUT", 0, conf.redis_timeout),
        ("TURBO_REDIS_TIMEOUT", None, conf.redis_timeout),
        ("TURBO_RAISE_ERRORS", "yes", conf.raise_errors),
        ("TURBO_RAISE_ERRORS", 1, conf.raise_errors),
    ],
)
def test_a_bad_value_is_reported_by_name(name, value, read):
    with override_settings(**{name: value}), pytest.raises(ImproperlyConfigured, match=name):
        read()
