"""Each private upstream internal that :mod:`turbo.compat` relies on is still there."""

from __future__ import annotations

import pytest
from django.db import transaction

from turbo import compat

# Django


@pytest.mark.django_db(transaction=True)
def test_django_connection_savepoint_ids_lists_the_open_savepoints():
    connection = transaction.get_connection()
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


# Channels


# channels_redis


# asyncio
