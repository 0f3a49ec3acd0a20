from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core import signing as django_signing
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.template import Context, Template
from django.test import RequestFactory

import turbo
from tests.testapp.models import Board, Card, Document, Message, Room, Tag
from tests.testapp.streams import (
    BoardStream,
    CardOnBoardStream,
    CardStream,
    DocumentStream,
    LobbyStream,
    MessageStream,
    PrivateStream,
    RoomStream,
    UserStream,
)
from turbo import dom_id, fragments, signing
from turbo.testing import capture_broadcasts


def test_name_is_app_label_and_class_name():
    assert RoomStream.stream_name() == "testapp:RoomStream"
    assert UserStream.stream_name() == "testapp:UserStream"


def test_stream_name_reads_as_a_property_too_as_turbo_django_wrote_it():
    room_stream = RoomStream.for_pk(3)
    for name in (RoomStream.stream_name, room_stream.stream_name):
        assert name == "testapp:RoomStream"
        assert name() == "testapp:RoomStream"
        assert type(name()) is str
        assert f"{name}" == "testapp:RoomStream"
    rendered = Template("{{ stream.stream_name }}").render(Context({"stream": room_stream}))
    assert rendered == "testapp:RoomStream"


def test_stream_outside_an_app_needs_app_label():
    class Stray(turbo.Stream):
        pass

    with pytest.raises(ImproperlyConfigured, match="set app_label in its class Meta"):
        Stray.stream_name()

    class Labelled(turbo.Stream):
        class Meta:
            app_label = "elsewhere"

    assert Labelled.stream_name() == "elsewhere:Labelled"


def test_meta_app_name_is_turbo_djangos_app_label():
    class Named(turbo.Stream):
        class Meta:
            app_name = "elsewhere"

    class Both(turbo.Stream):
        class Meta:
            app_name = app_label = "elsewhere"

    assert Named.stream_name() == Both.stream_name().replace("Both", "Named") == "elsewhere:Named"
    assert Named._meta.app_name == Named._meta.app_label == "elsewhere"
    assert RoomStream._meta.app_name == "testapp"
    with pytest.raises(TypeError, match=r"sets app_name .* and app_label to different values"):

        class Clash(turbo.Stream):
            class Meta:
                app_name = "one"
                app_label = "two"


def test_init_args_are_identity():
    assert UserStream(3).group == UserStream(3).group
    assert UserStream(3).group != UserStream(4).group
    assert UserStream(3).group != UserStream(3, kind="mentions").group
    assert UserStream(3) == UserStream(3)
    assert len({UserStream(3), UserStream(3), UserStream(4)}) == 2


def test_arguments_are_one_identity_however_they_are_passed():
    assert PrivateStream(3) == PrivateStream(owner_id=3)
    assert PrivateStream(3).group == PrivateStream(owner_id=3).group
    assert UserStream(3).group == UserStream(3, kind="all").group == UserStream(user_id=3).group
    assert UserStream(3).identity() == ([], {"user_id": 3, "kind": "all"})
    assert str(UserStream(3)) == "testapp:UserStream(user_id=3, kind='all')"


def test_positional_only_and_star_arguments_stay_positional():
    class Path(turbo.Stream):
        class Meta:
            app_label = "testapp"

        def __init__(self, root, /, *parts, sep="/", **options):
            pass

    class Pair(turbo.Stream):
        class Meta:
            app_label = "testapp"

        def __init__(self, first, second=2):
            pass

    assert Path("a", "b", "c").identity() == (["a", "b", "c"], {"sep": "/"})
    assert Path("a", x=1).identity() == (["a"], {"sep": "/", "x": 1})
    assert (
        Pair(1).identity() == Pair(second=2, first=1).identity() == ([], {"first": 1, "second": 2})
    )
    assert Path.from_identity(*Path("a", "b", sep=".").identity()) == Path("a", "b", sep=".")


