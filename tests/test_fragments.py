from __future__ import annotations

import re

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from tests.testapp.streams import UserStream
from turbo import fragments, markup
from turbo.fragments import Fragment


@pytest.mark.parametrize("action", ["append", "prepend", "replace", "update", "before", "after"])
def test_content_actions_exact_markup(action):
    fragment = getattr(fragments, action)(html=mark_safe("<li>hi</li>"), id="messages")
    assert str(fragment) == (
        f'<turbo-stream action="{action}" target="messages">'
        "<template><li>hi</li></template></turbo-stream>"
    )


def test_remove_has_no_template():
    assert str(fragments.remove(id="message-3")) == (
        '<turbo-stream action="remove" target="message-3"></turbo-stream>'
    )


def test_selector_gives_targets():
    assert str(fragments.remove(selector=".unread > li")) == (
        '<turbo-stream action="remove" targets=".unread &gt; li"></turbo-stream>'
    )
    assert str(fragments.append(text="x", selector="#a, #b")) == (
        '<turbo-stream action="append" targets="#a, #b"><template>x</template></turbo-stream>'
    )


@pytest.mark.parametrize("action", ["replace", "update"])
def test_morph_method(action):
    fragment = getattr(fragments, action)(html=mark_safe("<p>x</p>"), id="card", method="morph")
    assert str(fragment) == (
        f'<turbo-stream action="{action}" target="card" method="morph">'
        "<template><p>x</p></template></turbo-stream>"
    )


def test_refresh_markup():
    assert str(fragments.refresh()) == '<turbo-stream action="refresh"></turbo-stream>'
    assert str(fragments.refresh(request_id="abc-1", method="morph", scroll="preserve")) == (
        '<turbo-stream action="refresh" request-id="abc-1" method="morph" scroll="preserve">'
        "</turbo-stream>"
    )


def test_text_is_escaped_html_marked_safe_is_trusted():
    assert fragments.append(text="<script>&'\"", id="x").content == (
        "&lt;script&gt;&amp;&#x27;&quot;"
    )
    assert fragments.append(html=mark_safe("<b>bold</b>"), id="x").content == "<b>bold</b>"


class NotMarkup(str):
    """A ``str`` subclass that does not say it is safe."""


CONTENT_BUILDERS = [
    fragments.append,
    fragments.prepend,
    fragments.replace,
    fragments.update,
    fragments.before,
    fragments.after,
]


@pytest.mark.parametrize("build", CONTENT_BUILDERS, ids=lambda build: build.__name__)
@pytest.mark.parametrize("html", ["<img src=x onerror=alert(1)>", NotMarkup("<b>")], ids=repr)
def test_html_refuses_a_plain_str(build, html):
    with pytest.raises(TypeError) as refused:
        build(html=html, id="x")

    assert f"{build.__name__}() takes html= only as markup marked safe" in str(refused.value)
    for remedy in ("format_html()", "mark_safe()", "text="):
        assert remedy in str(refused.value)


def test_a_custom_action_refuses_a_plain_str_as_html_too(custom_actions):
    fragments.register_action("set_title")

    with pytest.raises(TypeError, match=r"set_title\(\) takes html= only as markup"):
        fragments.fragment("set_title", html="<b>3</b>")


@pytest.mark.parametrize(
    ("html", "content"),
    [
        (mark_safe("<b>x</b>"), "<b>x</b>"),
        (format_html("<b>{}</b>", "<script>"), "<b>&lt;script&gt;</b>"),
        (render_to_string("chat/count.html", {"room": {"messages": {"count": 2}}}), "2 messages"),
        (fragments.remove(id="y"), '<turbo-stream action="remove" target="y"></turbo-stream>'),
    ],
    ids=["mark_safe", "format_html", "rendered-template", "fragment"],
)
def test_html_takes_what_is_marked_safe(html, content):
    assert fragments.update(html=html, id="x").content.strip() == content


def test_attribute_values_are_escaped():
    markup = str(fragments.update(text="x", id='a" onmouseover="alert(1)'))
    assert 'target="a&quot; onmouseover=&quot;alert(1)"' in markup
    assert str(fragments.refresh(request_id="<'>")).count("&lt;&#x27;&gt;") == 1


def test_template_content_with_context():
    fragment = fragments.append(
        "chat/components/message.html",
        {"message": {"pk": 7, "text": "<hi>", "created_at": "now"}},
        id="messages",
    )
    assert fragment.content.strip() == '<li id="message-7">now: &lt;hi&gt;</li>'


def test_template_renders_once_and_lazily(monkeypatch):
    calls = []
    monkeypatch.setattr(markup, "render_to_string", lambda *args: calls.append(args) or "<li></li>")
    fragment = fragments.append("any.html", {}, id="x")
    assert calls == []
    for _ in range(3):
        str(fragment)
    assert len(calls) == 1


