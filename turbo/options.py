"""What a stream's ``class Meta`` declares: :class:`StreamOptions`, as ``StreamClass._meta``."""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import TYPE_CHECKING, Any, get_args

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from turbo import hook_calls
from turbo.markup import InsertAction
from turbo.registry import ATTRIBUTE

if TYPE_CHECKING:
    from django.db.models import Model

    from turbo.hook_calls import HookCall
    from turbo.markup import TemplateName
    from turbo.streams import Stream

#: What ``class Meta`` may declare, with the defaults.
_OPTIONS: dict[str, Any] = {
    "abstract": False,
    "app_label": None,
    "model": None,
    "attribute": ATTRIBUTE,
    "broadcasts": False,
    "broadcasts_refreshes": False,
    "broadcasts_target": None,
    "broadcasts_template": None,
    "broadcasts_inserts_by": "append",
}
# Inherited from the parent class's Meta; ``model`` only from an abstract
# parent, as a Django model's Meta is, so that a subclass of a concrete stream
# names its own model rather than share its parent's.
_INHERITED = frozenset(_OPTIONS) - {"abstract", "app_label", "model"}


class StreamOptions:
    """What a stream's ``class Meta`` declares, as ``StreamClass._meta``.

    ``abstract`` and ``app_label`` apply to any stream; the other options to
    model streams (:class:`~turbo.ModelStream` documents them). ``abstract``
    and ``app_label`` are never inherited, ``model`` only from an abstract
    parent, the others from the parent's Meta.
    """

    abstract: bool
    model: type[Model] | None
    #: The model attribute the stream is reached through (``"stream"``).
    attribute: str
    broadcasts: bool | str
    broadcasts_refreshes: bool | str
    broadcasts_inserts_by: InsertAction
    broadcasts_target: str | None
    broadcasts_template: TemplateName | None

    def __init__(
        self, stream_class: type[Stream], meta: type | None, parent: StreamOptions | None
    ) -> None:
        self.stream_class = stream_class
        declared = {k: v for k, v in vars(meta).items() if not k.startswith("_")} if meta else {}
        if "app_name" in declared:  # turbo-django's name of app_label
            app_name = declared.pop("app_name")
            if declared.setdefault("app_label", app_name) != app_name:
                raise TypeError(
                    f"{stream_class.__qualname__}.Meta sets app_name (turbo-django's name of "
                    f"app_label) and app_label to different values; keep app_label only."
                )
        unknown = sorted(set(declared) - set(_OPTIONS))
        if unknown:
            raise TypeError(
                f"{stream_class.__qualname__}.Meta got unknown option(s) {', '.join(unknown)}; "
                f"the options are {', '.join(_OPTIONS)}."
            )
        for name in _INHERITED:
            default = getattr(parent, name) if parent is not None else _OPTIONS[name]
            setattr(self, name, declared.get(name, default))
        self.abstract = declared.get("abstract", False)
        inherited_model = parent.model if parent is not None and parent.abstract else None
        self.model = declared.get("model", inherited_model)
        #: The concrete parent whose model this class did not inherit, for the error.
        self.concrete_parent = parent.stream_class if parent and not parent.abstract else None
        self._app_label: str | None = declared.get("app_label")
        self._hook_calls: dict[str, HookCall] = {}
        self._check_declared_broadcasts()

    def _check_declared_broadcasts(self) -> None:
        for name in ("broadcasts", "broadcasts_refreshes"):
            value = getattr(self, name)
            if not isinstance(value, bool | str) or value == "":
                raise TypeError(
                    f"{self.stream_class.__qualname__}.Meta.{name} must be True, False or "
                    f"the name of a relation of the model, not {value!r}."
                )
        if self.broadcasts_inserts_by not in get_args(InsertAction):
            raise TypeError(
                f"{self.stream_class.__qualname__}.Meta.broadcasts_inserts_by must be one of "
                f"{get_args(InsertAction)}, not {self.broadcasts_inserts_by!r}."
            )

    @cached_property
    def app_label(self) -> str:
        """The label of the app whose module defines the stream."""
        if self._app_label is not None:
            return self._app_label
        config = apps.get_containing_app_config(self.stream_class.__module__)
        if config is None:
            raise ImproperlyConfigured(
                f"{self.stream_class.__qualname__} is defined in "
                f"{self.stream_class.__module__!r}, which is not part of an installed "
                f"app; set app_label in its class Meta."
            )
        return config.label

    def default_app_label(self, label: str) -> None:
        """Take app ``label`` unless something else names the stream's app.

        That is, unless ``Meta`` sets ``app_label`` or the stream's module is
        part of an installed app. Autodiscovery gives a stream that an app's
        ``streams.py`` imports from outside any app that app's label, as
        turbo-django named it.
        """
        if self._app_label is None and not apps.get_containing_app_config(
            self.stream_class.__module__
        ):
            self._app_label = label
            self.__dict__.pop("app_label", None)

    @property
    def app_name(self) -> str:
        """turbo-django's name of :attr:`app_label`: the same value."""
        return self.app_label

    @property
    def name(self) -> str:
        """The stream's public name, ``"<app_label>:<ClassName>"``."""
        return f"{self.app_label}:{self.stream_class.__name__}"

    @cached_property
    def init_signature(self) -> inspect.Signature:
        """The signature of ``StreamClass(...)``: its ``__init__``'s, without ``self``.

        :meth:`~turbo.Stream.identity` binds the constructor's arguments to it.
        """
        signature = inspect.signature(self.stream_class.__init__)
        return signature.replace(parameters=list(signature.parameters.values())[1:])

    def hook_call(self, hook: str) -> HookCall:
        """The class's ``on_save`` or ``on_delete`` bound to its signature.

        Read once per hook function (:func:`turbo.hook_calls.bind`), again only
        if the class's hook is replaced. Raises :exc:`TypeError` for a hook
        that cannot be called.
        """
        function = getattr(self.stream_class, hook)
        call = self._hook_calls.get(hook)
        if call is None or call.function is not function:
            call = hook_calls.bind(function, hook, self.stream_class.__qualname__)
            self._hook_calls[hook] = call
        return call
