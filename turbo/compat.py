"""Every use of another project's private internals, in one place.

Django, Channels and channels_redis offer no public API for a few things the
package needs. Each such use is a small function here, with a comment on why,
and a test in ``tests/test_compat.py`` that fails loudly, naming the upstream
assumption, when an upgrade breaks it. No other module reaches past a public API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

# Django


def enclosing_savepoints(connection: BaseDatabaseWrapper) -> set[str]:
    """The ids of the savepoints open on ``connection`` that can roll back on their own.

    :mod:`turbo.hooks` records them with each change, to know which rollbacks
    discard it. Django keeps them in ``connection.savepoint_ids`` (the ids
    ``atomic()`` pushes, ``None`` for ``atomic(savepoint=False)``, which cannot
    roll back alone) but offers no public way to read them.
    """
    return {sid for sid in connection.savepoint_ids if sid is not None}


# Channels


# channels_redis


# asyncio
