"""Deliver fragments to a stream's subscribers through the channel layer.

One broadcast is rendered once and sent as one ``group_send``. Sync callers
inside a transaction are deferred until it commits; failures of the channel
layer are logged, never raised into the caller (a ``save()`` must not fail
because Redis is down).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar
from weakref import WeakKeyDictionary

from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from turbo import conf, history
from turbo.fragments import join
from turbo.hub import MESSAGE_TYPE, allow_backlog

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Hashable, Iterator, Sequence

    from django.db.backends.base.base import BaseDatabaseWrapper

    from turbo.fragments import Fragment

logger = logging.getLogger("turbo")

T = TypeVar("T")

#: Seconds sync code waits for the event loop that runs its send (or its
#: read of a page's position) before giving up: a loop that does not run it.
#: Redis itself gets :setting:`TURBO_REDIS_TIMEOUT`, on that loop.
SEND_TIMEOUT: Final = 10.0

# True: every broadcast is suppressed; a set: those of these stream classes.
_suppressed: contextvars.ContextVar[bool | frozenset[type]] = contextvars.ContextVar(
    "turbo_suppressed", default=frozenset()
)


@dataclass(frozen=True)
class CapturedBroadcast:
    """A broadcast recorded by :func:`turbo.testing.capture_broadcasts`."""

    #: The stream, as ``str(stream)`` gives it: ``"chat:RoomStream(3)"``.
    stream: str
    #: The stream's channel-layer group.
    group: str
    #: The ``<turbo-stream>`` markup of this broadcast; subscribers may receive
    #: it combined with others of the same commit (:class:`Batch`).
    html: str
    #: The fragments the markup was rendered from, already rendered: read
    #: ``fragments[0].action``, ``.target``, ``.targets`` or ``.content``.
    fragments: tuple[Fragment, ...] = field(default=(), compare=False)


#: The list recording broadcasts instead of sending them, inside capture_broadcasts().
captured: contextvars.ContextVar[list[CapturedBroadcast] | None] = contextvars.ContextVar(
    "turbo_captured", default=None
)


def _capture(target: Target, payload: dict[str, str], fragments: Sequence[Fragment]) -> None:
    """Record the broadcast in the active :func:`turbo.testing.capture_broadcasts` block."""
    recording = captured.get()
    if recording is not None:
        recording.append(
            CapturedBroadcast(str(target), payload["group"], payload["html"], tuple(fragments))
        )


@contextmanager
def suppress_broadcasts(*stream_classes: type) -> Iterator[None]:
    """Silence the broadcasts made inside the block, hooks included.

    For bulk imports, fixtures and data migrations::

        with turbo.suppress_broadcasts():
            Message.objects.bulk_create(...)
            for m in messages:
                m.save()

    Given stream classes, it silences only theirs: broadcasts to their streams
    and the hooks they run (``MessageStream.suppress_broadcasts()`` says the
    same). The state lives in a context variable, so it covers this thread or
    task only, and it is captured when a hook is scheduled: a save inside the
    block stays silent even when its transaction commits after the block has
    exited.
    """
    current = _suppressed.get()
    suppressed: bool | frozenset[type] = True
    if stream_classes and not isinstance(current, bool):
        suppressed = current | frozenset(stream_classes)
    token = _suppressed.set(suppressed)
    try:
        yield
    finally:
        _suppressed.reset(token)


def broadcasts_suppressed(stream_class: type | None = None) -> bool:
    """Whether broadcasts (of ``stream_class``, if given) are silenced in this thread or task.

    See :func:`suppress_broadcasts`; a class is silenced when it or a base
    class of it is.
    """
    suppressed = _suppressed.get()
    if isinstance(suppressed, bool):
        return suppressed
    return stream_class is not None and any(issubclass(stream_class, c) for c in suppressed)


class Target(Protocol):
    """What a broadcast goes to: a stream, as :class:`turbo.Stream` is.

    Its ``str()`` names it in logs; it is only computed for them.
    """

    @property
    def group(self) -> str:
        """The channel-layer group of the stream."""


@dataclass(frozen=True)
class _BroadcastTo:
    """Describes a deferred broadcast, if its failure is logged."""

    target: Target

    def __str__(self) -> str:
        return f"Broadcast to {self.target}"


def call_logged(function: Callable[[], object], description: object) -> None:
    """Call ``function``; log any exception as ``description`` instead of raising.

    ``description`` is formatted with ``str()`` only when it is logged.
    """
    try:
        function()
    except Exception:
        logger.exception("%s failed", description)


#: Bytes of markup one combined message carries at most (:class:`Batch`); a
#: single broadcast larger than that goes alone.
MAX_COMBINED_BYTES: Final = 64 * 1024

# The batch collecting the broadcasts of the commit callbacks running now.
_batch: contextvars.ContextVar[Batch | None] = contextvars.ContextVar("turbo_batch", default=None)


@dataclass(eq=False)
class _Entry:
    layer: Any
    target: Target
    html: str
    size: int


class Batch:
    """The broadcasts of one commit's callbacks (or of a hook run outside a transaction).

    Each stream's broadcasts go out in the order they were made, combined into
    one channel-layer message (one history entry, one round trip) of at most
    :data:`MAX_COMBINED_BYTES`, or several if they are larger; streams are sent
    one after the other, in the order of their first broadcast.
    """

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        #: What :func:`first_in_batch` was asked about.
        self.seen: set[Hashable] = set()
        self.closed = False

    def add(self, layer: Any, target: Target, html: str) -> None:
        """Hold a rendered broadcast until the batch is closed."""
        self.entries.append(_Entry(layer, target, html, len(html.encode())))

    def close(self) -> None:
        """Send what the batch holds."""
        self.closed = True
        streams: dict[tuple[int, str], list[_Entry]] = {}
        for entry in self.entries:
            streams.setdefault((id(entry.layer), entry.target.group), []).append(entry)
        for entries in streams.values():
            for combined in _combined(entries):
                _publish(combined[0].layer, combined[0].target, "".join(e.html for e in combined))


def _combined(entries: list[_Entry]) -> Iterator[list[_Entry]]:
    """``entries`` in order, in runs of at most :data:`MAX_COMBINED_BYTES` (or of one)."""
    run: list[_Entry] = []
    size = 0
    for entry in entries:
        if run and size + entry.size > MAX_COMBINED_BYTES:
            yield run
            run, size = [], 0
        run.append(entry)
        size += entry.size
    if run:
        yield run


def first_in_batch(key: Hashable) -> bool:
    """Whether ``key`` is new to the batch of commit callbacks running now (or there is none).

    :mod:`turbo.refreshes` sends equal refreshes of one commit once so.
    """
    batch = _open_batch()
    if batch is None:
        return True
    if key in batch.seen:
        return False
    batch.seen.add(key)
    return True


def _open_batch() -> Batch | None:
    batch = _batch.get()
    return batch if batch is not None and not batch.closed else None


def run_batched(function: Callable[[], object], description: object) -> None:
    """Call ``function`` now, logged as ``description``, its broadcasts sent together.

    Inside commit callbacks, it joins their batch.
    """
    if _open_batch() is not None:
        call_logged(function, description)
        return
    batch = Batch()
    token = _batch.set(batch)
    try:
        call_logged(function, description)
    finally:
        _batch.reset(token)
        batch.close()


class Deferred:
    """Work waiting for the commits of the transactions under way when it was asked for.

    It runs in the batch of the last of them to commit, with the context
    variables of the moment it was deferred, and never if one of them rolls
    back, or rolls back the savepoint it was deferred in.
    """

    def __init__(self, function: Callable[[], object], description: object, waiting: int) -> None:
        self.function = function
        self.description = description
        self.context = contextvars.copy_context()
        #: Commits still to come.
        self.waiting = waiting
        self.ran = False
        #: Set once a rollback dropped it (seen at the next deferral on its connection).
        self.discarded = False

    @property
    def pending(self) -> bool:
        """Whether it may still run."""
        return not (self.ran or self.discarded)

    def committed(self, state: Transaction) -> None:
        """One of its transactions, ``state``, committed: run it if it was the last."""
        if not self.pending:
            return
        self.waiting -= 1
        if self.waiting:
            return
        self.ran = True
        self.context.run(_run_in, state.open_batch(), self.function, self.description)


def _run_in(batch: Batch, function: Callable[[], object], description: object) -> None:
    # Deferred by an outer commit's callbacks (a hook's own atomic block), it
    # joins their batch while it is open: its broadcasts keep their place.
    if _open_batch() is None:
        _batch.set(batch)
    call_logged(function, description)


class Transaction:
    """What one connection's current transaction does when it commits."""

    def __init__(self, commit_hooks: list[Any]) -> None:
        #: Django's list of the connection's commit callbacks, when last looked at.
        self.commit_hooks = commit_hooks
        #: Hooks pending (:mod:`turbo.hooks`), by stream class and primary key.
        self.pending: dict[tuple[type[Any], Any], Any] = {}
        self._registered: list[tuple[Callable[[], None], Deferred]] = []
        self._batch: Batch | None = None
        self._closer: Callable[[], None] | None = None

    def add(self, connection: BaseDatabaseWrapper, deferred: Deferred) -> None:
        """Run ``deferred`` (or count down its commits) when this transaction commits.

        Registered with Django's ``on_commit``, which drops it if its savepoint
        rolls back. The batch's closer is registered anew after each, outside
        every savepoint: the last one runs after them all, whatever rolled back.
        """

        def committed() -> None:
            deferred.committed(self)

        connection.on_commit(committed, robust=True)
        self._registered.append((committed, deferred))

        def close() -> None:
            if self._closer is not close:
                return
            # Every callback that was not rolled back has run by now.
            self._registered = [(c, d) for c, d in self._registered if d.pending]
            if self._batch is not None:
                batch, self._batch = self._batch, None
                batch.close()

        # Outside every savepoint: a savepoint rolling back must not drop it.
        savepoints, connection.savepoint_ids = connection.savepoint_ids, []
        try:
            connection.on_commit(close, robust=True)
        finally:
            connection.savepoint_ids = savepoints
        self._closer = close

    def open_batch(self) -> Batch:
        """The batch of this commit's callbacks, sent by the closer after the last."""
        if self._batch is None:
            self._batch = Batch()
        return self._batch

    def update(self, commit_hooks: list[Any]) -> bool:
        """Follow Django's new list of commit callbacks; ``False`` if the transaction ended.

        Django makes a new list when a transaction ends (commit, rollback) and
        when a savepoint rolls back, keeping the callbacks registered outside
        it: so do the entries here.
        """
        alive = {function for _, function, _ in commit_hooks}
        if self._closer not in alive:
            return False
        for callback, deferred in self._registered:
            if callback not in alive:
                deferred.discarded = True
        self._registered = [(c, d) for c, d in self._registered if d.pending]
        self.commit_hooks = commit_hooks
        return True


