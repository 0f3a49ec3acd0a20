from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder

import turbo
from tests.testapp.models import Document, Message, Room, Tag
from tests.testapp.streams import DocumentStream, MessageStream, RoomStream, UserStream


def test_name_is_app_label_and_class_name():
    assert RoomStream.stream_name() == "testapp:RoomStream"
    assert UserStream.stream_name() == "testapp:UserStream"


def test_stream_outside_an_app_needs_app_label():
    class Stray(turbo.Stream):
        pass

    with pytest.raises(ImproperlyConfigured, match="set app_label in its class Meta"):
        Stray.stream_name()

    class Labelled(turbo.Stream):
        class Meta:
            app_label = "elsewhere"

    assert Labelled.stream_name() == "elsewhere:Labelled"


def test_init_args_are_identity():
    assert UserStream(3).group == UserStream(3).group
    assert UserStream(3).group != UserStream(4).group
    assert UserStream(3).group != UserStream(3, kind="mentions").group
    assert UserStream(3) == UserStream(3)
    assert len({UserStream(3), UserStream(3), UserStream(4)}) == 2


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


def test_group_is_the_same_in_another_process():
    """Groups must not depend on hash() randomisation or anything per process."""
    pk = uuid.UUID(int=9)
    code = (
        "import django, uuid; django.setup();"
        "from tests.testapp.streams import RoomStream, DocumentStream, UserStream;"
        f"print(RoomStream.for_pk(7).group, DocumentStream.for_pk('{pk}').group,"
        " UserStream(7, kind='a').group)"
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
    ]
    assert groups_in_a_new_process() == groups_in_a_new_process() == here


def test_for_pk_normalises_the_pk():
    assert RoomStream.for_pk("7").group == RoomStream.for_pk(7).group
    pk = uuid.uuid4()
    assert DocumentStream.for_pk(str(pk)).group == DocumentStream.for_pk(pk).group


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
