"""turbo-django's positional targets, refused with the call to write instead.

turbo-django's actions took everything by position: ``update(template, context,
text, selector, id)`` and ``remove(selector, id)``. Ours take ``text=``,
``selector=`` and ``id=`` by name only, since a positional ``"#draft"`` reads
as an id as easily as a selector. :func:`names_targets` makes such a call
raise a :exc:`TypeError` that spells out the same call with the names.
"""

from __future__ import annotations

import functools
import inspect
import reprlib
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)

#: turbo-django's order of an action's arguments, with content and without.
CONTENT_ORDER: Final = ("template", "context", "text", "selector", "id")
TARGET_ORDER: Final = ("selector", "id")

# Values in a suggested call are shortened: a context can hold whole rows.
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60


def legacy_call(
    name: str, values: Sequence[Any], kwargs: dict[str, Any], order: Sequence[str]
) -> str:
    """The call ``name(*values, **kwargs)`` of turbo-django's ``order``, written with names.

    ``legacy_call("update", [None, None, "3 online", None, "count"], {}, CONTENT_ORDER)``
    gives ``"update(text='3 online', id='count')"``.
    """
    given = dict(zip(order, values, strict=False)) | kwargs
    arguments = [
        _repr.repr(given[name])
        for name in ("template", "context")
        if name in order and given.get(name) is not None
    ]
    arguments += [
        f"{key}={_repr.repr(value)}"
        for key, value in given.items()
        if key not in ("template", "context") and value is not None
    ]
    return f"{name}({', '.join(arguments)})"


def positional_targets_error(
    name: str, values: Sequence[Any], kwargs: dict[str, Any], order: Sequence[str]
) -> TypeError:
    """The error for ``name(*values, **kwargs)``: what to write instead, if we can tell."""
    named = ", ".join(f"{n}=" for n in order if n not in ("template", "context"))
    message = f"{name}() takes {named} by name only, not by position (as turbo-django did)"
    if len(values) <= len(order):
        return TypeError(f"{message}: write {legacy_call(name, values, kwargs, order)}.")
    return TypeError(f"{message}; it got {len(values)} positional arguments.")


def names_targets(function: Callable[P, R]) -> Callable[P, R]:
    """Make turbo-django's positional form of the action ``function`` a clear :exc:`TypeError`.

    The order is :data:`CONTENT_ORDER` if ``function`` takes a template, else
    :data:`TARGET_ORDER`; a method's ``self`` is skipped. Its signature, name
    and docstring stay ``function``'s (the wrapper sets ``__wrapped__``), and a
    coroutine function stays one. ``stream.remove("#draft")`` then raises
    ``remove() takes selector=, id= by name only ...: write remove(selector='#draft').``
    """
    parameters = list(inspect.signature(function).parameters.values())
    skip = 1 if parameters and parameters[0].name in ("self", "cls") else 0
    slots = sum(p.kind is not inspect.Parameter.KEYWORD_ONLY for p in parameters) - sum(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )
    order = CONTENT_ORDER if any(p.name == "template" for p in parameters) else TARGET_ORDER
    name = function.__name__

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if len(args) > slots:
            raise positional_targets_error(name, args[skip:], kwargs, order)

    if inspect.iscoroutinefunction(function):

        async def acall(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return await function(*args, **kwargs)

        return cast("Callable[P, R]", functools.update_wrapper(acall, function))

    def call(*args: Any, **kwargs: Any) -> Any:
        check(args, kwargs)
        return function(*args, **kwargs)

    return cast("Callable[P, R]", functools.update_wrapper(call, function))


def names_targets_of(cls: C) -> C:
    """Class decorator: :func:`names_targets` on each method that takes a template or an ``id``.

    Those are the actions, with their async and ``*_later`` twins; other
    methods, such as ``refresh``, are left as they are.
    """
    for attribute, value in list(vars(cls).items()):
        if inspect.isfunction(value) and {"template", "id"} & set(
            inspect.signature(value).parameters
        ):
            setattr(cls, attribute, names_targets(value))
    return cls