def test_an_identity_given_by_position_still_rebuilds_the_stream():
    """What tokens minted before identities were bound to the signature carry."""
    token = django_signing.dumps(
        ["testapp:PrivateStream", [3], {}], salt=signing.SALT, compress=True
    )

    assert signing.loads(token) == PrivateStream(owner_id=3)
    assert UserStream.from_identity([3], {}).group == UserStream(user_id=3, kind="all").group


def test_group_fits_channels_rules():
    from channels.layers import BaseChannelLayer

    long_stream = UserStream("x" * 500, kind="é/ü ?" * 50)
    BaseChannelLayer().require_valid_group_name(long_stream.group)
    assert len(long_stream.group) < 100


def json_round_trip(stream):
    """What a signed token does to a stream's identity."""
    args, kwargs = json.loads(json.dumps(stream.identity(), cls=DjangoJSONEncoder))
    return type(stream).from_identity(args, kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "fields"),
    [(Room, {"name": "r"}), (Document, {"title": "d"}), (Tag, {"slug": "news"})],
    ids=["int-pk", "uuid-pk", "str-pk"],
)
def test_group_survives_token_round_trip(model, fields):
    instance = model.objects.create(**fields)
    rebuilt = json_round_trip(instance.stream)
    assert rebuilt.group == instance.stream.group
    assert rebuilt.instance == instance


def test_init_args_survive_token_round_trip():
    stream = UserStream(uuid.UUID(int=5), kind="mentions")
    assert json_round_trip(stream).group == stream.group


@pytest.mark.parametrize("pk", [0, 7, 2**63, -1])
def test_a_model_streams_group_is_what_stream_computes_from_its_identity(pk):
    """ModelStream remembers groups and digests an int primary key directly (issue 19)."""
    stream = RoomStream.for_pk(pk)

    assert stream.group == turbo.Stream.group.func(stream)
    assert RoomStream.for_pk(pk).group == stream.group
    document = DocumentStream.for_pk(uuid.UUID(int=pk % 2**128))
    assert document.group == turbo.Stream.group.func(document)


def test_group_is_the_same_in_another_process():
    """Groups must not depend on hash() randomisation or anything per process."""
    pk = uuid.UUID(int=9)
    code = (
        "import django, uuid; django.setup();"
        "from tests.testapp.streams import RoomStream, DocumentStream, UserStream;"
        "from django.contrib.auth.models import User;"
        f"print(RoomStream.for_pk(7).group, DocumentStream.for_pk('{pk}').group,"
        " UserStream(7, kind='a').group, UserStream(user_id=uuid.UUID(int=9)).group,"
        " UserStream(User(pk=7)).group)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONHASHSEED": "random"}

    def groups_in_a_new_process():
        run = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return run.stdout.split()

    here = [
        RoomStream.for_pk(7).group,
        DocumentStream.for_pk(pk).group,
        UserStream(7, kind="a").group,
        UserStream(str(pk), kind="all").group,
        UserStream(User(pk=7), kind="all").group,
    ]
    assert groups_in_a_new_process() == groups_in_a_new_process() == here


@pytest.mark.django_db
def test_a_model_instance_argument_is_its_model_and_pk(django_user_model):
    user = django_user_model.objects.create_user("ann")
    stream = UserStream(user)

    assert stream.identity() == (
        [],
        {"user_id": {"turbo.model": "auth.user", "pk": user.pk}, "kind": "all"},
    )
    assert UserStream(django_user_model.objects.get(pk=user.pk)) == stream
    assert UserStream(user) != UserStream(user.pk)
    with pytest.raises(ValueError, match="no primary key yet: save it before passing it"):
        UserStream(django_user_model(username="unsaved")).group  # noqa: B018


