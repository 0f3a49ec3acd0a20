"""Enqueue broadcasts for a background task: what ``*_later`` methods call.

``room.stream.append_later(...)`` checks its arguments here, in the caller,
and enqueues :data:`TASK` (:func:`turbo.tasks.render_and_broadcast`) with
only JSON: the stream's registered name and identity, the action, the
template name and the fragment's options, and the context with each model
instance replaced by its label and primary key. Inside a transaction the task
is enqueued when it commits.

The framework is ``django.tasks`` on Django 6.0 and later, and the
``django-tasks`` backport (``django_tasks``) on Django 5.2.
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import TYPE_CHECKING, Any, Final, cast

from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.utils.module_loading import import_string

from turbo import broadcast, fragments, markup
from turbo.refreshes import current_request_id
from turbo.registry import registry
from turbo.suppression import broadcasts_suppressed
from turbo.transactions import after_commit

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

    from turbo.stream_actions import StreamActions

#: The task every ``*_later`` method enqueues, by the path a worker imports it by.
TASK: Final = "turbo.tasks.render_and_broadcast"

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


def broadcast_later(stream: StreamActions, action: str, *args: Any, **kwargs: Any) -> None:
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
    fragments.fragment(cast("markup.Action", action), template, context, **options)
    if options.get("html") is not None:
        # JSON has no safe strings (and no fragments): the task marks it safe again.
        options["html"] = str(markup.trusted_html(options["html"], name))
    arguments = [
        *_stream_reference(stream),
        action,
        template if template is None or isinstance(template, str) else list(template),
        None if context is None else _serialise_context(context, name),
        options,
    ]
    _enqueue(stream, name, arguments)


def refresh_later(
    stream: StreamActions,
    *,
    method: markup.RefreshMethod | None = None,
    scroll: markup.RefreshScroll | None = None,
) -> None:
    """Enqueue a refresh of ``stream``: what :meth:`turbo.Stream.refresh_later` calls.

    The id of the request being served (:func:`turbo.refreshes.current_request_id`)
    is read now and travels with the task, so the tab that made the change
    ignores the refresh as it would a direct one.
    """
    _check_sync("refresh_later")
    markup.check_refresh_options(method, scroll)
    options = {"request_id": current_request_id(), "method": method, "scroll": scroll}
    _enqueue(stream, "refresh_later", [*_stream_reference(stream), "refresh", None, None, options])


def _check_sync(name: str) -> None:
    # Enqueueing may write to a database, and the immediate backend renders the
    # template right there: both would block the event loop.
    broadcast.check_sync(name, instead=f"await sync_to_async(stream.{name})(...)")


def _arguments(
    name: str,
    template: markup.TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    request: object = None,
    **options: Any,
) -> tuple[markup.TemplateName | None, Mapping[str, Any] | None, dict[str, Any]]:
    broadcast.check_no_request(name, request)
    return template, context, options


def _stream_reference(stream: StreamActions) -> list[Any]:
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


def _enqueue(stream: StreamActions, name: str, arguments: list[Any]) -> None:
    framework()  # a missing framework is an error even where nothing would be enqueued
    if broadcasts_suppressed(type(stream)):
        return

    def enqueue() -> None:
        # By name, as a worker finds it: making the task reads the TASKS
        # setting, and this module is imported (by turbo.Stream) before
        # settings are configured.
        import_string(TASK).enqueue(*arguments)

    # The task framework knows nothing of transactions: a worker could run
    # the task before the rows it reads are committed, or after a rollback.
    if after_commit(enqueue, "Enqueueing %s() of %s failed", name, stream) is None:
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
