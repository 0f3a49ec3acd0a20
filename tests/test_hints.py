"""Runtime hints (turbo.hints): a setup mistake seen at run time logs one clear line, once."""

from __future__ import annotations

import logging

import pytest
import websockets
from django.test import Client, override_settings

from tests.live import ServerProcess
from turbo import hints

HANDSHAKE = {"headers": {"Upgrade": "websocket", "Connection": "Upgrade"}}
HTTP_HINT = "reached Django's HTTP stack"
NO_ROUTE_HINT = "Refused websockets for /ws/nowhere/: no route matches it"


@pytest.fixture(autouse=True)
def nothing_reported_yet(monkeypatch):
    monkeypatch.setattr(hints, "_reported", set())


def turbo_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "turbo" and r.levelno == logging.WARNING
    ]


@pytest.mark.django_db
def test_a_handshake_reaching_the_http_stack_is_logged_once_with_the_fix(caplog):
    client = Client()

    responses = [client.get("/ws/turbo/", **HANDSHAKE) for _ in range(3)]

    assert [r.status_code for r in responses] == [404, 404, 404]
    [warning] = turbo_warnings(caplog)
    assert warning.startswith(f"A websocket handshake for /ws/turbo/ {HTTP_HINT}")
    assert "'daphne' first in INSTALLED_APPS" in warning
    assert "turbo.routing.websocket_application()" in warning


@pytest.mark.django_db
@override_settings(TURBO_WEBSOCKET_PATH="live/")
async def test_the_async_stack_reports_it_too_at_the_configured_path(caplog, async_client):
    await async_client.get("/ws/turbo/", **HANDSHAKE)
    assert turbo_warnings(caplog) == []

    await async_client.get("/live/", **HANDSHAKE)

    [warning] = turbo_warnings(caplog)
    assert warning.startswith(f"A websocket handshake for /live/ {HTTP_HINT}")


@pytest.mark.django_db
def test_other_requests_for_the_path_are_not_handshakes(caplog):
    Client().get("/ws/turbo/")

    assert turbo_warnings(caplog) == []


class TurboRoutedServer(ServerProcess):
    """daphne serving the websocket application of turbo.routing."""

    @property
    def command(self) -> list[str]:
        return [*super().command[:-1], "tests.asgi:turbo_routed"]


@pytest.mark.django_db(transaction=True)
async def test_daphne_logs_a_path_with_no_route_once_without_a_traceback():
    server = TurboRoutedServer({"BACKEND": "channels.layers.InMemoryChannelLayer"})
    server.start()
    try:
        for _ in range(3):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(
                    f"ws://127.0.0.1:{server.port}/ws/nowhere/", origin=server.origin
                )
            assert refused.value.response.status_code == 403
        # The turbo route still works.
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/ws/turbo/", origin=server.origin
        ):
            pass
        output = server.output()
    finally:
        server.close()

    assert output.count(NO_ROUTE_HINT) == 1, output
    assert "the turbo route is /ws/turbo/" in output
    assert "Traceback" not in output
    assert "No route found" not in output
