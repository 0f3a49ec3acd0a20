from __future__ import annotations

from unittest import mock

import pytest
from django.core import checks
from django.test import override_settings


def test_no_warning_with_a_channel_layer():
    assert [m for m in checks.run_checks() if m.id == "turbo.W001"] == []


def test_warning_without_a_channel_layer():
    with override_settings(CHANNEL_LAYERS={}):
        [message] = [m for m in checks.run_checks() if m.id == "turbo.W001"]
    assert "InMemoryChannelLayer" in message.hint


CORE = "channels_redis.core.RedisChannelLayer"
URL = "redis://127.0.0.1:6379/0"


def redis_warnings(layers, redis_version="8.1.0"):
    with (
        override_settings(CHANNEL_LAYERS=layers),
        mock.patch("turbo.checks.version", return_value=redis_version),
    ):
        return [m for m in checks.run_checks() if m.id == "turbo.W002"]


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"hosts": [URL]},
        {"hosts": [("127.0.0.1", 6379)]},
        {"hosts": [{"address": URL}]},
        {"hosts": [{"address": URL, "socket_timeout": None}, URL]},
    ],
)
def test_the_core_layer_with_redis_py_8_and_the_default_read_timeout_warns(config):
    [message] = redis_warnings({"default": {"BACKEND": CORE, "CONFIG": config}})

    assert "5-second default read timeout" in message.msg
    assert "'socket_timeout': None" in message.hint


@pytest.mark.parametrize(
    ("layer", "redis_version"),
    [
        ({"BACKEND": CORE, "CONFIG": {"hosts": [{"address": URL, "socket_timeout": None}]}}, "8.1"),
        ({"BACKEND": CORE, "CONFIG": {"hosts": [{"address": URL, "socket_timeout": 60}]}}, "8.1"),
        ({"BACKEND": CORE, "CONFIG": {"hosts": [URL]}}, "7.4.1"),
        ({"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}, "8.1"),
    ],
)
def test_no_read_timeout_warning_when_it_cannot_bite(layer, redis_version):
    assert redis_warnings({"default": layer}, redis_version) == []
