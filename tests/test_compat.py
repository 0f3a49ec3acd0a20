"""Each private upstream internal that :mod:`turbo.compat` relies on is still there."""

from __future__ import annotations

import asyncio

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import connection, transaction
from django.test import TestCase

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


# Channels


# channels_redis


def test_pubsub_layer_config_is_what_the_layer_was_made_with():
    hosts = [{"address": "redis://127.0.0.1:6379"}]
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix="compat")
    config = compat.pubsub_layer_config(layer)
    assert (config.get("hosts"), config.get("prefix")) == (hosts, "compat"), (
        "channels_redis's RedisPubSubChannelLayer no longer keeps its keyword arguments "
        "in _kwargs: turbo.history.layers cannot find the Redis the history lives in"
    )


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
