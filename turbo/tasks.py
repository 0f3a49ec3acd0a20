"""Render and send broadcasts in a background task, on Django's Tasks framework.

``room.stream.append_later(...)`` and its siblings enqueue
``turbo.tasks.render_and_broadcast`` instead of rendering in the request. The task
gets only JSON: the stream's registered name and identity, the action, the
template name and the fragment's options, and the context with each model
instance replaced by its label and primary key. The worker rebuilds the
stream, reloads the instances, renders the fragment and broadcasts it.

The framework is ``django.tasks`` on Django 6.0 and later, and the
``django-tasks`` backport (``django_tasks``) on Django 5.2.
"""

from __future__ import annotations

import json
import logging
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.utils.safestring import mark_safe

from turbo import broadcast, fragments, suppression, transactions
from turbo.refreshes import current_request_id, use_request_id
from turbo.registry import registry

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import ModuleType

    from turbo.streams import Stream

logger = logging.getLogger("turbo")

#: The modules that provide the Tasks framework, in order of preference.
FRAMEWORKS = ("django.tasks", "django_tasks")

# An instance in a serialised context: [model label, JSON primary key].
_Reference = list[Any]


def framework() -> ModuleType:
    """The Tasks framework: ``django.tasks`` (Django ≥ 6.0), else ``django_tasks``.

    Raises :exc:`~django.core.exceptions.ImproperlyConfigured` naming the
    package to install when neither is available.
    """
    for name in FRAMEWORKS:
        try:
            return import_module(name)
        except ModuleNotFoundError as error:
            # A framework that is installed but fails to import must say why.
            if error.name != name:
                raise
    raise ImproperlyConfigured(
        "Background broadcasts (append_later() and the like) need Django's Tasks "
        "framework: upgrade to Django 6.0, or install the backport with "
        "'pip install django-turbo-streams[tasks]' (that is, 'pip install django-tasks') "
        "and add 'django_tasks' to INSTALLED_APPS."
    )


def _as_task(function: Callable[..., None]) -> Any:
    try:
        tasks = framework()
    except ImproperlyConfigured:
        # This module still imports (for the docs); enqueueing calls framework()
        # first, which raises the error that says what to install.
        return function
    return tasks.task(function)


@_as_task
def render_and_broadcast(
    stream_name: str,
    stream_args: list[Any],
    stream_kwargs: dict[str, Any],
    action: str,
    template: str | list[str] | None,
    context: dict[str, Any] | None,
    options: dict[str, Any],
) -> None:
    """The task: rebuild the stream, reload the context's instances, render, broadcast.

    Every ``*_later`` method enqueues it; its arguments are JSON. A
    ``refresh`` renders nothing: it is broadcast on behalf of the request whose
    id ``options`` carries. A broadcast whose context names an instance deleted
    since it was enqueued is skipped, and logged at ``INFO`` level.
    """
    stream = registry.get(stream_name).from_identity(stream_args, stream_kwargs)
    if action == "refresh":
        with use_request_id(options["request_id"]):
            stream.refresh(method=options["method"], scroll=options["scroll"])
        return
    if options.get("html") is not None:
        # Checked as markup when it was enqueued; JSON carried it as a plain str.
        options = {**options, "html": mark_safe(options["html"])}
    loaded = None
    if context is not None:
        loaded = _load_context(context, stream, action)
        if loaded is None:
            return
    stream.broadcast(
        fragments.fragment(cast("fragments.Action", action), template, loaded, **options)
    )


def broadcast_later(stream: Stream, action: str, *args: Any, **kwargs: Any) -> None:
    """Enqueue the rendering and broadcast of ``action`` to ``stream``.

    What :meth:`turbo.Stream.append_later` and its siblings call.
    ``args`` and ``kwargs`` are those of the fragment builder named ``action``,
    without ``request=``. They are checked here, in the caller; nothing is
    enqueued inside :func:`turbo.suppress_broadcasts`, and inside a transaction
    the task is enqueued when it commits.
    """
    name = f"{action}_later"
    _check_sync(name)
    template, context, options = _arguments(name, *args, **kwargs)
    fragments.fragment(cast("fragments.Action", action), template, context, **options)
    if options.get("html") is not None:
        # JSON has no safe strings (and no fragments): the task marks it safe again.
        options["html"] = str(fragments.trusted_html(options["html"], name))
    arguments = [
        *_stream_reference(stream),
        action,
        template if template is None or isinstance(template, str) else list(template),
        None if context is None else _serialise_context(context, name),
        options,
    ]
    _enqueue(stream, name, arguments)