def test_partials():
    """Django 6 renders "file.html#name"; Django 5.2 needs django-template-partials."""
    fragment = fragments.update("chat/partials.html#badge", {"count": 3}, id="badge")
    if django.VERSION >= (6, 0):
        assert fragment.content == '<span class="badge">3</span>'
    else:
        with pytest.raises(ImproperlyConfigured, match="django-template-partials"):
            str(fragment)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fragments.append(id="x"), "exactly one of a template, text= or html="),
        (lambda: fragments.append(text="a", html="b", id="x"), "got text=, html="),
        (lambda: fragments.append(text="a"), "exactly one of id= or selector="),
        (
            lambda: fragments.append(text="a", id="x", selector="y"),
            "exactly one of id=",
        ),
        (
            lambda: fragments.append(None, {"a": 1}, html="x", id="x"),
            "context but no template",
        ),
        (
            lambda: fragments.fragment("remove", "t.html", id="x"),
            "remove() takes no content",
        ),
        (
            lambda: fragments.fragment("explode", id="x"),
            "Unknown turbo-stream action 'explode'",
        ),
        (
            lambda: fragments.append(text="a", id="x", method="morph"),
            "only replace and update",
        ),
        (lambda: fragments.replace(text="a", id="x", method="swap"), "method='swap'"),
        (lambda: fragments.refresh(scroll="top"), "not 'top'"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        call()


def test_join_and_repr():
    parts = [fragments.remove(id="a"), fragments.remove(selector=".b")]
    assert fragments.join(parts) == str(parts[0]) + str(parts[1])
    assert repr(parts[0]) == "<Fragment remove 'a'>"
    assert isinstance(parts[1], Fragment)
    assert parts[0].__html__() == str(parts[0])


@pytest.fixture
def custom_actions(monkeypatch):
    """A registry of custom actions of the test's own."""
    monkeypatch.setattr(fragments, "_custom_actions", set())


def test_an_unregistered_action_says_how_to_register_it(custom_actions):
    with pytest.raises(ValueError, match=re.escape("register_action('set_title')")):
        fragments.fragment("set_title", text="x")


def test_registered_custom_action_markup(custom_actions):
    fragments.register_action("set_title")
    fragments.register_action("set_title")
    fragments.register_action("log-2")
    assert str(fragments.fragment("set_title", text="3 <new>")) == (
        '<turbo-stream action="set_title"><template>3 &lt;new&gt;</template></turbo-stream>'
    )
    assert str(fragments.fragment("log-2", attributes={"message": 'a"b', "data-x": "1"})) == (
        '<turbo-stream action="log-2" message="a&quot;b" data-x="1"></turbo-stream>'
    )
    assert str(fragments.fragment("log-2", selector=".a", html=mark_safe("<b>"))) == (
        '<turbo-stream action="log-2" targets=".a"><template><b></template></turbo-stream>'
    )
    fragment = fragments.fragment(
        "set_title", "chat/count.html", {"room": {"messages": {"count": 4}}}, id="t"
    )
    assert fragment.target == "t"
    assert fragment.content.strip() == "4 messages"


def test_built_in_actions_take_attributes_too():
    assert str(fragments.fragment("remove", id="a", attributes={"data-why": "gone"})) == (
        '<turbo-stream action="remove" target="a" data-why="gone"></turbo-stream>'
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("append", "'append' is a built-in turbo-stream action"),
        ("refresh", "'refresh' is a built-in turbo-stream action"),
        ("Set_title", "Invalid turbo-stream action name 'Set_title'"),
        ("1st", "Invalid turbo-stream action name '1st'"),
        ("_x", "Invalid"),
        ("set title", "Invalid"),
        ('x"', "Invalid"),
        ("", "Invalid"),
    ],
)
def test_register_action_refuses_bad_names(custom_actions, name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fragments.register_action(name)
    assert fragments._custom_actions == set()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "a", "selector": ".a"}, "set_title() takes at most one of id= or selector="),
        ({"text": "a", "html": "b"}, "exactly one of a template, text= or html="),
        ({"context": {"a": 1}}, "context but no template"),
        ({"text": "a", "method": "morph"}, "only replace and update"),
        ({"attributes": {"action": "append"}}, "sets the 'action' attribute itself"),
        ({"attributes": {"target": "x"}}, "sets the 'target' attribute itself"),
        ({"attributes": {"a b": "x"}}, "'a b' is not a valid attribute name"),
        ({"attributes": {'x"': "x"}}, "not a valid attribute name"),
    ],
)
def test_custom_action_bad_arguments(custom_actions, kwargs, message):
    fragments.register_action("set_title")
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        fragments.fragment("set_title", **kwargs)


def test_a_custom_action_is_broadcast(custom_actions, subscribe):
    fragments.register_action("set_title")
    stream = UserStream("custom-action")
    page = subscribe(stream)
    stream.broadcast(fragments.fragment("set_title", text="3 new"))
    assert page.receive_html() == (
        '<turbo-stream action="set_title"><template>3 new</template></turbo-stream>'
    )