@pytest.mark.django_db(transaction=True)
async def test_a_stream_rebuilt_from_a_token_gets_the_instance_without_a_query(django_user_model):
    user = await django_user_model.objects.acreate(username="ann", is_staff=True)
    token = signing.dumps(UserStream(user, kind="mentions"))

    # In async code, where a query would raise SynchronousOnlyOperation.
    rebuilt = signing.loads(token)

    assert rebuilt == UserStream(user, kind="mentions")
    assert isinstance(rebuilt.user_id, django_user_model)
    assert (rebuilt.user_id.pk, rebuilt.user_id == user) == (user.pk, True)
    assert await sync_to_async(lambda: rebuilt.user_id.is_staff)() is True


def test_a_token_naming_an_unknown_model_names_the_stream():
    token = django_signing.dumps(
        ["testapp:UserStream", [], {"user_id": {"turbo.model": "nope.gone", "pk": 1}}],
        salt=signing.SALT,
        compress=True,
    )
    with pytest.raises(
        signing.UnknownStream, match=r"testapp:UserStream cannot be rebuilt .* No model 'nope.gone'"
    ):
        signing.loads(token)


def test_for_pk_normalises_the_pk():
    assert RoomStream.for_pk("7").group == RoomStream.for_pk(7).group
    pk = uuid.uuid4()
    assert DocumentStream.for_pk(str(pk)).group == DocumentStream.for_pk(pk).group


@pytest.mark.django_db
def test_turbo_djangos_model_stream_constructors(django_assert_num_queries):
    room = Room.objects.create(name="r")
    expected = room.stream
    with django_assert_num_queries(0):
        built = [
            RoomStream(room.pk),
            RoomStream(str(room.pk)),
            RoomStream(room.pk, room),
            RoomStream(instance=room),
            RoomStream.from_pk(room.pk),
            RoomStream.from_instance(room),
        ]
    assert all(stream == expected for stream in built)
    assert built[3].instance is built[5].instance is room
    with django_assert_num_queries(1):
        assert built[0].instance == room


def test_a_model_stream_needs_one_instance_or_pk():
    with pytest.raises(TypeError, match=r"needs a testapp.Room instance or a primary key"):
        RoomStream()
    with pytest.raises(ValueError, match="is not the primary key of"):
        RoomStream(2, Room(pk=1, name="r"))
    with pytest.raises(TypeError, match="got two instances"):
        RoomStream(Room(pk=1), instance=Room(pk=2))


def test_non_json_init_args_are_refused():
    with pytest.raises(TypeError, match="must be JSON-serialisable"):
        UserStream(object()).group  # noqa: B018


def test_abstract_streams_cannot_be_instantiated():
    with pytest.raises(TypeError, match="ModelStream is abstract"):
        turbo.ModelStream.for_pk(1)


def test_model_stream_needs_a_model():
    with pytest.raises(
        ImproperlyConfigured, match=r"needs a model: add 'class Meta: model = \.\.\.'"
    ):

        class Orphan(turbo.ModelStream):
            pass


def test_abstract_model_stream_without_model_is_fine():
    class Base(turbo.ModelStream):
        class Meta:
            abstract = True

    assert Base._meta.abstract


@pytest.mark.django_db
def test_descriptor_gives_the_instance_stream():
    room = Room.objects.create(name="r")
    assert isinstance(room.stream, RoomStream)
    assert room.stream.instance is room
    assert room.stream.pk == room.pk
    assert Room.stream is RoomStream
    assert str(room.stream) == f"testapp:RoomStream({room.pk})"
    assert repr(room.stream) == f"<RoomStream testapp:RoomStream({room.pk})>"


def test_descriptor_on_unsaved_instance_is_a_clear_error():
    with pytest.raises(ValueError, match="Room instance has no primary key yet: save it"):
        Room(name="new").stream  # noqa: B018


@pytest.mark.django_db
def test_for_pk_loads_lazily(django_assert_num_queries):
    room = Room.objects.create(name="r")
    with django_assert_num_queries(0):
        stream = RoomStream.for_pk(room.pk)
        assert stream.group == room.stream.group
    with django_assert_num_queries(1):
        assert stream.instance == room


