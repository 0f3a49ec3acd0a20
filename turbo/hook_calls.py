"""How a ModelStream's ``on_save``/``on_delete`` is called: bound to its signature once.

turbo-django called the hooks with the signal's arguments, everything after
the instance by name (``on_save(instance, signal=..., created=..., update_fields=...,
raw=..., using=...)``); our documentation writes ``on_save(self, instance,
created, *args, **kwargs)``. Both, and any signature that can take what is
offered, work: :func:`bind` reads the hook's signature once per hook
function, and :class:`HookCall` passes each value where that signature takes
it, and leaves out what it does not.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: What each hook is offered after the instance, as turbo-django's signal
#: receiver passed it (``sender`` aside: the instance's class).
OFFERED: Final[Mapping[str, tuple[str, ...]]] = {
    "on_save": ("created", "update_fields", "raw", "using", "signal"),
    "on_delete": ("using", "origin", "signal"),
}

#: The value that may also go by position, as our documentation writes it.
POSITIONAL: Final = "created"

_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class HookCall:
    """A hook function and where its signature takes each offered value."""

    function: Callable[..., Any]
    #: Offered names passed by position after the instance, in order.
    positional: tuple[str, ...]
    #: Offered names passed by name.
    named: tuple[str, ...]

    def __call__(self, stream: object, instance: object, values: Mapping[str, Any]) -> None:
        """Call the hook of ``stream`` with ``instance`` and the ``values`` it takes."""
        self.function(
            stream,
            instance,
            *[values[name] for name in self.positional],
            **{name: values[name] for name in self.named},
        )


def bind(function: Callable[..., Any], hook: str, owner: str) -> HookCall:
    """Read ``function``'s signature (a method, ``self`` first) for the hook named ``hook``.

    An offered value goes by name where a parameter has its name or the hook
    takes ``**kwargs``; ``created`` goes by position into the first positional
    parameter after the instance that names no offered value (``def on_save(self,
    obj, is_new)``), else into ``*args``. Raises :exc:`TypeError`, naming
    ``owner``, for a hook that cannot take the instance by position or has a
    required parameter that nothing fills.
    """
    offered = OFFERED[hook]
    parameters = list(inspect.signature(function).parameters.values())[1:]
    kinds = {p.kind for p in parameters}
    if not parameters or parameters[0].kind not in (
        *_BY_POSITION,
        inspect.Parameter.VAR_POSITIONAL,
    ):
        raise _unfit(owner, hook, offered, "it must take the instance as its first argument")
    rest = parameters[1:] if parameters[0].kind in _BY_POSITION else parameters
    by_name = {
        p.name
        for p in rest
        if p.kind is not inspect.Parameter.POSITIONAL_ONLY and p.name in offered
    }
    takes_kwargs = inspect.Parameter.VAR_KEYWORD in kinds
    slots = [p for p in rest if p.kind in _BY_POSITION and p.name not in by_name]
    positional: list[str] = []
    if POSITIONAL in offered and POSITIONAL not in by_name:
        if slots:
            positional.append(POSITIONAL)
            slots.pop(0)
        elif not takes_kwargs and inspect.Parameter.VAR_POSITIONAL in kinds:
            positional.append(POSITIONAL)
    named = tuple(n for n in offered if n not in positional and (n in by_name or takes_kwargs))
    unfilled = [p.name for p in slots if p.default is inspect.Parameter.empty] + [
        p.name
        for p in rest
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.default is inspect.Parameter.empty
        and p.name not in named
    ]
    if unfilled:
        raise _unfit(owner, hook, offered, f"nothing fills its parameter {unfilled[0]!r}")
    return HookCall(function, tuple(positional), named)


def _unfit(owner: str, hook: str, offered: tuple[str, ...], why: str) -> TypeError:
    example = "instance, created, **kwargs" if hook == "on_save" else "instance, **kwargs"
    return TypeError(
        f"{owner}.{hook}() cannot be called: {why}. A hook takes the instance, then any "
        f"of {', '.join(offered)} by name; write e.g. 'def {hook}(self, {example})'."
    )
