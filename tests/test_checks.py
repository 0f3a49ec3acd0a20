from __future__ import annotations

from unittest import mock

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.core import checks
from django.test import override_settings
from django.urls import path

import turbo.checks
from tests.conftest import LAYERS, layer_config
from tests.live import manage
from turbo import routing
from turbo.consumers import TurboStreamConsumer


def test_no_warning_with_a_channel_layer():
    assert [m for m in checks.run_checks() if m.id == "turbo.W001"] == []


def test_warning_without_a_channel_layer():
    with override_settings(CHANNEL_LAYERS={}):
        [message] = [m for m in checks.run_checks() if m.id == "turbo.W001"]
    assert "InMemoryChannelLayer" in message.hint


# No check is needed for a channel layer's Redis settings: turbo fits the
# core layer's receive to redis-py 8's read timeout (tests/test_layer_settings.py).
@pytest.mark.parametrize(
    ("layer", "config"),
    [
        ("redis-core", {"hosts": [("127.0.0.1", 6379)]}),
        ("redis-core", {"hosts": [settings.REDIS_URL]}),
        ("redis-pubsub", {"hosts": [settings.REDIS_URL]}),
        ("memory", {}),
    ],
    ids=["core-tuple", "core-url", "pubsub", "memory"],
)
def test_manage_py_check_finds_nothing_wrong_with_ordinary_layer_settings(layer, config):
    assert "System check identified no issues" in manage(layer_config(layer, **config), "check")


def test_manage_py_check_finds_nothing_wrong_with_the_core_layer_unconfigured():
    layer = {"BACKEND": LAYERS["redis-core"]["BACKEND"]}  # Redis at localhost:6379
    assert "System check identified no issues" in manage(layer, "check")


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


def warnings_with(ids, **overrides):
    with override_settings(**overrides):
        return [m for m in checks.run_checks() if m.id in ids]


def test_the_tests_own_project_is_set_up_right():
    assert (
        warnings_with({"turbo.W005", "turbo.W006", "turbo.W007", "turbo.W008", "turbo.W009"}) == []
    )


def test_no_asgi_application_warns():
    [message] = warnings_with({"turbo.W005"}, ASGI_APPLICATION=None)

    assert "ASGI_APPLICATION" in message.msg
    assert "websocket_application()" in message.hint


no_websocket_application = ProtocolTypeRouter({"http": lambda scope, receive, send: None})
other_route_application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/chat/", AsyncWebsocketConsumer.as_asgi())])}
)
nested_application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            URLRouter([path("ws/", URLRouter([path("turbo/", TurboStreamConsumer.as_asgi())]))])
        )
    }
)


@pytest.mark.parametrize("application", ["no_websocket_application", "other_route_application"])
def test_an_application_without_the_turbo_route_warns(application):
    name = f"tests.test_checks.{application}"

    [message] = warnings_with({"turbo.W006"}, ASGI_APPLICATION=name)

    assert f"{name} does not route websockets at /ws/turbo/" in message.msg


def test_the_route_is_found_in_a_nested_router():
    assert (
        warnings_with({"turbo.W006"}, ASGI_APPLICATION="tests.test_checks.nested_application") == []
    )


def test_the_route_follows_the_websocket_path_setting():
    [message] = warnings_with({"turbo.W006"}, TURBO_WEBSOCKET_PATH="live/")

    assert "/live/ (TURBO_WEBSOCKET_PATH)" in message.msg


def test_a_history_without_the_middleware_warns():
    middleware = [m for m in settings.MIDDLEWARE if not m.startswith("turbo.")]

    [message] = warnings_with({"turbo.W007"}, MIDDLEWARE=middleware)

    assert "TurboMiddleware" in message.msg
    assert warnings_with({"turbo.W007"}, MIDDLEWARE=middleware, TURBO_HISTORY=None) == []


def test_private_streams_without_the_middleware_warn():
    middleware = [m for m in settings.MIDDLEWARE if not m.startswith("turbo.")]

    [message] = warnings_with({"turbo.W009"}, MIDDLEWARE=middleware)

    assert "testapp:PrivateStream" in message.msg
    assert "testapp:LobbyStream" not in message.msg
    assert "TurboMiddleware" in message.hint


@pytest.mark.parametrize(
    ("apps", "warns"),
    [
        (["daphne", "django.contrib.staticfiles"], False),
        (["django.contrib.staticfiles", "daphne"], True),
        (["django.contrib.staticfiles"], True),
        (["django.contrib.auth"], True),
    ],
    ids=["daphne-first", "daphne-after-staticfiles", "no-daphne", "neither"],
)
def test_runserver_without_daphne_warns(apps, warns):
    # Checked on settings alone: INSTALLED_APPS itself is the test app's.
    with (
        mock.patch("sys.argv", ["manage.py", "runserver"]),
        mock.patch.object(settings, "INSTALLED_APPS", apps),
    ):
        found = turbo.checks.check_runserver_serves_websockets()

    assert [message.id for message in found] == (["turbo.W008"] if warns else [])


def test_other_commands_are_not_told_about_runserver():
    with (
        mock.patch("sys.argv", ["manage.py", "migrate"]),
        mock.patch.object(settings, "INSTALLED_APPS", []),
    ):
        assert turbo.checks.check_runserver_serves_websockets() == []