@pytest.mark.django_db
def test_loading_rows_costs_nothing_extra(monkeypatch):
    """No post_init receiver, and no stream object built, when rows load."""
    from django.db.models.signals import post_init

    room = Room.objects.create(name="r")
    Message.objects.bulk_create(Message(room=room, text=str(i)) for i in range(50))
    assert not post_init.has_listeners(Message)
    built = []
    original = MessageStream.__new__
    monkeypatch.setattr(
        MessageStream,
        "__new__",
        lambda cls, *a, **k: built.append(cls) or original(cls, *a, **k),
    )
    assert len(list(Message.objects.all())) == 50
    assert built == []
    Message.objects.first().stream  # noqa: B018
    assert built == [MessageStream]


def test_user_passes_test_allows_by_default():
    from django.contrib.auth.models import AnonymousUser

    assert RoomStream.for_pk(1).user_passes_test(AnonymousUser()) is True


# Declarative broadcasts (Meta.broadcasts, Meta.broadcasts_refreshes)


@pytest.fixture
def board():
    with turbo.suppress_broadcasts():
        return Board.objects.create(name="Sprint")


def card_row(card: Card) -> str:
    return f'<tr id="card_{card.pk}"><td>{card.title}</td></tr>\n'


@pytest.mark.django_db(transaction=True)
def test_a_created_instance_is_appended_to_its_collection_and_its_relation(board):
    with capture_broadcasts() as broadcasts:
        card = Card.objects.create(board=board, title="Write docs")

    assert [(b.group, b.html) for b in broadcasts] == [
        (
            CardStream.collection().group,
            '<turbo-stream action="append" target="card_list"><template>'
            f'<li id="card_{card.pk}">Write docs</li>\n</template></turbo-stream>',
        ),
        (
            board.stream.group,
            '<turbo-stream action="prepend" target="cards"><template>'
            f"{card_row(card)}</template></turbo-stream>",
        ),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_changed_instance_is_replaced_on_its_own_stream_and_its_relation(board):
    card = Card.objects.create(board=board, title="Draft")
    card.title = "Final"
    with capture_broadcasts() as broadcasts:
        card.save()

    assert [(b.group, b.html) for b in broadcasts] == [
        (
            card.stream.group,
            f'<turbo-stream action="replace" target="card_{card.pk}"><template>'
            f'<li id="card_{card.pk}">Final</li>\n</template></turbo-stream>',
        ),
        (
            board.stream.group,
            f'<turbo-stream action="replace" target="card_{card.pk}"><template>'
            f"{card_row(card)}</template></turbo-stream>",
        ),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_deleted_instance_is_removed_even_when_its_relation_went_with_it(board):
    card = Card.objects.create(board=board, title="Draft")
    card_stream, board_group = card.stream, board.stream.group
    with capture_broadcasts() as broadcasts:
        board.delete()  # cascades to the card

    removal = f'<turbo-stream action="remove" target="card_{card.pk}"></turbo-stream>'
    assert sorted((b.group, b.html) for b in broadcasts) == sorted(
        [
            (card_stream.group, removal),
            (board_group, removal),
            (board_group, '<turbo-stream action="refresh"></turbo-stream>'),
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_a_card_created_and_deleted_around_a_rolled_back_savepoint_broadcasts_nothing(board):
    """Issue 20, item 8: the append went to the collection, the remove to the card's
    own stream, and list pages kept a ghost row."""
    Tag.objects.create(slug="taken")
    with capture_broadcasts() as broadcasts, transaction.atomic():
        card = Card.objects.create(board=board, title="Ghost")
        with pytest.raises(IntegrityError), transaction.atomic():
            Tag.objects.create(slug="taken")
        card.delete()

    assert broadcasts == []


@pytest.mark.django_db(transaction=True)
def test_declared_refreshes_of_many_saves_go_out_once_with_explicit_ones():
    """Issue 20, item 18: one refresh of the collection, at commit."""
    with capture_broadcasts() as broadcasts, transaction.atomic():
        for name in ("a", "b", "c"):
            Board.objects.create(name=name)
        BoardStream.collection().refresh()
        assert broadcasts == []

    assert [(b.group, b.html) for b in broadcasts] == [
        (BoardStream.collection().group, '<turbo-stream action="refresh"></turbo-stream>')
    ]


@pytest.mark.django_db(transaction=True)
def test_declared_refreshes_go_to_the_collection_on_create_and_to_the_instance_after():
    with capture_broadcasts() as broadcasts:
        board = Board.objects.create(name="Sprint")
        board.name = "Sprint 2"
        board.save()

    assert [b.group for b in broadcasts] == [BoardStream.collection().group, board.stream.group]
    assert {b.html for b in broadcasts} == {'<turbo-stream action="refresh"></turbo-stream>'}


class CardCommentsStream(turbo.ModelStream):
    """Refreshes its cards and their boards, by relation name."""

    class Meta:
        app_label = "testapp"
        model = Card
        attribute = "comments"
        broadcasts_refreshes = "board"


@pytest.mark.django_db(transaction=True)
def test_refreshes_declared_by_relation_refresh_the_instance_and_the_related_stream(board):
    with turbo.suppress_broadcasts():
        card = Card.objects.create(board=board, title="Draft")

    with capture_broadcasts() as broadcasts:
        CardCommentsStream(card).broadcast_declared(card, "update")

    assert [b.group for b in broadcasts] == [CardCommentsStream(card).group, board.stream.group]


@pytest.mark.django_db(transaction=True)
def test_an_empty_relation_broadcasts_to_nobody(board):
    class NullableRelationStream(turbo.ModelStream):
        class Meta:
            app_label = "testapp"
            model = Card
            attribute = "nowhere"
            broadcasts = "board"

    card = Card(pk=7, title="Orphan")  # board_id is None

    with capture_broadcasts() as broadcasts:
        NullableRelationStream(card).broadcast_declared(card, "update")

    assert broadcasts == []


@pytest.mark.django_db(transaction=True)
def test_a_relation_without_a_stream_is_named():
    class MessageByRoomStream(turbo.ModelStream):
        class Meta:
            app_label = "testapp"
            model = Card
            attribute = "elsewhere"
            broadcasts = "title"

    card = Card(pk=7, board_id=1, title="Not a relation")

    with pytest.raises(ImproperlyConfigured, match=r"Card\.title must be a relation"):
        MessageByRoomStream(card).broadcast_declared(card, "update")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"broadcast": True}, "unknown option"),
        ({"broadcasts": 1}, "broadcasts must be True, False or the name of a relation"),
        ({"broadcasts_refreshes": ""}, "broadcasts_refreshes must be"),
        ({"broadcasts_inserts_by": "replace"}, "broadcasts_inserts_by must be one of"),
    ],
)
def test_bad_meta_options_are_named(meta, message):
    with pytest.raises(TypeError, match=message):
        type("BadStream", (turbo.ModelStream,), {"Meta": type("Meta", (), {"model": Card, **meta})})


