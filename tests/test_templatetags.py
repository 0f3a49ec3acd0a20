from __future__ import annotations

import re

import pytest
from channels.auth import UserLazyObject
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory, override_settings
from django.urls import set_script_prefix
from django.utils.functional import SimpleLazyObject

import turbo
from tests.testapp.models import Card, Plain, Room
from tests.testapp.streams import (
    CardOnBoardStream,
    CardStream,
    LobbyStream,
    RoomStream,
    UserStream,
)
from turbo import signing
from turbo.templatetags.turbo_streams import CLIENT_SCRIPT, TURBO_SCRIPT, resolve_stream

ELEMENT = re.compile(
    r'<turbo-channels-stream-source url="(?P<url>[^"]*)" stream="(?P<stream>[^"]*)" '
    r'token="(?P<token>[^"]*)"(?: position="(?P<position>[^"]*)")?>'
    r"</turbo-channels-stream-source>"
)


def render(source: str, **context: object) -> str:
    return Template("{% load turbo_streams %}" + source).render(Context(context))


#: What follows the elements: the client, for a page without {% turbo_head %}.
CLIENT = '<script type="module" src="/static/turbo/turbo_streams.js"></script>'


def subscriptions(html: str) -> list[dict[str, str]]:
    """The elements of one {% turbo_subscribe %}, which renders nothing else but the client."""
    assert html.endswith(CLIENT)
    elements = html.removesuffix(CLIENT)
    found = [match.groupdict() for match in ELEMENT.finditer(elements)]
    assert "".join(match.group(0) for match in ELEMENT.finditer(elements)) == elements
    return found


@pytest.mark.parametrize(
    ("source", "context", "stream"),
    [
        ("room", {"room": Room(pk=3, name="lobby")}, RoomStream.for_pk(3)),
        ("stream", {"stream": UserStream(5, kind="mentions")}, UserStream(5, kind="mentions")),
        ('"testapp:LobbyStream"', {}, LobbyStream()),
        ("name", {"name": "testapp:LobbyStream"}, LobbyStream()),
        ("cls", {"cls": LobbyStream}, LobbyStream()),
        ("cards", {"cards": Card.objects.all()}, CardStream.collection()),
        ("card.board_updates", {"card": Card(pk=2)}, CardOnBoardStream.for_pk(2)),
    ],
    ids=[
        "instance",
        "stream",
        "name",
        "name-variable",
        "stream-class",
        "queryset",
        "other-attribute",
    ],
)
def test_turbo_subscribe_renders_a_signed_element(source, context, stream):
    [element] = subscriptions(render(f"{{% turbo_subscribe {source} %}}", **context))

    assert element["url"] == "/ws/turbo/"
    assert element["stream"] == stream.group
    assert signing.loads(element["token"]) == stream


def test_turbo_subscribe_takes_several_streams():
    html = render(
        '{% turbo_subscribe room "testapp:LobbyStream" user_stream %}',
        room=Room(pk=1),
        user_stream=UserStream(2),
    )

    streams = [signing.loads(e["token"]) for e in subscriptions(html)]
    assert streams == [RoomStream.for_pk(1), LobbyStream(), UserStream(2)]


@pytest.fixture
def account_stream(register_late):
    """A ModelStream of the user model, ``user.stream``."""

    class AccountStream(turbo.ModelStream):
        class Meta:
            model = User
            app_label = "testapp"

    return register_late(AccountStream)


def channels_user(user):
    """``scope["user"]`` as Channels' AuthMiddleware leaves it."""
    lazy = UserLazyObject()
    lazy._wrapped = user
    return lazy


@pytest.mark.parametrize("wrap", [lambda u: SimpleLazyObject(lambda: u), channels_user])
@pytest.mark.parametrize("source", ["request.user", "request.user.stream"])
def test_turbo_subscribe_takes_request_user(account_stream, wrap, source):
    """``request.user`` is a lazy object standing for the user: it means the user."""
    request = RequestFactory().get("/")
    request.user = wrap(User(pk=7, username="ada"))

    [element] = subscriptions(render(f"{{% turbo_subscribe {source} %}}", request=request))

    assert signing.loads(element["token"]) == account_stream.for_pk(7)


@override_settings(TURBO_WEBSOCKET_PATH="live/")
def test_the_element_points_at_the_websocket_path_under_the_script_prefix():
    set_script_prefix("/app/")
    try:
        [element] = subscriptions(render("{% turbo_subscribe 'testapp:LobbyStream' %}"))
    finally:
        set_script_prefix("/")

    assert element["url"] == "/app/live/"


@pytest.mark.parametrize(
    ("source", "context", "message"),
    [
        ("", {}, "needs at least one stream"),
        ('"testapp:Nope"', {}, "No stream named 'testapp:Nope'; registered streams: "),
        ('"testapp:UserStream"', {}, "testapp:UserStream needs arguments"),
        ("plain", {"plain": Plain(pk=1)}, "Plain has no stream"),
        ("n", {"n": 4}, "not 4"),
        ("missing", {}, "an empty value: is a context variable missing?"),
    ],
    ids=["nothing", "unknown-name", "needs-arguments", "model-without-stream", "int", "missing"],
)
def test_turbo_subscribe_explains_what_it_cannot_subscribe_to(source, context, message):
    with pytest.raises(TemplateSyntaxError, match=re.escape(message)):
        render(f"{{% turbo_subscribe {source} %}}", **context)


def test_an_unknown_name_lists_the_registered_streams():
    with pytest.raises(TemplateSyntaxError) as caught:
        render('{% turbo_subscribe "chat:Room" %}')

    assert "testapp:LobbyStream" in str(caught.value)
    assert "testapp:RoomStream" in str(caught.value)


def test_turbo_head_loads_turbo_then_the_client():
    assert render("{% turbo_head %}") == (
        '<script type="module" src="/static/turbo/vendor/turbo.es2017-esm.js"></script>\n'
        '<script type="module" src="/static/turbo/turbo_streams.js"></script>'
    )


def test_turbo_head_can_leave_turbo_to_the_pages_own_bundle():
    assert render("{% turbo_head turbo=False %}") == (
        '<script type="module" src="/static/turbo/turbo_streams.js"></script>'
    )


@pytest.mark.parametrize("path", [TURBO_SCRIPT, CLIENT_SCRIPT])
def test_the_scripts_turbo_head_loads_are_static_files_of_the_package(path):
    assert finders.find(path), f"{path} is missing: run `npm ci && npm run build`"


def test_turbo_refreshes_with_emits_turbos_meta_tags():
    assert render('{% turbo_refreshes_with method="morph" scroll="preserve" %}') == (
        '<meta name="turbo-refresh-method" content="morph">\n'
        '<meta name="turbo-refresh-scroll" content="preserve">'
    )
    assert render("{% turbo_refreshes_with %}") == (
        '<meta name="turbo-refresh-method" content="replace">\n'
        '<meta name="turbo-refresh-scroll" content="reset">'
    )


def test_turbo_refreshes_with_refuses_what_turbo_would_ignore():
    with pytest.raises(ValueError, match="refresh scroll must be one of"):
        render('{% turbo_refreshes_with scroll="top" %}')


def test_the_dom_id_filter_names_an_instances_element():
    assert render('{{ card|dom_id }} {{ card|dom_id:"edit" }}', card=Card(pk=9)) == (
        "card_9 edit_card_9"
    )


def test_a_model_class_means_its_collection_where_templates_do_not_call_it():
    assert resolve_stream(Card) == CardStream.collection()
