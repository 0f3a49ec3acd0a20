"""Each private upstream internal that :mod:`turbo.compat` relies on is still there."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

import pytest
from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.layers import InMemoryChannelLayer
from channels.sessions import InstanceSessionWrapper
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import connection, connections, transaction
from django.http import HttpResponse
from django.test import TestCase

from tests.conftest import layer_config
from turbo import compat

# Django


@pytest.mark.django_db(transaction=True)
def test_django_connection_savepoint_ids_lists_the_open_savepoints():
    shape = (
        "Django's BaseDatabaseWrapper.savepoint_ids changed shape: turbo.compat."
        "enclosing_savepoints (hence turbo.hooks' coalescing across savepoints) relies on it "
        "listing each nested atomic()'s savepoint id, and None for atomic(savepoint=False)"
    )
    with transaction.atomic():
        assert connection.savepoint_ids == [], shape
        assert compat.enclosing_savepoints(connection) == set()
        with transaction.atomic():
            (sid,) = connection.savepoint_ids
            assert isinstance(sid, str), shape
            with transaction.atomic(savepoint=False):
                assert connection.savepoint_ids == [sid, None], shape
                assert compat.enclosing_savepoints(connection) == {sid}
                with transaction.atomic():
                    inner = connection.savepoint_ids[-1]
                    assert compat.enclosing_savepoints(connection) == {sid, inner}
            assert compat.enclosing_savepoints(connection) == {sid}
        assert compat.enclosing_savepoints(connection) == set()


@pytest.mark.django_db(transaction=True)
def test_connections_in_atomic_blocks_are_those_connections_all_finds():
    def public() -> list[Any]:
        return [c for c in connections.all(initialized_only=True) if c.in_atomic_block]

    assert compat.connections_in_atomic_blocks() == public() == []
    with transaction.atomic():
        assert compat.connections_in_atomic_blocks() == public() == [connection]
    assert compat.connections_in_atomic_blocks() == public() == []


@pytest.mark.django_db(transaction=True)
def test_commit_callbacks_is_a_new_list_once_a_transaction_ends():
    with transaction.atomic():
        callbacks = compat.commit_callbacks(connection)
        transaction.on_commit(lambda: None)
        assert compat.commit_callbacks(connection) is callbacks, (
            "Django no longer keeps a transaction's commit callbacks in one list, "
            "connection.run_on_commit: turbo.transactions can no longer tell a transaction ended"
        )
    assert compat.commit_callbacks(connection) is not callbacks, (
        "Django reuses connection.run_on_commit across transactions: "
        "turbo.transactions would take a new transaction for the one that ended"
    )


@pytest.mark.django_db(transaction=True)
def test_committing_functions_finds_the_functions_a_savepoint_rollback_keeps():
    def kept() -> None:
        pass

    def dropped() -> None:
        pass

    with transaction.atomic():
        transaction.on_commit(kept)
        try:
            with transaction.atomic():
                transaction.on_commit(dropped)
                raise ValueError
        except ValueError:
            pass
        functions = compat.committing_functions(compat.commit_callbacks(connection))
    assert functions == {kept}, (
        "Django's connection.run_on_commit no longer holds (savepoint ids, function, robust) "
        "per callback, dropping a rolled-back savepoint's: turbo.transactions cannot tell "
        "which deferred broadcasts were rolled back"
    )


@pytest.mark.django_db(transaction=True)
def test_on_commit_outside_savepoints_survives_a_savepoint_rollback():
    ran = []
    with transaction.atomic():
        try:
            with transaction.atomic():
                compat.on_commit_outside_savepoints(
                    connection, lambda: ran.append("outside"), robust=True
                )
                transaction.on_commit(lambda: ran.append("inside"))
                raise ValueError
        except ValueError:
            pass
        assert ran == []
    assert ran == ["outside"], (
        "Django no longer ties a commit callback to the savepoints in "
        "connection.savepoint_ids when it is registered: a batch's closer, registered "
        "outside them, was dropped by a savepoint rollback or never ran"
    )


class OpenedByTestCaseTests(TestCase):
    def test_testcase_marks_its_blocks_and_only_those(self):
        outer = connection.atomic_blocks
        assert outer, "TestCase no longer wraps each test in an atomic block"
        assert all(hasattr(block, "_from_testcase") for block in outer), (
            "Django's TestCase no longer marks its atomic blocks (Atomic._from_testcase): "
            "turbo.testing takes every block for TestCase's and runs commit callbacks early"
        )
        assert all(compat.opened_by_testcase(block) for block in outer)
        with transaction.atomic():
            assert not compat.opened_by_testcase(connection.atomic_blocks[-1]), (
                "Django marks atomic blocks a test opens as TestCase's (Atomic._from_testcase)"
            )


def test_a_response_calls_what_call_after_response_adds_when_it_is_closed():
    called = []
    response = HttpResponse("sent")
    compat.call_after_response(response, lambda: called.append("after"))
    assert called == []
    response.close()
    assert called == ["after"], (
        "Django's HttpResponseBase.close() no longer calls _resource_closers: "
        "turbo.middleware would tell a session's sockets to reconnect before the new cookie"
    )


# Channels


async def pass_on(message: dict[str, Any]) -> None:
    """The ``send`` a session middleware wraps."""


def test_channels_session_wrapper_keeps_what_frame_sender_looks_past():
    wrapper = InstanceSessionWrapper({"cookies": {}}, pass_on)

    assert getattr(wrapper.send, "__func__", None) is InstanceSessionWrapper.send, (
        "Channels: SessionMiddleware's send is no longer InstanceSessionWrapper.send, bound "
        "to the wrapper, which turbo.compat.frame_sender recognises it by"
    )
    assert wrapper.real_send is pass_on, (
        "Channels: InstanceSessionWrapper no longer keeps the send it wraps in real_send"
    )
    assert "websocket.send" not in wrapper.save_message_types, (
        "Channels: InstanceSessionWrapper.save_message_types no longer lists the events it "
        "saves the session on, or now saves it on every websocket.send"
    )
    assert compat.frame_sender(wrapper.send) is pass_on
    assert compat.frame_sender(wrapper.send, events="websocket.") is pass_on


def test_frame_sender_keeps_a_session_wrapper_that_acts_on_websocket_events():
    wrapper = InstanceSessionWrapper({"cookies": {}}, pass_on)
    wrapper.save_message_types = ["http.response.start", "websocket.accept"]

    assert compat.frame_sender(wrapper.send) is pass_on
    assert compat.frame_sender(wrapper.send, events="websocket.") == wrapper.send


class Recording(AsyncConsumer):  # type: ignore[misc]
    """A consumer that notes the events it gets, and stops at ``stop``."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def note(self, message: dict[str, Any]) -> None:
        self.events.append(message)

    async def stop(self, message: dict[str, Any]) -> None:
        raise StopConsumer


