"""Every use of another project's private internals, in one place.

Django, Channels and channels_redis offer no public API for a few things the
package needs. Each such use is a small function here, with a comment on why,
and a test in ``tests/test_compat.py`` that fails loudly, naming the upstream
assumption, when an upgrade breaks it. No other module reaches past a public API.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import re
import weakref
from typing import TYPE_CHECKING, Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.sessions import InstanceSessionWrapper
from django.db import connections

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Coroutine

    from channels.consumer import AsyncConsumer
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.transaction import Atomic
    from django.http import HttpResponseBase

# Django


def enclosing_savepoints(connection: BaseDatabaseWrapper) -> set[str]:
    """The ids of the savepoints open on ``connection`` that can roll back on their own.

    :mod:`turbo.hooks` records them with each change, to know which rollbacks
    discard it. Django keeps them in ``connection.savepoint_ids`` (the ids
    ``atomic()`` pushes, ``None`` for ``atomic(savepoint=False)``, which cannot
    roll back alone) but offers no public way to read them.
    """
    return {sid for sid in connection.savepoint_ids if sid is not None}


def connections_in_atomic_blocks() -> list[BaseDatabaseWrapper]:
    """This thread's database connections that are in an atomic block, as ``connections.all()``
    would find them among those opened (``initialized_only=True``).

    Every broadcast asks, and the public way looks each alias up twice in
    asgiref's ``Local``: this reads the thread's connections once per alias.
    """
    opened = connections._connections  # type: ignore[attr-defined]
    found = []
    for alias in connections.settings:
        connection = getattr(opened, alias, None)
        if connection is not None and connection.in_atomic_block:
            found.append(connection)
    return found


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


def call_after_response(response: HttpResponseBase, function: Callable[[], object]) -> None:
    """Have ``function`` called once ``response`` is sent, when the handler closes it.

    Django's WSGI and ASGI handlers call ``response.close()`` after its last
    chunk, which calls the response's ``_resource_closers``; there is no
    public way to add one, and ``request_finished`` does not say which
    request finished.
    """
    response._resource_closers.append(function)  # type: ignore[attr-defined]


# Channels


def frame_sender(send: Any, *, events: str = "websocket.send") -> Any:
    """The callable a ``websocket.send`` event can go to, past pass-through wrappers.

    Channels' ``SessionMiddleware`` (in ``AuthMiddlewareStack``) wraps ``send``
    to save the session on the event types it lists, ``http.response.start``
    only; any other event it inspects (two lookups through the session's lazy
    proxy, a tenth of a delivery's cost) and passes on untouched. Message
    frames skip that wrapper, and only it: any other middleware's wrapper sees
    every frame, as does a session wrapper that acts on ``websocket.send``.
    With ``events="websocket."``, the send of every websocket event: past the
    session wrappers that act on none.
    """
    # Channels has no public way to send past its session middleware: this
    # relies on InstanceSessionWrapper's send being a bound method of the
    # wrapper, which keeps the event types it acts on in save_message_types
    # and the send it wraps in real_send.
    while getattr(send, "__func__", None) is InstanceSessionWrapper.send and not any(
        acted.startswith(events) for acted in send.__self__.save_message_types
    ):
        send = send.__self__.real_send
    return send


async def serve_without_channel(
    consumer: AsyncConsumer, scope: Any, receive: Any, send: Any
) -> None:
    """Serve ``consumer``'s socket as ``AsyncConsumer.__call__`` does, but without a channel.

    The consumer gets its ``scope``, ``channel_layer`` and ``base_send``, and
    its :meth:`dispatch` the socket's events, until a handler raises
    ``StopConsumer``; it gets no ``channel_name``.
    """
    # Channels' __call__ always gives a consumer a channel on the layer, and a
    # task waiting on it, with no public way to opt out: this repeats what it
    # sets up otherwise. With one source of events there is nothing to wait
    # on together: Channels' await_many_dispatch would keep a task, its
    # asyncio.wait and their futures alive per socket.
    consumer.scope = scope
    consumer.channel_layer = get_channel_layer(consumer.channel_layer_alias)
    consumer.base_send = send
    with contextlib.suppress(StopConsumer):
        while True:
            await consumer.dispatch(await receive())


async def dispatch_to_handler(consumer: AsyncConsumer, message: dict[str, Any]) -> None:
    """Call ``consumer``'s handler of ``message`` as ``AsyncConsumer.dispatch`` finds it.

    Unlike Channels' ``dispatch``, this closes no stale database connection
    first: that is a hop to the sync thread per event, and handlers reaching
    the database through ``database_sync_to_async`` close them there anyway.
    """
    # Channels names a handler with its undocumented get_handler_name() (the
    # type with dots as underscores, refusing a leading underscore).
    handler = getattr(consumer, get_handler_name(message), None)
    if handler is None:
        raise ValueError(f"No handler for message type {message['type']}")
    await handler(message)


# channels_redis


def pubsub_layer_config(layer: Any) -> dict[str, Any]:
    """The keyword arguments a ``RedisPubSubChannelLayer`` was made with (``hosts``, ``prefix``).

    The layer is a proxy making one layer per event loop; its own ``hosts``
    and ``prefix`` are those of the running loop's layer, out of reach of
    sync code. What it was configured with is all it keeps.
    """
    config: dict[str, Any] = layer._kwargs
    return config


def default_channel_capacity(layer: Any, pattern: str, capacity: int) -> None:
    """Let ``layer``'s channels named as ``pattern`` says hold ``capacity`` messages.

    ``layer`` is a channels_redis core ``RedisChannelLayer``; ``pattern`` a
    glob, as in its ``CONFIG``'s ``channel_capacity``. A capacity that
    ``CONFIG`` gives those channels is kept, and a smaller one is not lowered::

        default_channel_capacity(layer, "*!turbo-hub.*", 10_000)
    """
    # The core layer reads CONFIG's channel_capacity only when it is built,
    # into a list of (compiled pattern, capacity) pairs that get_capacity()
    # tries in order: there is no public way to add one later. Appended last,
    # a pattern the user configured for these channels still matches first.
    if layer.get_capacity(pattern.replace("*", "x")) == layer.capacity:
        compiled = re.compile(fnmatch.translate(pattern))
        layer.channel_capacity.append((compiled, max(layer.capacity, capacity)))


#: The core layers whose blocking receive :func:`bound_blocking_receive` has fitted.
_receives_bounded: weakref.WeakSet[Any] = weakref.WeakSet()


def bound_blocking_receive(layer: Any) -> None:
    """Keep a channels_redis core layer's blocking receive shorter than its Redis read timeout.

    ``layer`` may be any channel layer; only a core ``RedisChannelLayer`` (or
    a subclass) changes: its waits in Redis last half the shortest read
    timeout (``socket_timeout``) of its hosts, when that is less than its own
    5 s. Idle, its receive then asks Redis again rather than failing::

        bound_blocking_receive(get_channel_layer())
    """
    # The core layer receives with BZPOPMIN, which waits in Redis for
    # brpop_timeout seconds (5: a class attribute that CONFIG cannot set),
    # answers nil when nothing came, and is sent again. redis-py 8 gives up a
    # read after socket_timeout seconds, 5 by default, and closes the
    # connection: the wait outlasts the read, and receive() raises
    # TimeoutError out of every idle consumer (channels_redis#422). An
    # instance attribute is the only way to shorten the wait.
    # The class's attribute: the pub/sub layer answers its instance's
    # attributes from a layer of the running loop, and there may be none.
    if not hasattr(type(layer), "brpop_timeout") or layer in _receives_bounded:
        return
    _receives_bounded.add(layer)
    timeouts = [_read_timeout(layer.create_pool(index)) for index in range(len(layer.hosts))]
    shortest = min((timeout for timeout in timeouts if timeout), default=None)
    if shortest is None or shortest / 2 >= layer.brpop_timeout:
        return
    # Whole seconds where they leave the answer time to come back: Redis
    # before 6.0 refuses a fraction (and 0 would wait forever).
    layer.brpop_timeout = math.floor(shortest / 2) if shortest >= 2 else shortest / 2


def _read_timeout(pool: Any) -> float | None:
    """The ``socket_timeout`` of the connections redis-py's ``pool`` would open."""
    # A connection object opens nothing until used: it is the only way to
    # read the default of the installed redis-py (None before 8, 5 since),
    # with what the URL's query or CONFIG's host says applied.
    timeout: float | None = pool.connection_class(**pool.connection_kwargs).socket_timeout
    return timeout


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