def test_streams_without_declared_broadcasts_have_no_hooks_of_their_own():
    assert not RoomStream.has_hooks()
    assert CardStream.has_hooks()
    assert BoardStream.has_hooks()


def test_meta_options_are_inherited_but_not_abstract_or_app_label():
    class Base(turbo.ModelStream):
        class Meta:
            abstract = True
            app_label = "elsewhere"
            model = Card
            broadcasts = "board"

    class Concrete(Base):
        pass

    assert Concrete._meta.broadcasts == "board"
    assert Concrete._meta.model is Card
    assert not Concrete._meta.abstract
    with pytest.raises(ImproperlyConfigured, match="set app_label in its class Meta"):
        _ = Concrete._meta.app_label


def test_a_subclass_of_a_concrete_model_stream_names_its_own_model():
    """As a Django model's Meta: the model is inherited from an abstract base only."""
    with pytest.raises(
        ImproperlyConfigured,
        match=r"PinnedCardStream needs a model: .* inherits its model only from an abstract "
        r"base, as a Django model's Meta does; CardStream is not abstract\.",
    ):

        class PinnedCardStream(CardStream):
            class Meta:
                app_label = "testapp"
                attribute = "pinned"

    class OwnModelStream(CardStream):
        class Meta:
            model = Board
            attribute = "own"

    assert OwnModelStream._meta.model is Board
    assert OwnModelStream._meta.broadcasts == CardStream._meta.broadcasts  # still inherited