_transactions: WeakKeyDictionary[BaseDatabaseWrapper, Transaction] = WeakKeyDictionary()


def current_transaction(connection: BaseDatabaseWrapper) -> Transaction:
    """The state of ``connection``'s current transaction (it must be in one)."""
    state = _transactions.get(connection)
    if state is None or (
        state.commit_hooks is not connection.run_on_commit
        and not state.update(connection.run_on_commit)
    ):
        state = _transactions[connection] = Transaction(connection.run_on_commit)
    return state


def after_commit(
    function: Callable[[], object], *, description: object, using: str | None = None
) -> Deferred | None:
    """Run ``function`` once the transactions under way commit; ``None`` if none is.

    The transaction of database ``using``, or, without it, every connection of
    this thread in an atomic block: a broadcast made inside
    ``atomic(using="other")`` waits for that commit, and one made while
    several databases are in transactions waits for them all. ``function``
    runs with the context variables of this moment, among the commit callbacks,
    its broadcasts combined with theirs (:class:`Batch`); an exception is
    logged as ``description`` and stops nothing else.
    """
    if using is not None:
        waiting = [connections[using]] if connections[using].in_atomic_block else []
    else:
        waiting = [c for c in connections.all(initialized_only=True) if c.in_atomic_block]
    if not waiting:
        return None
    deferred = Deferred(function, description, len(waiting))
    for connection in waiting:
        current_transaction(connection).add(connection, deferred)
    return deferred


