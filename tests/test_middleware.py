from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpResponse
from django.template import Context, Template
from django.test import AsyncRequestFactory, RequestFactory, override_settings

from tests.live import BUDGET_MARGIN, POSITION, SilentRedis
from tests.testapp.streams import LobbyStream
from turbo.history import UNKNOWN
from turbo.middleware import MAX_REQUEST_ID_LENGTH, TurboDetails, TurboMiddleware
from turbo.refreshes import current_request_id, use_request_id

REQUEST_ID = "0b3f5b1e-5d3a-4a6e-9a51-2f0c3c1d9e7a"

TURBO_HEADERS = {
    "X-Turbo-Request-Id": REQUEST_ID,
    "Turbo-Frame": "message-form",
    "Accept": "text/vnd.turbo-stream.html, text/html, application/xhtml+xml",
}


def test_details_of_a_turbo_request():
    turbo = TurboDetails(RequestFactory().post("/", headers=TURBO_HEADERS))
    assert bool(turbo) is True
    assert turbo.request_id == REQUEST_ID
    assert turbo.frame == "message-form"
    assert turbo.prefetch is False
    assert turbo.accepts_stream is True


def test_details_of_a_prefetch():
    request = RequestFactory().get("/", headers={"X-Sec-Purpose": "prefetch"})
    assert TurboDetails(request).prefetch is True


def test_details_of_a_plain_request():
    turbo = TurboDetails(RequestFactory().get("/", headers={"Accept": "*/*"}))
    assert bool(turbo) is False
    assert turbo.request_id is None
    assert turbo.frame is None
    assert turbo.prefetch is False
    assert turbo.accepts_stream is False


@pytest.mark.parametrize(
    "request_id", ["", "x" * (MAX_REQUEST_ID_LENGTH + 1)], ids=["empty", "too-long"]
)
def test_an_empty_or_over_long_request_id_is_ignored(request_id):
    turbo = TurboDetails(RequestFactory().get("/", headers={"X-Turbo-Request-Id": request_id}))
    assert turbo.request_id is None
    assert not turbo


def test_the_longest_request_id_is_kept():
    longest = "x" * MAX_REQUEST_ID_LENGTH
    request = RequestFactory().get("/", headers={"X-Turbo-Request-Id": longest})
    assert TurboDetails(request).request_id == longest


def test_sync_middleware_sets_request_turbo_and_the_request_id_for_the_view():
    seen = {}

    def view(request):
        seen.update(turbo=request.turbo, request_id=current_request_id())
        return HttpResponse("ok")

    middleware = TurboMiddleware(view)
    assert not iscoroutinefunction(middleware)
    response = middleware(RequestFactory().post("/", headers=TURBO_HEADERS))

    assert response.content == b"ok"
    assert isinstance(seen["turbo"], TurboDetails)
    assert seen["turbo"].frame == "message-form"
    assert seen["request_id"] == REQUEST_ID
    assert current_request_id() is None


async def test_async_middleware_sets_request_turbo_and_the_request_id_for_the_view():
    seen = {}

    async def view(request):
        seen.update(turbo=request.turbo, request_id=current_request_id())
        return HttpResponse("ok")

    middleware = TurboMiddleware(view)
    assert iscoroutinefunction(middleware)
    response = await middleware(AsyncRequestFactory().post("/", headers=TURBO_HEADERS))

    assert response.content == b"ok"
    assert seen["turbo"].request_id == REQUEST_ID
    assert seen["request_id"] == REQUEST_ID
    assert current_request_id() is None


def test_the_request_id_outside_the_request_is_restored_after_it():
    seen = []

    def view(request):
        seen.append(current_request_id())
        return HttpResponse()

    with use_request_id("outer"):
        TurboMiddleware(view)(RequestFactory().get("/", headers=TURBO_HEADERS))
        TurboMiddleware(view)(RequestFactory().get("/"))
        assert current_request_id() == "outer"
    assert seen == [REQUEST_ID, None]


def test_the_request_id_is_reset_when_the_view_raises():
    def view(request):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        TurboMiddleware(view)(RequestFactory().get("/", headers=TURBO_HEADERS))
    assert current_request_id() is None


async def test_an_async_page_view_waits_on_a_redis_that_never_answers_no_longer_than_the_budget():
    """Issue 20, item 7: the async middleware's read of the position gives up too."""
    page = Template("{% load turbo_streams %}{% turbo_subscribe stream %}")

    async def view(request):
        return HttpResponse(page.render(Context({"stream": LobbyStream()})))

    with SilentRedis() as silent:
        layer = {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [silent.url]},
        }
        with override_settings(CHANNEL_LAYERS={"default": layer}, TURBO_REDIS_TIMEOUT=0.2):
            # Within the budget and a margin, or it raises TimeoutError.
            response = await asyncio.wait_for(
                TurboMiddleware(view)(AsyncRequestFactory().get("/")), 0.2 + BUDGET_MARGIN
            )

    assert POSITION.search(response.content.decode()).group(1) == str(UNKNOWN)