def test_a_model_stream_refuses_an_instance_of_another_model():
    with pytest.raises(
        TypeError, match=r"CardStream is the stream of testapp\.Card instances, not of <Board"
    ):
        CardStream(Board(pk=1))


@pytest.mark.django_db
def test_the_collection_stream_is_the_models_own():
    collection = CardStream.collection()

    assert collection.pk is None
    assert collection.group not in {CardStream.for_pk(1).group, BoardStream.collection().group}
    assert CardStream.from_identity(*collection.identity()) == collection


def test_dom_id_names_instances_by_model_and_pk():
    assert dom_id(Card(pk=3)) == "card_3"
    assert dom_id(Card(pk=3), "edit") == "edit_card_3"
    assert dom_id(Card()) == "new_card"
    assert dom_id(Card) == "new_card"


# Suppression per stream class


@pytest.mark.django_db(transaction=True)
def test_a_stream_class_suppresses_its_own_broadcasts_and_hooks_only(board):
    with capture_broadcasts() as broadcasts, CardStream.suppress_broadcasts():
        card = Card.objects.create(board=board, title="Quiet")
        CardStream(card).update(text="direct", id="x")

    # CardOnBoardStream, another stream of the same model, still broadcasts.
    assert [b.group for b in broadcasts] == [board.stream.group]


@pytest.mark.django_db(transaction=True)
def test_a_suppressed_class_stays_silent_when_its_transaction_commits_later(board):
    with capture_broadcasts() as broadcasts, transaction.atomic():  # noqa: SIM117
        # The classes' blocks exit before the commit runs the hooks.
        with CardStream.suppress_broadcasts(), CardOnBoardStream.suppress_broadcasts():
            Card.objects.create(board=board, title="Quiet")

    assert broadcasts == []


@pytest.mark.parametrize("name", ["append", "aappend", "append_later"])
def test_stream_methods_show_the_fragment_functions_parameters(name):
    method = getattr(LobbyStream(), name)

    assert list(inspect.signature(method).parameters) == ["template", "context", "options"]
    assert method.__name__ == name


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["append", "replace", "update", "append_later"])
def test_broadcasts_refuse_a_plain_str_as_html_at_the_call(name):
    stream = UserStream(1)
    action = name.removesuffix("_later")

    refused = pytest.raises(TypeError, match=re.escape(f"{action}() takes html= only as markup"))
    with capture_broadcasts() as broadcasts, transaction.atomic(), refused:
        getattr(stream, name)(html="<img src=x onerror=alert(1)>", id="x")

    assert broadcasts == []


async def test_async_broadcasts_refuse_a_plain_str_as_html():
    refused = pytest.raises(TypeError, match=re.escape("update() takes html= only as markup"))
    with capture_broadcasts() as broadcasts, refused:
        await UserStream(1).aupdate(html="<b>user text</b>", id="x")

    assert broadcasts == []


BROADCAST_ACTIONS = ["append", "prepend", "replace", "update", "before", "after"]


@pytest.mark.parametrize("name", BROADCAST_ACTIONS)
def test_broadcast_methods_refuse_a_request(name):
    request = RequestFactory().get("/")

    refused = pytest.raises(TypeError, match=re.escape(f"{name}() takes no request="))
    with capture_broadcasts() as broadcasts, refused:
        getattr(UserStream(1), name)("chat/csrf_form.html", id="form", request=request)

    assert broadcasts == []


