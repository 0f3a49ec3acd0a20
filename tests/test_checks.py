from __future__ import annotations

from unittest import mock

import pytest
from channels.routing import ProtocolTypeRouter
from django.core import checks
from django.test import override_settings

from turbo import routing


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


def origin_warnings(**overrides):
    with override_settings(**overrides):
        return [
            m for m in checks.run_checks(tags=["security"]) if m.id in {"turbo.W003", "turbo.W004"}
        ]


def test_no_origin_warning_for_the_tests_own_application():
    assert origin_warnings() == []


def test_any_host_allowed_warns():
    [message] = origin_warnings(ALLOWED_HOSTS=["example.com", "*"])

    assert message.id == "turbo.W003"
    assert "cross-site websocket hijacking" in message.msg


any_origin_application = ProtocolTypeRouter(
    {"websocket": routing.websocket_application(allowed_origins=["https://example.com", "*"])}
)
some_origins_application = ProtocolTypeRouter(
    {"websocket": routing.websocket_application(allowed_origins=["https://example.com"])}
)


def test_any_origin_allowed_warns():
    [message] = origin_warnings(ASGI_APPLICATION="tests.test_checks.any_origin_application")

    assert message.id == "turbo.W004"
    assert "tests.test_checks.any_origin_application" in message.msg


def test_named_origins_do_not_warn():
    assert origin_warnings(ASGI_APPLICATION="tests.test_checks.some_origins_application") == []


def test_an_application_that_fails_to_import_is_left_to_its_server():
    assert origin_warnings(ASGI_APPLICATION="tests.nowhere.application") == []
