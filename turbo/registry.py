"""The registry of streams, filled by autodiscovering every app's ``streams.py``.

A plain store: it imports no stream class. A stream class registers itself
through :meth:`StreamRegistry.register`, which asks it to
``contribute_to_registry()`` first: a :class:`~turbo.ModelStream` adds its
attribute to its model there, and is stored by model.
"""

from __future__ import annotations

import inspect
import sys
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, TypeVar, runtime_checkable

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

    from django.db.models import Model

    from turbo.model_streams import ModelStream
    from turbo.streams import Stream

S = TypeVar("S", bound="type[Stream]")

#: The model attribute a ModelStream is reached through, unless its Meta says otherwise.
ATTRIBUTE = "stream"


@runtime_checkable
class Registrable(Protocol):
    """What the registry asks of a class it registers: :class:`turbo.Stream` is one."""

    _meta: Any

    @classmethod
    def stream_name(cls) -> str:
        """The name the class is registered under."""
        ...

    @classmethod
    def contribute_to_registry(cls, registry: StreamRegistry) -> None:
        """Called as ``registry`` registers the class, before it is stored by name."""
        ...


class StreamRegistry:
    """Streams by name, and model streams by model."""

    def __init__(self) -> None:
        self._by_name: dict[str, type[Stream]] = {}
        # By model, then by the attribute each stream is reached through.
        self._by_model: dict[type[Model], dict[str, type[ModelStream]]] = {}
        # streams_for_model()'s answers: every save asks.
        self._streams_of: dict[type[Model], list[type[ModelStream]]] = {}

    def register(self, stream_class: S) -> S:
        """Register ``stream_class``; a ModelStream also gets its ``.stream``.

        A ModelStream's hooks run from then on, also for a class registered
        after the app registry is ready. Registering the same class twice is a
        no-op. Raises
        :exc:`~django.core.exceptions.ImproperlyConfigured` for an abstract
        stream, a name already taken, or a model whose ``stream`` attribute is
        already claimed.
        """
        if stream_class._meta.abstract:
            raise ImproperlyConfigured(f"{stream_class.__qualname__} is abstract.")
        name = stream_class.stream_name()
        existing = self._by_name.get(name)
        if existing is stream_class:
            return stream_class
        if existing is not None:
            raise ImproperlyConfigured(
                f"Two streams are named {name!r}: {existing.__module__}."
                f"{existing.__qualname__} and {stream_class.__module__}."
                f"{stream_class.__qualname__}."
            )
        stream_class.contribute_to_registry(self)
        self._by_name[name] = stream_class
        return stream_class

    def add_for_model(
        self, model: type[Model], attribute: str, stream_class: type[ModelStream]
    ) -> None:
        """Store ``stream_class`` as the stream reached as ``instance.<attribute>`` on ``model``.

        What :meth:`~turbo.ModelStream.contribute_to_registry` calls.
        """
        self._by_model.setdefault(model, {})[attribute] = stream_class
        # A stream of a parent model is a stream of its children too.
        self._streams_of.clear()

    def _remove_for_model(self, model: type[Model], attribute: str) -> None:
        """Undo :meth:`add_for_model` (the tests' ``register_late`` fixture does)."""
        del self._by_model[model][attribute]
        self._streams_of.clear()

    def classes(self) -> list[type[Stream]]:
        """Every registered stream class, in the order registered."""
        return list(self._by_name.values())

    def get(self, name: str) -> type[Stream]:
        """The stream class named ``name`` (``"app_label:ClassName"``).

        Raises :exc:`LookupError` listing the registered names.
        """
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise LookupError(f"No stream named {name!r}; registered streams: {known}.") from None

    def get_stream(self, app_name: str, stream_name: str) -> type[Stream]:
        """turbo-django's lookup by app and class name: ``get(f"{app_name}:{stream_name}")``.

        Unlike theirs, an unknown name raises :exc:`LookupError` rather than
        give ``None``.
        """
        return self.get(f"{app_name}:{stream_name}")

    def get_stream_names(self) -> list[str]:
        """turbo-django's list of every registered stream's name, in the order registered."""
        return list(self._by_name)

    def add_stream(self, app_name: str, stream_name: str, stream: type[Stream]) -> None:
        """turbo-django's registration by name: a :exc:`TypeError` pointing to :meth:`register`.

        A stream's name here is always ``"<app_label>:<ClassName>"``, so a name
        given apart from the class could disagree with it.
        """
        raise TypeError(
            f"add_stream() is turbo-django's: register the class with "
            f"turbo.registry.register({stream.__qualname__}) (or the @turbo.register "
            f"decorator); its name comes from the class, with Meta.app_label to set "
            f"{app_name!r}."
        )

    def for_model(self, model: type[Model], attribute: str = ATTRIBUTE) -> type[ModelStream] | None:
        """The ModelStream reached as ``instance.<attribute>`` on ``model``, if any.

        The most specific registered class in the model's MRO wins, so saves
        through a proxy or a multi-table child reach the parent's stream.
        """
        for klass in model.__mro__:
            found = self._by_model.get(klass, {}).get(attribute)
            if found is not None:
                return found
        return None

    def streams_for_model(self, model: type[Model]) -> Sequence[type[ModelStream]]:
        """Every ModelStream of ``model``, one per attribute, as :meth:`for_model` picks them."""
        found = self._streams_of.get(model)
        if found is None:
            attributes = {a: None for k in model.__mro__ for a in self._by_model.get(k, {})}
            found = [s for s in (self.for_model(model, a) for a in attributes) if s is not None]
            self._streams_of[model] = found
        return found

    def discover_module(
        self, module: ModuleType, app_label: str | None = None
    ) -> list[type[Stream]]:
        """Register the concrete streams of ``module``, an app's ``streams.py``.

        Those it defines, and those it imports: a stream written in another
        module (``from .live import RoomStream``) is registered as if defined
        here. It keeps the name of the app its own module belongs to; one from
        a module outside every installed app, without ``Meta.app_label``, takes
        ``app_label``, that of the app whose ``streams.py`` imports it. Abstract
        streams are left alone; a stream registered already stays as it is.
        """
        found = [
            value
            for value in vars(module).values()
            if inspect.isclass(value) and _registrable(value) and not value._meta.abstract
        ]
        for stream_class in found:
            if app_label is not None:
                stream_class._meta.default_app_label(app_label)
            self.register(stream_class)
        return found

    def autodiscover(self) -> None:
        """Import each installed app's ``streams`` module and register its streams."""
        autodiscover_modules("streams")
        for config in apps.get_app_configs():
            module = sys.modules.get(f"{config.name}.streams")
            if module is not None:
                self.discover_module(module, config.label)


def _registrable(value: type) -> TypeGuard[type[Stream]]:
    """Whether ``value`` has :class:`Registrable`'s members, read without running them.

    ``stream_name`` computes the name, which raises for a stream whose app is
    not known yet; ``isinstance()`` would read it on Python 3.11.
    """
    members = ("_meta", "stream_name", "contribute_to_registry")
    return all(inspect.getattr_static(value, name, None) is not None for name in members)


#: The project-wide registry.
registry = StreamRegistry()


def register(stream_class: S) -> S:
    """Class decorator registering a stream defined outside ``streams.py``.

    ::

        @turbo.register
        class TickerStream(turbo.Stream):
            ...
    """
    return registry.register(stream_class)
