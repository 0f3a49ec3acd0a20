"""turbo-django's response shortcuts, as its tutorial and samples write them."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.utils.html import format_html

import turbo
from tests.testapp.streams import LobbyStream
from turbo import fragments, remove_frame, render_frame, render_frame_string
from turbo.shortcuts import Frame, FrameContent
from turbo.testing import capture_broadcasts

MESSAGE = {"message": {"pk": 1, "text": "t", "created_at": "c"}}


def test_render_frame_then_an_action_then_response_as_their_samples_write_it():
    request = RequestFactory().post("/")
    frame = render_frame(request, "chat/components/message.html", MESSAGE)
    assert isinstance(frame, FrameContent)

    appended = frame.append(id="reminders")
    response = appended.response

    assert isinstance(appended, Frame)
    assert isinstance(response, turbo.TurboStreamResponse)
    assert response["Content-Type"] == "text/vnd.turbo-stream.html; charset=utf-8"
    assert response.content.decode() == str(
        fragments.append("chat/components/message.html", MESSAGE, id="reminders")
    )
    assert appended.rendered_template == str(appended) == response.content.decode()


def test_each_action_of_the_content_is_the_fragment_of_that_action():
    content = render_frame(None, "chat/components/message.html", MESSAGE)
    for action in ("append", "prepend", "replace", "update", "before", "after"):
        frame = getattr(content, action)(selector="#reminders")
        expected = fragments.fragment(
            action, "chat/components/message.html", MESSAGE, selector="#reminders"
        )
        assert (frame.action, frame.targets, str(frame)) == (action, "#reminders", str(expected))
    assert str(content.replace(id="r", method="morph")).startswith(
        '<turbo-stream action="replace" target="r" method="morph">'
    )


def test_render_frame_renders_with_the_request():
    request = RequestFactory().get("/")
    frame = render_frame(request, "chat/csrf_form.html", {}).replace(id="form")
    assert "csrfmiddlewaretoken" in frame.response.content.decode()
    assert frame.request is request


def test_render_frame_string_escapes_text_unless_it_is_marked_safe():
    assert str(render_frame_string("<b>3</b>").update(id="count")) == (
        '<turbo-stream action="update" target="count"><template>&lt;b&gt;3&lt;/b&gt;</template>'
        "</turbo-stream>"
    )
    safe = render_frame_string(format_html("<b>{}</b>", "<3")).update(id="count")
    assert "<template><b>&lt;3</b></template>" in str(safe)


def test_remove_frame_and_the_contents_remove():
    expected = str(fragments.remove(selector="#reminders li"))
    assert remove_frame(selector="#reminders li").response.content.decode() == expected
    assert str(render_frame_string("x").remove(selector="#reminders li")) == expected


@pytest.mark.parametrize(
    ("call", "written"),
    [
        (lambda: remove_frame("#x"), "remove_frame(selector='#x')"),
        (lambda: render_frame_string("x").append("#list"), "append(selector='#list')"),
        (lambda: render_frame_string("x").update(None, "count"), "update(id='count')"),
    ],
)
def test_a_positional_selector_raises_saying_what_to_write(call, written):
    with pytest.raises(
        TypeError, match=rf": write {written}\.$".replace("(", r"\(").replace(")", r"\)")
    ):
        call()


def test_a_target_is_checked_as_the_fragment_functions_check_it():
    with pytest.raises(TypeError, match="exactly one of id= or selector="):
        render_frame_string("x").append()


def test_frames_join_responses_and_broadcasts_as_fragments_do():
    frame = render_frame_string("hi").append(id="messages")
    response = turbo.TurboStreamResponse(frame, remove_frame(id="draft"))
    assert response.content.decode() == str(frame) + str(fragments.remove(id="draft"))

    with capture_broadcasts() as broadcasts:
        frame.stream_to(LobbyStream())
    assert [(b.stream, b.html) for b in broadcasts] == [("testapp:LobbyStream()", str(frame))]


def test_a_frame_rendered_with_the_request_is_not_broadcast():
    frame = render_frame(RequestFactory().get("/"), "chat/csrf_form.html", {}).replace(id="f")
    with capture_broadcasts() as broadcasts, pytest.raises(TypeError, match="takes no request="):
        frame.stream_to(LobbyStream())
    assert broadcasts == []


def test_turbo_djangos_top_level_names():
    assert (turbo.APPEND, turbo.PREPEND, turbo.REPLACE, turbo.UPDATE) == (
        "append",
        "prepend",
        "replace",
        "update",
    )
    assert (turbo.REMOVE, turbo.BEFORE, turbo.AFTER) == ("remove", "before", "after")
    assert turbo.stream_registry is turbo.registry
    from turbo import APPEND

    assert fragments.fragment(APPEND, text="x", id="m").action == "append"


@pytest.mark.parametrize("name", ["TurboRender", "autodiscover", "send_broadcast"])
def test_their_names_we_lack_raise_saying_what_to_write(name):
    with pytest.raises(AttributeError, match=rf"turbo.{name} is turbo-django's; .* Write "):
        getattr(turbo, name)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        turbo.nope  # noqa: B018