@pytest.mark.parametrize("name", [f"a{name}" for name in BROADCAST_ACTIONS])
async def test_async_broadcast_methods_refuse_a_request(name):
    request = RequestFactory().get("/")

    refused = pytest.raises(TypeError, match=re.escape(f"{name}() takes no request="))
    with capture_broadcasts() as broadcasts, refused:
        await getattr(UserStream(1), name)("chat/csrf_form.html", id="form", request=request)

    assert broadcasts == []


async def test_broadcasting_fragments_refuses_one_built_with_a_request():
    request = RequestFactory().get("/")
    leaky = fragments.update("chat/csrf_form.html", id="form", request=request)
    stream = UserStream(1)

    with capture_broadcasts() as broadcasts:
        with pytest.raises(TypeError, match=re.escape("broadcast() takes no request=")):
            await sync_to_async(stream.broadcast)(fragments.remove(id="a"), leaky)
        with pytest.raises(TypeError, match=re.escape("abroadcast() takes no request=")):
            await stream.abroadcast(leaky)

    assert broadcasts == []


RAW = (
    '<turbo-stream action="remove" target="draft"></turbo-stream>\n'
    '  <turbo-stream action="append" targets=".list" data-x="1">'
    "<template><li>a</li><br></template></turbo-stream>"
)


def test_stream_raw_sends_the_markup_as_written():
    with capture_broadcasts() as broadcasts:
        LobbyStream().stream_raw(RAW)

    [sent] = broadcasts
    assert sent.html == RAW.replace("\n  ", "")
    removed, appended = sent.fragments
    assert (removed.action, removed.target, removed.content) == ("remove", "draft", "")
    assert (appended.action, appended.targets, appended.attributes) == (
        "append",
        ".list",
        {"data-x": "1"},
    )
    assert appended.content == "<li>a</li><br>"


async def test_astream_raw_is_its_async_twin():
    with capture_broadcasts() as broadcasts:
        await LobbyStream().astream_raw(RAW)
    assert [b.html for b in broadcasts] == [RAW.replace("\n  ", "")]


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        ("<li>hi</li>", r"<li> is outside any <turbo-stream> \(line 1, column 1\)"),
        ("hello", r"text 'hello' is outside any <turbo-stream> \(line 1, column 1\)"),
        ("", r"there is no <turbo-stream> element"),
        (
            '<turbo-stream action="remove" target="a"></turbo-stream>\n<turbo-stream action="x">',
            r"a <turbo-stream> is not closed \(line 2, column 1\)",
        ),
        ('<turbo-stream target="a"></turbo-stream>', r"a <turbo-stream> has no action"),
        ('<turbo-stream action="remove" target="a"/>', r"is self-closing"),
        ("</turbo-stream>", r"</turbo-stream> closes no <turbo-stream>"),
    ],
)
def test_stream_raw_refuses_what_is_not_turbo_stream_elements(markup, problem):
    with capture_broadcasts() as broadcasts, pytest.raises(ValueError, match=problem) as raised:
        LobbyStream().stream_raw(markup)
    assert "call an action instead: stream.update(text=..., id=...)" in str(raised.value)
    assert broadcasts == []


def test_stream_raw_takes_a_string():
    with pytest.raises(TypeError, match=r"stream_raw\(\) takes markup as a str, not bytes"):
        LobbyStream().stream_raw(b"<turbo-stream></turbo-stream>")


def test_stream_is_turbo_djangos_name_of_broadcast():
    frame = turbo.render_frame_string("3 online").update(id="count")
    with capture_broadcasts() as broadcasts:
        LobbyStream().stream(frame, fragments.remove(id="draft"))
    assert [b.html for b in broadcasts] == [str(frame) + str(fragments.remove(id="draft"))]
