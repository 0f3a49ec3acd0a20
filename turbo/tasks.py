"""The background task that renders and sends broadcasts, on Django's Tasks framework.

``room.stream.append_later(...)`` and its siblings enqueue
:func:`render_and_broadcast` (:mod:`turbo.later`) instead of rendering in the
request. The worker rebuilds the stream, reloads the context's instances,
renders the fragment and broadcasts it. Importing this module makes the task,
which reads the ``TASKS`` setting.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.safestring import mark_safe

from turbo import fragments, markup
from turbo.later import framework
from turbo.refreshes import use_request_id
from turbo.registry import registry

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.db.models import Model

    from turbo.streams import Stream

logger = logging.getLogger("turbo")


def _as_task(function: Callable[..., None]) -> Any:
    try:
        tasks = framework()
    except ImproperlyConfigured:
        # This module still imports (for the docs); enqueueing calls framework()
        # first (turbo.later), which raises the error that says what to install.
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
    stream.broadcast(fragments.fragment(cast("markup.Action", action), template, loaded, **options))


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
    references: Sequence[list[Any]], stream: Stream, action: str, key: str
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
