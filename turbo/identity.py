"""A stream's identity: its constructor's arguments, bound and made canonical JSON.

Two streams built with the same arguments, however they were passed, have one
identity, hence one group; a signed token carries the identity as JSON, and
the stream it rebuilds is equal.
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder

if TYPE_CHECKING:
    from turbo.streams import Stream


def json_normalised(value: list[Any] | dict[str, Any], stream_class: type[Stream]) -> Any:
    """``value`` as JSON gives it back (UUID -> str, tuple -> list).

    Normalising makes the group of a stream rebuilt from a token equal.
    Strings and ints (most primary keys) come back as they went in.
    :exc:`TypeError` names ``stream_class`` if a value is not JSON.
    """
    items = value.values() if isinstance(value, dict) else value
    if all(type(item) in (str, int) for item in items):
        return value
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    except TypeError as error:
        raise TypeError(
            f"{stream_class.__qualname__} arguments must be JSON-serialisable "
            f"(ints, strings, UUIDs...), since they become part of its identity: {error}"
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
