from __future__ import annotations

import types

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

import turbo
from tests.testapp.models import Card, Document, Plain, Room, Tag
from tests.testapp.streams import (
    CardOnBoardStream,
    CardStream,
    LobbyStream,
    RoomStream,
)
from turbo.registry import StreamRegistry, registry


def make_module(name, source):
    module = types.ModuleType(name)
    exec(source, module.__dict__)
    return module


def test_autodiscovery_found_the_test_apps_streams():
    assert sorted(registry._by_name) == [
        "testapp:BoardStream",
        "testapp:CardOnBoardStream",
        "testapp:CardStream",
        "testapp:DocumentStream",
        "testapp:FaultyStream",
        "testapp:ImportedStream",
        "testapp:InboxCount",
        "testapp:LobbyStream",
        "testapp:MessageStream",
        "testapp:PrivateStream",
        "testapp:ProgressComponent",
        "testapp:RoomStream",
        "testapp:TagStream",
        "testapp:TickerComponent",
        "testapp:UserStream",
    ]
    assert registry.get("testapp:RoomStream") is RoomStream
    assert registry.for_model(Room) is RoomStream


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(
        LookupError,
        match=r"No stream named 'chat:Nope'; registered streams: testapp:BoardStream, testapp:Card",
    ):
        registry.get("chat:Nope")


def test_the_concrete_classes_a_module_defines_or_imports_are_registered():
    fresh = StreamRegistry()
    module = make_module(
        "tests.testapp.streams_extra",
        "import turbo\n"
        "from tests.testapp.streams import LobbyStream as Imported\n"
        "class Base(turbo.Stream):\n"
        "    class Meta:\n"
        "        abstract = True\n"
        "class Ticker(Base):\n"
        "    pass\n"
        "helper = 42\n",
    )
    assert [cls.__name__ for cls in fresh.discover_module(module)] == ["LobbyStream", "Ticker"]
    # An imported stream keeps the name of its own module's app.
    assert sorted(fresh._by_name) == ["testapp:LobbyStream", "testapp:Ticker"]
    assert fresh.get("testapp:LobbyStream") is LobbyStream


def test_a_stream_imported_from_outside_any_app_takes_the_importing_apps_label():
    """turbo-django's tutorial part 5 writes its streams elsewhere and imports them."""
    fresh = StreamRegistry()
    elsewhere = make_module(
        "shared_streams", "import turbo\nclass Ticker(turbo.Stream):\n    pass\n"
    )
    module = make_module("tests.testapp.streams_extra", "")
    module.Ticker = elsewhere.Ticker

    fresh.discover_module(module, "testapp")

    assert fresh.get("testapp:Ticker") is elsewhere.Ticker
    assert elsewhere.Ticker.stream_name == "testapp:Ticker"


def test_autodiscovery_registers_the_streams_an_apps_streams_py_imports():
    """tests/testapp/streams.py imports ImportedStream from tests/testapp/live_streams.py."""
    from tests.testapp.live_streams import ImportedStream

    assert registry.get("testapp:ImportedStream") is ImportedStream


def test_registering_twice_is_a_no_op():
    assert registry.register(RoomStream) is RoomStream
    assert registry.get("testapp:RoomStream") is RoomStream


def test_abstract_streams_cannot_be_registered():
    with pytest.raises(ImproperlyConfigured, match="ModelStream is abstract"):
        registry.register(turbo.ModelStream)


def test_two_model_streams_cannot_claim_one_model():
    fresh = StreamRegistry()
    fresh.register(RoomStream)

    class SecondRoomStream(turbo.ModelStream):
        class Meta:
            model = Room
            app_label = "testapp"

    with pytest.raises(
        ImproperlyConfigured,
        match=r"RoomStream and .*SecondRoomStream both claim testapp\.Room\.stream; give one",
    ):
        fresh.register(SecondRoomStream)


def test_a_model_has_several_streams_under_their_own_attributes():
    card = Card(pk=4, board_id=1, title="Docs")

    assert registry.streams_for_model(Card) == [CardStream, CardOnBoardStream]
    assert registry.for_model(Card, "board_updates") is CardOnBoardStream
    assert card.stream == CardStream.for_pk(4)
    assert card.board_updates == CardOnBoardStream.for_pk(4)
    assert card.stream.group != card.board_updates.group
    assert Card.board_updates is CardOnBoardStream