def refresh_later(
    stream: Stream,
    *,
    method: fragments.RefreshMethod | None = None,
    scroll: fragments.RefreshScroll | None = None,
) -> None:
    """Enqueue a refresh of ``stream``: what :meth:`turbo.Stream.refresh_later` calls.

    The id of the request being served (:func:`turbo.refreshes.current_request_id`)
    is read now and travels with the task, so the tab that made the change
    ignores the refresh as it would a direct one.
    """
    _check_sync("refresh_later")
    fragments.check_refresh_options(method, scroll)
    options = {"request_id": current_request_id(), "method": method, "scroll": scroll}
    _enqueue(stream, "refresh_later", [*_stream_reference(stream), "refresh", None, None, options])


def _check_sync(name: str) -> None:
    # Enqueueing may write to a database, and the immediate backend renders the
    # template right there: both would block the event loop.
    broadcast.check_sync(name, instead=f"await sync_to_async(stream.{name})(...)")


def _arguments(
    name: str,
    template: fragments.TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    request: object = None,
    **options: Any,
) -> tuple[fragments.TemplateName | None, Mapping[str, Any] | None, dict[str, Any]]:
    broadcast.check_no_request(name, request)
    return template, context, options


def _stream_reference(stream: Stream) -> list[Any]:
    name = stream.stream_name()
    try:
        registered = registry.get(name)
    except LookupError:
        registered = None
    if registered is not type(stream):
        raise ImproperlyConfigured(
            f"{type(stream).__qualname__} is not registered, so a background task "
            f"cannot find it by its name {name!r}: define it in an app's streams.py, "
            f"or decorate it with @turbo.register."
        )
    return [name, *stream.identity()]


def _enqueue(stream: Stream, name: str, arguments: list[Any]) -> None:
    framework()  # a missing framework is an error even where nothing would be enqueued
    if suppression.broadcasts_suppressed(type(stream)):
        return

    def enqueue() -> None:
        render_and_broadcast.enqueue(*arguments)

    # The task framework knows nothing of transactions: a worker could run
    # the task before the rows it reads are committed, or after a rollback.
    if transactions.after_commit(enqueue, "Enqueueing %s() of %s failed", name, stream) is None:
        enqueue()


def _serialise_context(context: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``context`` as JSON: plain values, and instances as references to reload."""
    values: dict[str, Any] = {}
    instances: dict[str, _Reference] = {}
    lists: dict[str, list[_Reference]] = {}
    for key, value in context.items():
        if not isinstance(key, str):
            raise TypeError(f"{name}() context keys must be strings, not {key!r}.")
        if isinstance(value, Model):
            instances[key] = _reference(value, key, name)
        elif (
            isinstance(value, list | tuple)
            and value
            and all(isinstance(item, Model) for item in value)
        ):
            lists[key] = [_reference(item, key, name) for item in value]
        else:
            try:
                values[key] = json.loads(json.dumps(value))
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"{name}() context[{key!r}] cannot travel to a background task "
                    f"({error}): give JSON values (str, int, float, bool, None, and lists "
                    f"and dicts of them), or model instances or lists of them as top-level "
                    f"values."
                ) from None
    return {"values": values, "instances": instances, "lists": lists}


def _reference(instance: Model, key: str, name: str) -> _Reference:
    if instance.pk is None:
        raise ValueError(
            f"{name}() context[{key!r}] is an unsaved {type(instance).__name__}: a "
            f"background task reloads instances by primary key, so save it first."
        )
    return [instance._meta.label, json.loads(json.dumps(instance.pk, cls=DjangoJSONEncoder))]


def _load_context(serialised: dict[str, Any], stream: Stream, action: str) -> dict[str, Any] | None:
    """The context with its instances reloaded; ``None`` if one was deleted."""
    context = dict(serialised["values"])
    for key, (label, pk) in serialised["instances"].items():
        model = apps.get_model(label)
        try:
            context[key] = model._default_manager.get(pk=pk)
        except model.DoesNotExist:
            logger.info(
                "Skipped %s_later() of %s: %s %r (context[%r]) was deleted before the task ran.",
                action,
                stream,
                label,
                pk,
                key,
            )
            return None
    for key, references in serialised["lists"].items():
        context[key] = _load_list(references, stream, action, key)
    return context


def _load_list(
    references: Sequence[_Reference], stream: Stream, action: str, key: str
) -> list[Model]:
    """The instances, in order, one query per model; deleted ones are left out."""
    wanted: list[tuple[type[Model], Any]] = []
    for label, pk in references:
        model = apps.get_model(label)
        wanted.append((model, model._meta.pk.to_python(pk)))
    found = {
        model: model._default_manager.in_bulk([pk for other, pk in wanted if other is model])
        for model in {model for model, _ in wanted}
    }
    loaded = []
    for model, pk in wanted:
        if pk in found[model]:
            loaded.append(found[model][pk])
        else:
            logger.debug(
                "%s_later() of %s: %s %r left out of context[%r], deleted before the task ran.",
                action,
                stream,
                model._meta.label,
                pk,
                key,
            )
    return loaded
