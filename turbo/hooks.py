"""Run ModelStream hooks once the transaction that changed an instance commits.

``post_save`` and ``post_delete`` fire inside the transaction; the hooks must
not run before it commits, nor at all if it rolls back, and must see the
instance as it was when the signal fired (Django sets a deleted instance's pk
to ``None`` when ``delete()`` returns, before an outer transaction commits).
Changes of one instance within one transaction are coalesced: create + update
calls ``on_save(created=True)`` once; create + delete calls nothing. A savepoint
rolling back drops the changes made inside it, and only those (Django drops
their commit callbacks; :class:`turbo.transactions.Transaction` follows it).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from turbo.batches import run_batched
from turbo.compat import enclosing_savepoints
from turbo.registry import registry
from turbo.suppression import broadcasts_suppressed
from turbo.transactions import Deferred, after_commit, current_transaction

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Model

    from turbo.model_streams import ModelStream


@dataclass(eq=False, slots=True)
class PendingHook:
    """A hook call waiting for its transaction to commit."""

    stream_class: type[ModelStream]
    instance: Model
    using: str
    created: bool
    deleted: bool
    update_fields: frozenset[str] | None
    #: What a delete started from (an instance or a queryset), as post_delete gives it.
    origin: Any = None
    savepoints: AbstractSet[str] = frozenset()
    superseded: bool = False
    #: The change of the instance before this one that this one did not absorb.
    previous: PendingHook | None = None
    deferred: Deferred | None = None

    def absorb(self, earlier: PendingHook) -> None:
        """Take over ``earlier``, a change of the same instance in this transaction."""
        earlier.superseded = True
        self.created = self.created or earlier.created
        if self.update_fields is not None and earlier.update_fields is not None:
            self.update_fields |= earlier.update_fields
        else:
            self.update_fields = None

    def run(self) -> None:
        """Call the hook, unless the instance was created and deleted in one go."""
        stream = self.stream_class(self.instance)
        options = self.stream_class._meta
        if not self.deleted:
            values = {
                "created": self.created,
                "update_fields": self.update_fields,
                "raw": False,
                "using": self.using,
                "signal": post_save,
            }
            options.hook_call("on_save")(stream, self.instance, values)
            stream.broadcast_declared(self.instance, "create" if self.created else "update")
        elif not self.created:
            values = {"using": self.using, "origin": self.origin, "signal": post_delete}
            options.hook_call("on_delete")(stream, self.instance, values)
            stream.broadcast_declared(self.instance, "delete")

    def __str__(self) -> str:
        hook = "on_delete" if self.deleted else "on_save"
        return f"{self.stream_class.__qualname__}.{hook}({self.instance!r})"


def schedule(hook: PendingHook, connection: BaseDatabaseWrapper) -> None:
    """Run ``hook`` once ``connection``'s transaction commits, coalesced with earlier ones."""
    # It runs later: with the instance as it is now, whatever happens to it meanwhile.
    hook.instance = copy.copy(hook.instance)
    state = current_transaction(connection)
    key = (hook.stream_class, hook.instance.pk)
    hook.savepoints = enclosing_savepoints(connection)
    earlier = _still_pending(state.pending.get(key))
    # A row deleted again: Django sends post_delete for each table of a
    # multi-table child, and a second delete() of the row deletes nothing.
    # The earlier call stands for both: a savepoint that could roll back the
    # earlier without this one has ended, and if it rolled back, the earlier
    # is no longer pending.
    if earlier is not None and earlier.deleted and hook.deleted:
        return
    # Absorb the earlier changes that any rollback discarding this one
    # discards too: those made inside every savepoint open now. A savepoint
    # released since no longer counts, it cannot roll back on its own.
    while earlier is not None and not earlier.deleted and hook.savepoints <= earlier.savepoints:
        hook.absorb(earlier)
        earlier = _still_pending(earlier.previous)
    hook.previous = earlier
    state.pending[key] = hook

    def run() -> None:
        if state.pending.get(key) is hook:
            del state.pending[key]
        if not hook.superseded:
            hook.run()

    hook.deferred = after_commit(run, "%s failed", hook, using=hook.using)


def _still_pending(hook: PendingHook | None) -> PendingHook | None:
    """The latest of ``hook`` and its predecessors that may still run."""
    while hook is not None and not (hook.deferred is not None and hook.deferred.pending):
        hook = hook.previous
    return hook


def _schedule_hooks(
    sender: type[Model],
    instance: Model,
    using: str,
    *,
    raw: bool,
    created: bool,
    deleted: bool,
    update_fields: frozenset[str] | None,
    origin: Any = None,
) -> None:
    """Call or schedule the hook of each of ``sender``'s streams that has hooks and is not silenced.

    Called at once outside a transaction (the change is committed), else
    scheduled (:func:`schedule`).
    """
    if raw:
        return
    connection = None
    for stream_class in registry.streams_for_model(sender):
        if stream_class.has_hooks() and not broadcasts_suppressed(stream_class):
            hook = PendingHook(
                stream_class,
                instance,
                using,
                created=created,
                deleted=deleted,
                update_fields=update_fields,
                origin=origin,
            )
            if connection is None:
                connection = transaction.get_connection(using)
            if connection.in_atomic_block:
                schedule(hook, connection)
            else:
                run_batched(hook.run, "%s failed", hook)


def handle_post_save(
    sender: type[Model],
    instance: Model,
    created: bool,
    raw: bool,
    using: str,
    update_fields: frozenset[str] | None,
    **kwargs: Any,
) -> None:
    """``post_save`` receiver: schedule the model's streams' ``on_save``."""
    _schedule_hooks(
        sender,
        instance,
        using,
        raw=raw,
        created=created,
        deleted=False,
        update_fields=update_fields,
    )


def handle_post_delete(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    """``post_delete`` receiver: schedule the model's streams' ``on_delete``."""
    _schedule_hooks(
        sender,
        instance,
        using,
        raw=False,
        created=False,
        deleted=True,
        update_fields=None,
        origin=kwargs.get("origin"),
    )


def connect(base: type[Model] | None = None) -> None:
    """Connect the receivers for every model whose stream has hooks.

    Each model is connected by itself, proxies and multi-table children
    included: a receiver for all senders would make Django load every row a
    cascade deletes, anywhere in the project. Historical models (``RunPython``)
    are never connected. Given ``base``, only it and its subclasses are
    looked at (the registry connects a stream registered late so). Idempotent.
    """
    for model in apps.get_models():
        if base is not None and not issubclass(model, base):
            continue
        if any(s.has_hooks() for s in registry.streams_for_model(model)):
            uid = dispatch_uid(model)
            post_save.connect(handle_post_save, sender=model, weak=False, dispatch_uid=uid)
            post_delete.connect(handle_post_delete, sender=model, weak=False, dispatch_uid=uid)


def dispatch_uid(model: type[Model]) -> str:
    """The ``dispatch_uid`` of ``model``'s receivers: connected twice, they stay one."""
    return f"turbo:{model._meta.label}"
