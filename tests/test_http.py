from __future__ import annotations

import pytest
from django.test import RequestFactory

from turbo import TurboStreamResponse, accepts_turbo_stream, fragments


def test_response_is_the_fragments_with_turbo_stream_content_type():
    parts = [fragments.remove(id="a"), fragments.append(text="<b>", id="list")]
    response = TurboStreamResponse(*parts)
    assert response["Content-Type"] == "text/vnd.turbo-stream.html; charset=utf-8"
    assert response.content.decode() == str(parts[0]) + str(parts[1])
    assert response.status_code == 200


def test_response_keeps_http_response_options():
    response = TurboStreamResponse(fragments.remove(id="a"), status=422, headers={"X-A": "b"})
    assert (response.status_code, response["X-A"]) == (422, "b")


def test_response_renders_templates_with_the_request():
    request = RequestFactory().get("/")
    fragment = fragments.update(
        "chat/components/message.html",
        {"message": {"pk": 1, "text": "t", "created_at": "c"}},
        id="x",
        request=request,
    )
    assert '<li id="message-1">c: t</li>' in TurboStreamResponse(fragment).content.decode()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/vnd.turbo-stream.html, text/html, application/xhtml+xml", True),
        ("text/html;q=0.9, text/vnd.turbo-stream.html;q=0.8", True),
        ("text/html, */*", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_accepts_turbo_stream(accept, expected):
    request = RequestFactory().post("/", headers={"Accept": accept} if accept else {})
    assert accepts_turbo_stream(request) is expected
