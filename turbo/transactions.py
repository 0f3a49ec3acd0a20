"""Broadcasts waiting for the transactions under way: per-connection transaction state."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from django.db import connections

from turbo import errors
from turbo.batches import Batch, run_in
from turbo.compat import (
    commit_callbacks,
    committing_functions,
    connections_in_atomic_blocks,
    on_commit_outside_savepoints,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.backends.base.base import BaseDatabaseWrapper


class Deferred:
    """Work waiting for the commits of the transactions under way when it was asked for.

    It runs in the batch of the last of them to commit, with the context
    variables of the moment it was deferred, and never if one of them rolls
    back, or rolls back the savepoint it was deferred in.
    """

    def __init__(
        self, function: Callable[[], object], failure: str, args: tuple[object, ...], waiting: int
    ) -> None:
        self.function = function
        #: The log message of its failure, and the message's arguments.
        self.failure, self.args = failure, args
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
        self.context.run(run_in, state.open_batch(), self.function, self.failure, *self.args)


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

        on_commit_outside_savepoints(connection, close, robust=errors.commit_robust())
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
        alive = committing_functions(commit_hooks)
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
    callbacks = commit_callbacks(connection)
    state = _transactions.get(connection)
    if state is None or (state.commit_hooks is not callbacks and not state.update(callbacks)):
        state = _transactions[connection] = Transaction(callbacks)
    return state


def after_commit(
    function: Callable[[], object], failure: str, *args: object, using: str | None = None
) -> Deferred | None:
    """Run ``function`` once the transactions under way commit; ``None`` if none is.

    The transaction of database ``using``, or, without it, every connection of
    this thread in an atomic block: a broadcast made inside
    ``atomic(using="other")`` waits for that commit, and one made while
    several databases are in transactions waits for them all. ``function``
    runs with the context variables of this moment, among the commit callbacks,
    its broadcasts combined with theirs (:class:`turbo.batches.Batch`); an exception is
    logged with the message ``failure % args`` and stops nothing else::

        after_commit(send, "Broadcast to %s failed", stream)
    """
    if using is not None:
        waiting = [connections[using]] if connections[using].in_atomic_block else []
    else:
        waiting = connections_in_atomic_blocks()
    if not waiting:
        return None
    deferred = Deferred(function, failure, args, len(waiting))
    for connection in waiting:
        current_transaction(connection).add(connection, deferred)
    return deferred