def message(group: str, fragments: Sequence[Fragment]) -> dict[str, str]:
    """The channel-layer message carrying ``fragments`` (rendered here, once)."""
    return _payload(group, join(fragments))


def _payload(group: str, html: str) -> dict[str, str]:
    return {"type": MESSAGE_TYPE, "group": group, "html": html}


def _channel_layer(target: Target) -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured(
            "turbo broadcasts need a channel layer: set CHANNEL_LAYERS, e.g. "
            "{'default': {'BACKEND': 'channels.layers.InMemoryChannelLayer'}}."
        )
    if isinstance(layer, InMemoryChannelLayer) and not _consumer_connected:
        _warn_in_memory_without_consumers(target)
    allow_backlog(layer)
    return layer


def _warn_in_memory_without_consumers(target: Target) -> None:
    global _warned_in_memory
    if not _warned_in_memory:
        _warned_in_memory = True
        logger.warning(
            "Broadcast to %s on the in-memory channel layer, in a process where no turbo "
            "websocket has connected: that layer does not cross processes, so no browser "
            "can receive it. Broadcast from the server process (a view), or use a "
            "channels_redis layer to broadcast from shells, commands and workers.",
            target,
        )


def check_sync(name: str, instead: str | None = None) -> None:
    """Raise if the sync method ``name`` is called where an event loop runs.

    The error says to call ``instead``, by default the async twin
    (``await stream.a<name>(...)``).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{name}() was called from async code, where it would block the event "
        f"loop. Use '{instead or f'await stream.a{name}(...)'}' instead."
    )


def check_no_request(name: str, request: object) -> None:
    """Raise :exc:`TypeError` if the broadcast ``name`` was given a ``request``.

    A broadcast is rendered once for every subscriber, so it never renders
    with the request of the user who made the change: that user's
    ``{% csrf_token %}``, session and ``request.user`` would reach everyone.
    Every broadcast checks its fragments with it, and ``*_later`` its
    arguments; responses, which go to one user, take a request.
    """
    if request is not None:
        raise TypeError(
            f"{name}() takes no request=: a broadcast goes to every subscriber, so its "
            f"template never renders with a request (that user's {{% csrf_token %}}, session "
            f"and request.user would reach them all). Pass what the template needs in the "
            f"context; for output that differs per viewer, broadcast a refresh "
            f"(stream.refresh()), and each page reloads with its own request. A response "
            f"(TurboStreamResponse, turbo_stream) takes request=."
        )


def broadcast(target: Target, fragments: Sequence[Fragment]) -> None:
    """Send ``fragments`` to ``target``'s group from sync code.

    Inside a transaction the send (and the render) waits until it commits and
    is dropped if it rolls back (:func:`after_commit`), and among commit
    callbacks it joins their batch. Template errors raise when the render is
    immediate; channel-layer errors are always logged. A fragment built with
    ``request=`` raises :exc:`TypeError` (:func:`check_no_request`).
    """
    for fragment in fragments:
        check_no_request("broadcast", fragment.request)
    check_sync("broadcast")
    if broadcasts_suppressed(type(target)):
        return
    if after_commit(lambda: _send(target, fragments), description=_BroadcastTo(target)) is None:
        _send(target, fragments)


async def abroadcast(target: Target, fragments: Sequence[Fragment]) -> None:
    """Send ``fragments`` to ``target``'s group from async code, without blocking the loop.

    Templates render in Django's sync thread, since they may query the database.
    As in :func:`broadcast`, a fragment built with ``request=`` raises
    :exc:`TypeError`.
    """
    for fragment in fragments:
        check_no_request("abroadcast", fragment.request)
    _note_loop_unless_one_runs()
    if broadcasts_suppressed(type(target)):
        return
    render = sync_to_async(message)
    if captured.get() is not None:
        _capture(target, await render(target.group, fragments), fragments)
        return
    layer = _destination(target)
    if layer is None:
        return
    payload = await render(target.group, fragments)
    try:
        await deliver(layer, payload)
    except Exception:
        logger.exception("Broadcast to %s failed", target)


def _send(target: Target, fragments: Sequence[Fragment]) -> None:
    if captured.get() is not None:
        _capture(target, message(target.group, fragments), fragments)
        return
    layer = _destination(target)
    if layer is None:
        return
    html = join(fragments)
    batch = _open_batch()
    if batch is not None:
        batch.add(layer, target, html)
    else:
        _publish(layer, target, html)


def _publish(layer: Any, target: Target, html: str) -> None:
    payload = _payload(target.group, html)
    try:
        run_in_loop(lambda: deliver(layer, payload))
    except Exception:
        logger.exception("Broadcast to %s failed", target)


def _destination(target: Target) -> Any:
    """The channel layer to send a broadcast to, or ``None`` to skip it, unrendered.

    Skipped when there is no layer (logged), and when the layer can tell
    without a round trip that nobody listens and no history is kept: the
    in-memory layer, whose groups all live in this process. The Redis layers
    would need one, which costs about what the send does; and a history keeps
    the broadcast for the page that is loading and will subscribe in a moment.
    """
    try:
        layer = _channel_layer(target)
    except ImproperlyConfigured:
        logger.exception("Broadcast to %s failed", target)
        return None
    if (
        isinstance(layer, InMemoryChannelLayer)
        and not layer.groups.get(target.group)
        and history.for_layer(layer) is None
    ):
        return None
    return layer


async def deliver(layer: Any, payload: dict[str, Any]) -> None:
    """Record a broadcast in the history beside ``layer``, if one is kept, and send it.

    Recorded first: a page subscribing in between finds it in the history,
    and a page receiving it can tell which of its stream's broadcasts came
    before (``previous``) and whether it missed any. Both together may take
    :setting:`TURBO_REDIS_TIMEOUT`; past it, :exc:`TimeoutError` is raised.
    """
    budget = conf.redis_timeout()
    try:
        await asyncio.wait_for(_record_and_send(layer, payload), budget)
    except TimeoutError:
        raise TimeoutError(
            f"the channel layer or the history did not answer within TURBO_REDIS_TIMEOUT "
            f"({budget} s)"
        ) from None


async def _record_and_send(layer: Any, payload: dict[str, Any]) -> None:
    kept = history.for_layer(layer)
    if kept is not None:
        recorded = await kept.record(payload["group"], payload["html"])
        payload.update(epoch=recorded.epoch, position=recorded.sequence, previous=recorded.previous)
    await layer.group_send(payload["group"], payload)


# A sync broadcast must run its coroutine on the loop the channel layer lives on.
# ``async_to_sync`` from a plain thread would start a throwaway loop per call: the
# in-memory layer then fills another loop's queue without waking its reader, and
# the Redis layers open a new connection pool per call. So sync sends go to the
# server's loop when one is running in this process, else to one long-lived
# background loop.
_server_loop: asyncio.AbstractEventLoop | None = None
_consumer_connected = False
_warned_in_memory = False
_background_loop: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()


def note_running_loop() -> None:
    """Record the running event loop as the one sync broadcasts should use.

    Called by :func:`note_consumer` when a socket connects: in a server
    process, that is the loop the subscribers live on. An async broadcast
    records its loop only while no recorded loop runs: one made with
    ``async_to_sync`` from a thread runs a loop of its own, for that call.
    """
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def _note_loop_unless_one_runs() -> None:
    if _server_loop is None or not _server_loop.is_running():
        note_running_loop()


def note_consumer() -> None:
    """Record that a turbo websocket connected in this process, on the running loop.

    Sync broadcasts then run on this loop, where the in-memory layer can wake
    the consumers; and a broadcast on the in-memory layer is known to have
    somewhere to go (otherwise it logs a warning, once).
    """
    global _consumer_connected
    _consumer_connected = True
    note_running_loop()


def loop_for_sync_send() -> asyncio.AbstractEventLoop:
    """The loop sync code hands its sends to: the server's, else a background one."""
    global _background_loop
    if _server_loop is not None and _server_loop.is_running():
        return _server_loop
    with _background_lock:
        if _background_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="turbo-broadcast", daemon=True).start()
            _background_loop = loop
    return _background_loop


def _forget_loops() -> None:
    # A forked child (gunicorn --preload, multiprocessing) has only the thread
    # that forked: the loops it inherited run nowhere, and a lock another
    # thread held stays held. It starts loops of its own as it needs them.
    global _server_loop, _background_loop, _background_lock
    _server_loop = _background_loop = None
    _background_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_loops)


def run_in_loop(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code on :func:`loop_for_sync_send`, and return its result.

    Gives up after :data:`SEND_TIMEOUT` seconds.
    """
    future = asyncio.run_coroutine_threadsafe(make_coroutine(), loop_for_sync_send())
    try:
        return future.result(SEND_TIMEOUT)
    except TimeoutError:
        future.cancel()
        raise
