from __future__ import annotations

import inspect
import re

import pytest
from django.http import HttpResponseRedirect
from django.test import RequestFactory
from django.utils.safestring import mark_safe

from turbo import TurboStreamResponse, accepts_turbo_stream, fragments, markup
from turbo.http import HttpResponseSeeOther, see_other, turbo_stream


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


ACTION_CALLS = [
    ("append", ("chat/count.html", {"room": {"messages": {"count": 2}}}), {"id": "list"}),
    ("prepend", (), {"html": mark_safe("<li>x</li>"), "selector": ".lists"}),
    ("replace", (), {"html": mark_safe("<p>x</p>"), "id": "card", "method": "morph"}),
    ("update", (), {"text": "<3>", "id": "count"}),
    ("remove", (), {"id": "item"}),
    ("before", (), {"text": "x", "id": "item"}),
    ("after", (), {"text": "x", "id": "item"}),
    ("refresh", (), {"method": "morph", "scroll": "preserve"}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ACTION_CALLS, ids=[c[0] for c in ACTION_CALLS])
def test_builder_methods_are_the_fragment_functions(name, args, kwargs):
    expected = str(getattr(fragments, name)(*args, **kwargs))

    started = getattr(turbo_stream, name)(*args, **kwargs)
    chained = getattr(turbo_stream.remove(id="first"), name)(*args, **kwargs)

    assert isinstance(started, TurboStreamResponse)
    assert started["Content-Type"] == "text/vnd.turbo-stream.html; charset=utf-8"
    assert started.content.decode() == expected
    assert chained.content.decode() == str(fragments.remove(id="first")) + expected


@pytest.mark.parametrize("name", [c[0] for c in ACTION_CALLS])
def test_builder_methods_have_the_fragment_functions_signatures(name):
    def parameters(function):
        return list(inspect.signature(function).parameters.values())

    expected = parameters(getattr(fragments, name))
    assert parameters(getattr(turbo_stream, name)) == expected
    assert parameters(getattr(TurboStreamResponse(), name)) == expected
    assert parameters(turbo_stream.action) == parameters(fragments.fragment)


def test_chaining_returns_the_same_response_and_keeps_every_fragment():
    response = turbo_stream.append(text="hi", id="messages")
    assert response.update(text="", id="errors").remove(id="draft") is response
    assert response.content.decode() == (
        '<turbo-stream action="append" target="messages"><template>hi</template></turbo-stream>'
        '<turbo-stream action="update" target="errors"><template></template></turbo-stream>'
        '<turbo-stream action="remove" target="draft"></turbo-stream>'
    )


def test_each_builder_call_starts_a_new_response():
    first = turbo_stream.remove(id="a")
    second = turbo_stream.remove(id="b")
    assert first is not second
    assert first.content.decode() == str(fragments.remove(id="a"))
    assert TurboStreamResponse().content == b""


def test_add_and_response_options_with_chaining():
    response = TurboStreamResponse(status=422).add(fragments.remove(id="a")).remove(id="b")
    assert response.status_code == 422
    assert response.content.decode() == str(fragments.remove(id="a")) + str(
        fragments.remove(id="b")
    )


def test_builder_renders_templates_with_the_request(monkeypatch):
    seen = []
    monkeypatch.setattr(
        markup, "render_to_string", lambda name, context, request: seen.append(request) or ""
    )
    request = RequestFactory().post("/")
    turbo_stream.replace("chat/form.html", {}, id="form", request=request).append(
        "chat/form.html", id="x", request=request
    )
    assert seen == [request, request]


def test_a_response_goes_to_one_user_so_it_renders_with_their_request():
    response = turbo_stream.replace(
        "chat/csrf_form.html", id="form", request=RequestFactory().get("/")
    )

    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_builder_checks_arguments_like_the_fragment_functions():
    with pytest.raises(TypeError, match=re.escape("exactly one of id= or selector=")):
        turbo_stream.append(text="a")
    with pytest.raises(ValueError, match="only replace and update"):
        turbo_stream.remove(id="a").append(text="a", id="x", method="morph")


def test_responses_refuse_a_plain_str_as_html():
    with pytest.raises(TypeError, match=re.escape("append() takes html= only as markup")):
        turbo_stream.append(html="<b>user text</b>", id="x")
    with pytest.raises(TypeError, match=re.escape("update() takes html= only as markup")):
        turbo_stream.action("update", html="<b>user text</b>", id="x")


def test_builder_action_builds_registered_custom_actions(monkeypatch):
    monkeypatch.setattr(fragments, "_custom_actions", set())
    with pytest.raises(ValueError, match=re.escape("register_action('set_title')")):
        turbo_stream.action("set_title", text="3 new")
    fragments.register_action("set_title")
    assert turbo_stream.action("set_title", text="3 new").content.decode() == (
        '<turbo-stream action="set_title"><template>3 new</template></turbo-stream>'
    )
    assert turbo_stream.action("append", text="x", id="a").content.decode() == str(
        fragments.append(text="x", id="a")
    )


def test_see_other_is_a_303_redirect():
    response = see_other("/rooms/?page=2")
    assert isinstance(response, HttpResponseSeeOther)
    assert isinstance(response, HttpResponseRedirect)
    assert (response.status_code, response["Location"]) == (303, "/rooms/?page=2")


def test_see_other_resolves_like_redirect():
    class Room:
        def get_absolute_url(self):
            return "/rooms/7/"

    assert see_other(Room())["Location"] == "/rooms/7/"
    assert see_other("room", pk=3)["Location"] == "/rooms/3/"
    assert see_other("say", 4)["Location"] == "/rooms/4/say/"


def test_reading_an_action_method_on_the_class_starts_no_response():
    started = []

    class CountedResponse(TurboStreamResponse):
        def __init__(self, *args, **kwargs):
            started.append(args)
            super().__init__(*args, **kwargs)

    append = CountedResponse.append
    assert started == []

    response = append(text="hi", id="messages")
    assert isinstance(response, CountedResponse)
    assert len(started) == 1
    assert append(text="again", id="messages") is not response
