"""The registry of streams, filled by autodiscovering every app's ``streams.py``."""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import TYPE_CHECKING, TypeVar

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import module_has_submodule

from turbo.streams import ModelStream, Stream, StreamDescriptor

if TYPE_CHECKING:
    from types import ModuleType

    from django.db.models import Model

S = TypeVar("S", bound=type[Stream])

#: The model attribute a ModelStream is reached through, unless its Meta says otherwise.
ATTRIBUTE = "stream"


class StreamRegistry:
    """Streams by name, and model streams by model."""

    def __init__(self) -> None:
        self._by_name: dict[str, type[Stream]] = {}
        # By model, then by the attribute each stream is reached through.
        self._by_model: dict[type[Model], dict[str, type[ModelStream]]] = {}

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
        if issubclass(stream_class, ModelStream):
            self._attach(stream_class)
        self._by_name[name] = stream_class
        if issubclass(stream_class, ModelStream) and apps.models_ready:
            # Registered while or after the app registry readies (autodiscovery,
            # a late import, a test): its model's receivers are connected now.
            # Imported here: turbo.hooks needs this module.
            from turbo import hooks

            hooks.connect(stream_class.model())
        return stream_class

    def _attach(self, stream_class: type[ModelStream]) -> None:
        model = stream_class.model()
        attribute = stream_class._meta.attribute
        # getattr_static: plain getattr would call an inherited descriptor.
        current = inspect.getattr_static(model, attribute, None)
        if isinstance(current, StreamDescriptor):
            if attribute in model.__dict__ and current.stream_class is not stream_class:
                raise ImproperlyConfigured(
                    f"{current.stream_class.__qualname__} and {stream_class.__qualname__} "
                    f"both claim {model._meta.label}.{attribute}; give one another "
                    f"attribute in its Meta (attribute = '...')."
                )
        elif current is not None:
            raise ImproperlyConfigured(
                f"{stream_class.__qualname__} cannot add '.{attribute}' to "
                f"{model._meta.label}: the model already defines that attribute."
            )
        setattr(model, attribute, StreamDescriptor(stream_class))
        self._by_model.setdefault(model, {})[attribute] = stream_class

    def get(self, name: str) -> type[Stream]:
        """The stream class named ``name`` (``"app_label:ClassName"``).

        Raises :exc:`LookupError` listing the registered names.
        """
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise LookupError(f"No stream named {name!r}; registered streams: {known}.") from None

    def names(self) -> list[str]:
        """The names of every registered stream, sorted."""
        return sorted(self._by_name)

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

    def streams_for_model(self, model: type[Model]) -> list[type[ModelStream]]:
        """Every ModelStream of ``model``, one per attribute, as :meth:`for_model` picks them."""
        attributes = {a: None for klass in model.__mro__ for a in self._by_model.get(klass, {})}
        return [s for s in (self.for_model(model, a) for a in attributes) if s is not None]

    def discover_module(self, module: ModuleType) -> list[type[Stream]]:
        """Register the concrete streams *defined* in ``module``.

        Classes the module merely imports (a shared base class, another app's
        stream) and abstract ones are left alone.
        """
        found = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, Stream)
            and value.__module__ == module.__name__
            and not value._meta.abstract
        ]
        for stream_class in found:
            self.register(stream_class)
        return found

    def autodiscover(self) -> None:
        """Import each installed app's ``streams`` module and register its streams."""
        for config in apps.get_app_configs():
            if module_has_submodule(config.module, "streams"):
                self.discover_module(import_module(f"{config.name}.streams"))


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
