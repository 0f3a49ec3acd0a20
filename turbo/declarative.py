"""Declared broadcasts: what ``Meta.broadcasts`` and ``Meta.broadcasts_refreshes`` send.

After a commit, :meth:`turbo.ModelStream.broadcast_declared` calls
:func:`broadcast_declared`, which appends, replaces or removes the instance's
element (named by :func:`dom_id`) on its own stream, its collection or a
related instance's stream (:func:`related_stream`), or refreshes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db.models import ForeignKey

from turbo.registry import ATTRIBUTE, registry
from turbo.streams import Stream

if TYPE_CHECKING:
    from django.db.models import Model

    from turbo.model_streams import ModelStream

Change = Literal["create", "update", "delete"]
"""What happened to an instance, as declared broadcasts tell it."""


def broadcast_declared(stream: ModelStream, instance: Any, change: Change) -> None:
    """Send what ``stream``'s Meta declares for ``change`` of ``instance``."""
    meta = stream._meta
    if meta.broadcasts:
        for target in _declared_streams(stream, instance, meta.broadcasts, change, own=False):
            if change == "delete":
                target.remove(id=dom_id(instance))
                continue
            template = meta.broadcasts_template or _default_template(instance)
            context = {instance._meta.model_name: instance, "object": instance}
            if change == "update":
                target.replace(template, context, id=dom_id(instance))
            else:
                where = meta.broadcasts_target or f"{instance._meta.model_name}_list"
                getattr(target, meta.broadcasts_inserts_by)(template, context, id=where)
    if meta.broadcasts_refreshes:
        declared = meta.broadcasts_refreshes
        for target in _declared_streams(stream, instance, declared, change, own=True):
            target.refresh()


def _declared_streams(
    stream: ModelStream, instance: Any, declared: bool | str, change: Change, *, own: bool
) -> list[Stream]:
    mine: Stream = stream.collection() if change == "create" else stream
    if declared is True:
        return [mine]
    assert isinstance(declared, str)  # checked by StreamOptions
    related = related_stream(instance, declared)
    return [s for s in (mine if own else None, related) if s is not None]


def _default_template(instance: Model) -> str:
    return f"{instance._meta.app_label}/_{instance._meta.model_name}.html"


def dom_id(instance: Model | type[Model], prefix: str | None = None) -> str:
    """The conventional ``id`` of the element showing ``instance``: ``"message_3"``.

    ``dom_id(message, "edit")`` is ``"edit_message_3"``; an unsaved instance
    or the model class gives ``"new_message"``. Templates use the filter:
    ``<li id="{{ message|dom_id }}">``. Declared broadcasts replace and remove
    elements by it.
    """
    meta = instance._meta
    pk = None if isinstance(instance, type) else instance.pk
    name = f"{meta.model_name}_{pk}" if pk is not None else f"new_{meta.model_name}"
    return f"{prefix}_{name}" if prefix else name


def related_stream(instance: Model, name: str) -> Stream | None:
    """The stream of ``instance``'s relation ``name``, or ``None`` if it is empty.

    A foreign key's stream is built from its id, without loading the row: it
    works in ``on_delete`` after a cascade deleted the related row too.
    """
    try:
        field = instance._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if isinstance(field, ForeignKey):  # one-to-one fields too
        stream_class = registry.for_model(field.related_model)
        if stream_class is None:
            raise ImproperlyConfigured(
                f"{type(instance).__name__}.{name} leads to {field.related_model.__name__}, "
                f"which has no stream."
            )
        pk = getattr(instance, field.attname)
        return None if pk is None else stream_class.for_pk(pk)
    related = getattr(instance, name)
    if related is None:
        return None
    if isinstance(related, Stream):
        return related
    stream = getattr(related, ATTRIBUTE, None)
    if not isinstance(stream, Stream):
        raise ImproperlyConfigured(
            f"{type(instance).__name__}.{name} must be a relation to a model with a stream, "
            f"or a Stream; it is {related!r}."
        )
    return stream
