"""A stream's identity: its constructor's arguments, bound and made canonical JSON.

Two streams built with the same arguments, however they were passed, have one
identity, hence one group; a signed token carries the identity as JSON, and
the stream it rebuilds is equal. A model instance among the arguments is
recorded as its model and primary key (:func:`model_reference`), and comes
back as an instance of that model that has loaded nothing but its primary
key (:func:`restored`): rebuilding a stream, which the websocket consumer does
in async code, never queries the database.
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model

if TYPE_CHECKING:
    from turbo.streams import Stream

#: The key of the JSON object that stands for a model instance in an identity.
MODEL_KEY = "turbo.model"


class IdentityEncoder(DjangoJSONEncoder):
    """Django's JSON encoder, and model instances as :func:`model_reference` gives them."""

    def default(self, o: Any) -> Any:
        if isinstance(o, Model):
            return model_reference(o)
        return super().default(o)


def model_reference(instance: Model) -> dict[str, Any]:
    """The model and primary key that stand for ``instance`` in an identity.

    ``{"turbo.model": "auth.user", "pk": 3}``. The model is the concrete one,
    as Django compares instances: a proxy's instance is the same stream
    argument as its concrete model's. Raises :exc:`ValueError` for an unsaved
    instance: it has no identity yet.
    """
    if instance.pk is None:
        raise ValueError(
            f"{type(instance).__name__} instance has no primary key yet: save it before "
            f"passing it to a stream."
        )
    model = instance._meta.concrete_model or type(instance)
    return {MODEL_KEY: model._meta.label_lower, "pk": instance.pk}


def restored(value: Any) -> Any:
    """``value`` with each :func:`model_reference` in it made an instance again.

    The instance has loaded its primary key only, so building it queries
    nothing; each other field loads on first use, as a deferred field does
    (in sync code: ``user_passes_test`` runs there). A reference to an unknown
    model raises :exc:`ValueError`.
    """
    if isinstance(value, list):
        return [restored(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.keys() == {MODEL_KEY, "pk"}:
        try:
            model = apps.get_model(value[MODEL_KEY])
        except (LookupError, ValueError, TypeError) as error:
            raise ValueError(f"No model {value[MODEL_KEY]!r}: {error}") from None
        pk = model._meta.pk
        return model.from_db(None, [pk.attname], [pk.to_python(value["pk"])])
    return {key: restored(item) for key, item in value.items()}


def json_normalised(value: list[Any] | dict[str, Any], stream_class: type[Stream]) -> Any:
    """``value`` as JSON gives it back (UUID -> str, tuple -> list, instance -> reference).

    Normalising makes the group of a stream rebuilt from a token equal.
    Strings and ints (most primary keys) come back as they went in.
    :exc:`TypeError` names ``stream_class`` if a value is not JSON.
    """
    items = value.values() if isinstance(value, dict) else value
    if all(type(item) in (str, int) for item in items):
        return value
    try:
        return json.loads(json.dumps(value, cls=IdentityEncoder))
    except TypeError as error:
        raise TypeError(
            f"{stream_class.__qualname__} arguments must be JSON-serialisable (ints, "
            f"strings, UUIDs...) or saved model instances, since they become part of its "
            f"identity: {error}"
        ) from None


def canonical_arguments(
    stream_class: type[Stream], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """``args`` and ``kwargs`` bound to ``stream_class``'s constructor, defaults applied.

    A parameter that can be named is given by name (a token then still means
    the same after parameters are reordered); positional-only ones, ``*args``,
    and the parameters before a non-empty ``*args`` are given by position.
    """
    try:
        bound = stream_class._meta.init_signature.bind(*args, **kwargs)
    except (TypeError, ValueError):  # no signature to bind to: keep them as given
        return list(args), dict(kwargs)
    bound.apply_defaults()
    parameters = bound.signature.parameters
    by_position = any(
        parameters[name].kind is inspect.Parameter.VAR_POSITIONAL and value
        for name, value in bound.arguments.items()
    )
    positional: list[Any] = []
    named: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        elif kind is inspect.Parameter.POSITIONAL_ONLY or (
            kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and by_position
        ):
            positional.append(value)
        else:
            named[name] = value
    return positional, named
