"""Every use of another project's private internals, in one place.

Django, Channels and channels_redis offer no public API for a few things the
package needs. Each such use is a small function here, with a comment on why,
and a test in ``tests/test_compat.py`` that fails loudly, naming the upstream
assumption, when an upgrade breaks it. No other module reaches past a public API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Coroutine

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.transaction import Atomic

# Django


def enclosing_savepoints(connection: BaseDatabaseWrapper) -> set[str]:
    """The ids of the savepoints open on ``connection`` that can roll back on their own.

    :mod:`turbo.hooks` records them with each change, to know which rollbacks
    discard it. Django keeps them in ``connection.savepoint_ids`` (the ids
    ``atomic()`` pushes, ``None`` for ``atomic(savepoint=False)``, which cannot
    roll back alone) but offers no public way to read them.
    """
    return {sid for sid in connection.savepoint_ids if sid is not None}


def commit_callbacks(connection: BaseDatabaseWrapper) -> list[Any]:
    """The list of ``connection``'s commit callbacks (``on_commit``), as Django holds it now.

    Django offers no way to tell when a transaction ended or a savepoint
    rolled back; it makes a new list each time, so the list's identity tells.
    """
    return connection.run_on_commit


def committing_functions(callbacks: list[Any]) -> set[Callable[[], object]]:
    """The functions registered in ``callbacks`` (from :func:`commit_callbacks`).

    Django keeps ``(savepoint ids, function, robust)`` per callback, and drops
    those of a savepoint that rolls back: which of ours it kept tells which
    were rolled back, with no public API to ask.
    """
    return {function for _, function, _ in callbacks}


def on_commit_outside_savepoints(
    connection: BaseDatabaseWrapper, function: Callable[[], object], *, robust: bool
) -> None:
    """Register ``function`` to run when ``connection``'s transaction commits.

    Unlike ``on_commit`` inside a savepoint, no savepoint rolling back drops
    it: Django ties a callback to the savepoints open when it is registered
    (``savepoint_ids``), and has no public way to register one outside them.
    """
    savepoints, connection.savepoint_ids = connection.savepoint_ids, []
    try:
        connection.on_commit(function, robust=robust)
    finally:
        connection.savepoint_ids = savepoints


def opened_by_testcase(block: Atomic) -> bool:
    """Whether ``TestCase`` opened the atomic ``block`` around a test (or its class).

    Django marks those blocks for its own check of durable blocks, and offers
    no public way to ask. Should the mark go, every block counts as
    TestCase's: commit callbacks then run early in tests, rather than never.
    """
    return getattr(block, "_from_testcase", True)


# Channels


# channels_redis


def pubsub_layer_config(layer: Any) -> dict[str, Any]:
    """The keyword arguments a ``RedisPubSubChannelLayer`` was made with (``hosts``, ``prefix``).

    The layer is a proxy making one layer per event loop; its own ``hosts``
    and ``prefix`` are those of the running loop's layer, out of reach of
    sync code. What it was configured with is all it keeps.
    """
    config: dict[str, Any] = layer._kwargs
    return config


# asyncio


def run_before_close(
    loop: asyncio.AbstractEventLoop, make_coroutine: Callable[[], Coroutine[Any, Any, object]]
) -> None:
    """Run ``make_coroutine()`` on ``loop`` when it is closed, just before it closes.

    asyncio has no hook for a loop closing: ``loop.close`` is wrapped, as
    channels_redis does for its own connections, so that clients made on a
    loop (a test's, say) do not outlive it.
    """
    close = loop.close

    def close_after_running() -> None:
        loop.close = close  # type: ignore[method-assign]
        if not loop.is_closed():
            loop.run_until_complete(make_coroutine())
        close()

    loop.close = close_after_running  # type: ignore[method-assign]