def events(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


async def test_channels_consumer_call_sets_up_what_serve_without_channel_does(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    served, bare = Recording(), Recording()
    stream = ({"type": "note"}, {"type": "stop"})

    await AsyncConsumer.__call__(served, {"type": "websocket"}, events(*stream), pass_on)
    await compat.serve_without_channel(bare, {"type": "websocket"}, events(*stream), pass_on)

    assert set(vars(served)) - {"channel_name", "channel_receive"} == set(vars(bare)), (
        "Channels: AsyncConsumer.__call__ now sets up more than scope, channel_layer, "
        "base_send and a channel, which turbo.compat.serve_without_channel repeats"
    )
    assert served.events == bare.events == [{"type": "note"}], (
        "Channels: await_many_dispatch no longer hands each event to dispatch until a "
        "handler raises StopConsumer"
    )


async def test_channels_names_handlers_as_dispatch_to_handler_expects():
    consumer = Recording()

    await compat.dispatch_to_handler(consumer, {"type": "note"})

    assert consumer.events == [{"type": "note"}], (
        "Channels: get_handler_name() no longer names a handler by the message type"
    )
    with pytest.raises(ValueError, match="underscore"):
        await compat.dispatch_to_handler(consumer, {"type": "_note"})
    with pytest.raises(ValueError, match="No handler"):
        await compat.dispatch_to_handler(consumer, {"type": "unknown"})


# channels_redis


def test_pubsub_layer_config_is_what_the_layer_was_made_with():
    hosts = [{"address": "redis://127.0.0.1:6379"}]
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix="compat")
    config = compat.pubsub_layer_config(layer)
    assert (config.get("hosts"), config.get("prefix")) == (hosts, "compat"), (
        "channels_redis's RedisPubSubChannelLayer no longer keeps its keyword arguments "
        "in _kwargs: turbo.history.layers cannot find the Redis the history lives in"
    )


def test_the_core_redis_layer_tries_a_list_of_compiled_channel_capacities_in_order():
    layer = RedisChannelLayer(capacity=100, channel_capacity={"mine.*": 7})

    compat.default_channel_capacity(layer, "*!turbo-hub.*", 10_000)
    compat.default_channel_capacity(layer, "mine.*", 10_000)

    assert isinstance(layer.channel_capacity, list), (
        "channels_redis: RedisChannelLayer.channel_capacity is no longer the list of "
        "(compiled pattern, capacity) pairs that turbo.compat.default_channel_capacity appends to"
    )
    assert layer.get_capacity("specific.abc!turbo-hub.def") == 10_000, (
        "channels_redis: RedisChannelLayer.get_capacity() no longer reads a pair appended "
        "to RedisChannelLayer.channel_capacity"
    )
    assert layer.get_capacity("mine.abc") == 7, (
        "channels_redis: the capacity CONFIG gives a channel no longer comes first"
    )
    assert layer.get_capacity("specific.abc") == 100


URL = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("hosts", "waits"),
    [
        ([{"address": URL, "socket_timeout": 5}, URL], 2),
        ([{"address": URL, "socket_timeout": 1}], 0.5),
        ([f"{URL}?socket_timeout=3"], 1),
        ([{"address": URL, "socket_timeout": 60}], 5),
        ([{"address": URL, "socket_timeout": None}], 5),
        ([{"sentinels": [("127.0.0.1", 26379)], "master_name": "m", "socket_timeout": 4}], 2),
    ],
)
def test_the_core_layers_wait_in_redis_is_bounded_by_half_its_hosts_read_timeout(hosts, waits):
    layer = RedisChannelLayer(hosts=hosts)

    compat.bound_blocking_receive(layer)

    assert layer.brpop_timeout == waits
    assert RedisChannelLayer.brpop_timeout == 5, "the class itself is left alone"