def test_another_attribute_for_a_stream_must_not_be_taken_by_the_model():
    class TitleStream(turbo.ModelStream):
        class Meta:
            model = Card
            app_label = "testapp"
            attribute = "title"

    with pytest.raises(ImproperlyConfigured, match=r"cannot add '\.title' to testapp\.Card"):
        StreamRegistry().register(TitleStream)


def test_a_model_attribute_named_stream_is_not_overwritten(monkeypatch):
    monkeypatch.setattr(Plain, "stream", "mine", raising=False)

    class PlainStream(turbo.ModelStream):
        class Meta:
            model = Plain
            app_label = "testapp"

    with pytest.raises(ImproperlyConfigured, match=r"testapp\.Plain: the model already defines"):
        StreamRegistry().register(PlainStream)
    assert Plain.stream == "mine"


def test_two_streams_with_one_name_are_refused():
    fresh = StreamRegistry()
    fresh.register(RoomStream)
    duplicate = type(
        "RoomStream",
        (turbo.Stream,),
        {"Meta": type("Meta", (), {"app_label": "testapp"})},
    )
    with pytest.raises(ImproperlyConfigured, match="Two streams are named 'testapp:RoomStream'"):
        fresh.register(duplicate)


def test_register_decorator():
    fresh_name = "testapp:DecoratedStream"

    @turbo.register
    class DecoratedStream(turbo.Stream):
        class Meta:
            app_label = "testapp"

    try:
        assert registry.get(fresh_name) is DecoratedStream
    finally:
        registry._by_name.pop(fresh_name)


@pytest.mark.django_db(transaction=True)
def test_a_stream_registered_after_ready_runs_its_hooks(register_late):
    saved = []

    class LateStream(turbo.ModelStream):
        class Meta:
            model = Plain
            app_label = "testapp"

        def on_save(self, instance, created, *args, **kwargs):
            saved.append((instance.pk, created))

    register_late(LateStream)
    plain = Plain.objects.create(name="late")
    assert saved == [(plain.pk, True)]
    assert isinstance(plain.stream, LateStream)

    registry.register(LateStream)  # again: a no-op
    apps.get_app_config("turbo").ready()  # connects again: still one receiver each
    plain.save()
    assert saved == [(plain.pk, True), (plain.pk, False)]


@pytest.fixture
def room_proxy():
    """A proxy model of Room, which has no stream with hooks: nothing listens to either."""

    class LateRoom(Room):
        class Meta:
            proxy = True
            app_label = "testapp"

    yield LateRoom
    del apps.all_models["testapp"]["lateroom"]
    apps.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_a_late_stream_reaches_the_proxies_of_its_model(register_late, room_proxy):
    """TRAPS 5: a save through a proxy sends the proxy as the sender."""
    saved = []

    class LateRoomStream(turbo.ModelStream):
        class Meta:
            model = Room
            app_label = "testapp"
            attribute = "late"

        def on_save(self, instance, created, *args, **kwargs):
            saved.append(type(instance))

    register_late(LateRoomStream)
    Room.objects.create(name="base")
    room_proxy.objects.create(name="proxy")
    assert saved == [Room, room_proxy]


def test_streams_for_models_without_hooks_connect_no_receivers():
    """Receivers would make Django load every row a cascade deletes."""
    from django.db.models.signals import post_delete

    assert not post_delete.has_listeners(Room)
    assert not post_delete.has_listeners(Tag)
    assert post_delete.has_listeners(Document)
    assert not post_delete.has_listeners(Plain)


def test_turbo_djangos_registry_methods():
    assert turbo.stream_registry is registry
    assert registry.get_stream("testapp", "RoomStream") is RoomStream
    assert registry.get_stream_names() == [c.stream_name() for c in registry.classes()]
    assert "testapp:RoomStream" in registry.get_stream_names()
    with pytest.raises(LookupError, match="No stream named 'testapp:Nope'"):
        registry.get_stream("testapp", "Nope")
    with pytest.raises(
        TypeError,
        match=r"add_stream\(\) is turbo-django's: register the class with "
        r"turbo.registry.register\(RoomStream\)",
    ):
        registry.add_stream("testapp", "RoomStream", RoomStream)