def test_redis_py_8_reads_with_a_timeout_the_core_layers_wait_would_outlast():
    layer = RedisChannelLayer(hosts=[URL])
    compat.bound_blocking_receive(layer)
    major = int(version("redis").split(".")[0])
    assert layer.brpop_timeout == (2 if major >= 8 else 5), (
        "redis-py's default socket_timeout is no longer what turbo.compat._read_timeout "
        "finds on a connection object of the layer's pool"
    )


def test_only_the_core_layer_is_fitted():
    layers = [InMemoryChannelLayer(), RedisPubSubChannelLayer(hosts=[URL])]
    for layer in layers:
        compat.bound_blocking_receive(layer)
    assert [vars(layer).get("brpop_timeout") for layer in layers] == [None, None]


async def test_a_fitted_core_layer_waits_past_its_read_timeout_without_failing():
    host = {"address": settings.REDIS_URL, "socket_timeout": 1}
    config = layer_config("redis-core", hosts=[host])
    layer = RedisChannelLayer(**config["CONFIG"])
    compat.bound_blocking_receive(layer)
    channel = await layer.new_channel()
    try:
        receiving = asyncio.ensure_future(layer.receive(channel))
        # What is under test is time passing: three read timeouts of silence.
        done, _ = await asyncio.wait([receiving], timeout=3)
        assert not done, (
            f"channels_redis's receive failed while idle ({receiving.exception()!r}): "
            f"RedisChannelLayer.receive_single no longer waits in Redis for the "
            f"instance's brpop_timeout, which turbo.compat.bound_blocking_receive shortens"
        )
        await layer.send(channel, {"type": "after.silence"})
        assert await asyncio.wait_for(receiving, 5) == {"type": "after.silence"}
    finally:
        await layer.flush()


# asyncio


def test_run_before_close_runs_on_the_loop_before_it_closes():
    loop = asyncio.new_event_loop()
    ran = []

    async def note() -> None:
        ran.append(loop.is_closed())

    compat.run_before_close(loop, note)
    loop.close()
    assert ran == [False], (
        "wrapping asyncio's loop.close no longer runs the coroutine before the loop "
        "closes: the history's Redis clients would outlive their loop"
    )
    assert loop.is_closed()
