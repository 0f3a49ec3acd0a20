"""Streams bound to model instances: :class:`ModelStream`, reached as ``instance.stream``."""

from __future__ import annotations

import inspect
import json
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Self, overload

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model

from turbo import hooks
from turbo.declarative import Change, broadcast_declared
from turbo.identity import json_normalised
from turbo.streams import Stream, group_of

if TYPE_CHECKING:
    from turbo.registry import StreamRegistry

#: Groups a ModelStream class remembers (:attr:`ModelStream.group`); past that, it starts over.
GROUPS_REMEMBERED: Final = 10_000

_groups: dict[type[ModelStream], dict[Any, str]] = {}


class ModelStream(Stream):
    """A stream per model instance, reached as ``instance.stream``.

    Declare the model in ``class Meta``; override :meth:`on_save` and
    :meth:`on_delete` to broadcast when instances change::

        class MessageStream(turbo.ModelStream):
            class Meta:
                model = Message

            def on_save(self, message, created, *args, **kwargs):
                if created:
                    message.room.stream.append(
                        "chat/message.html", {"message": message}, id="messages")

    The hooks run after the transaction commits, never for a rolled-back one.
    ``class Meta`` may also declare (docs: "Declarative broadcasts"):

    - ``attribute``: the model attribute the stream is reached through,
      ``"stream"`` by default; a model can have several streams, each under
      its own attribute.
    - ``broadcasts``: ``True`` appends a created instance's template to the
      model's :meth:`collection` stream, and replaces or removes it on its own
      stream when it changes or goes; the name of a relation (``"room"``)
      does all three on the related instance's stream instead.
    - ``broadcasts_refreshes``: ``True`` refreshes the instance's own stream
      when it changes or goes, and the collection when one is created; the
      name of a relation refreshes the related instance's stream too.
    - ``broadcasts_template`` (default ``"<app_label>/_<model_name>.html"``,
      given the instance as ``<model_name>`` and ``object``),
      ``broadcasts_target`` (default ``"<model_name>_list"``) and
      ``broadcasts_inserts_by`` (``"append"`` or ``"prepend"``).
    """

    class Meta:
        abstract = True

    pk: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls._meta.abstract and cls._meta.model is None:
            parent = cls._meta.concrete_parent
            inherited = (
                f" A stream inherits its model only from an abstract base, as a Django "
                f"model's Meta does; {parent.__qualname__} is not abstract."
                if parent is not None and parent._meta.model is not None
                else ""
            )
            raise ImproperlyConfigured(
                f"{cls.__qualname__} needs a model: add 'class Meta: model = ...' "
                f"(or 'abstract = True' for a base class).{inherited}"
            )

    def __init__(self, pk: Any = None, instance: Model | None = None) -> None:
        """The stream of a saved instance, ``RoomStream(room)`` (what ``room.stream`` gives).

        turbo-django's forms work too: ``RoomStream(pk)`` is :meth:`for_pk`,
        and ``RoomStream(pk, room)`` or ``RoomStream(instance=room)`` the
        stream of ``room``.
        """
        model = self.model()
        if instance is None and isinstance(pk, model):
            # RoomStream(room): what room.stream and every hook build, first.
            key = pk.pk
            if key is not None:
                self.pk = key
                self.__dict__["instance"] = pk
                return
        if isinstance(pk, Model):
            if instance is not None and instance is not pk:
                raise TypeError(f"{type(self).__qualname__}() got two instances; pass one.")
            pk, instance = None, pk
        if instance is None:
            if pk is None:
                raise TypeError(
                    f"{type(self).__qualname__}() needs a {model._meta.label} instance or a "
                    f"primary key: {type(self).__qualname__}(room) or .for_pk(pk)."
                )
            self.pk = model._meta.pk.to_python(pk)
            return
        if not isinstance(instance, model):
            raise TypeError(
                f"{type(self).__qualname__} is the stream of {model._meta.label} instances, "
                f"not of {instance!r}."
            )
        if instance.pk is None:
            raise ValueError(
                f"{type(instance).__name__} instance has no primary key yet: save it "
                f"before using its stream."
            )
        if pk is not None and model._meta.pk.to_python(pk) != instance.pk:
            raise ValueError(f"{pk!r} is not the primary key of {instance!r}.")
        self.pk = instance.pk
        self.__dict__["instance"] = instance

    @classmethod
    def for_pk(cls, pk: Any) -> Self:
        """The stream of the instance with primary key ``pk``, without loading it.

        ``RoomStream.for_pk(message.room_id).remove(id=...)`` works even once the
        room is deleted; :attr:`instance` loads the row on first use.
        """
        stream = cls.__new__(cls)
        stream.pk = cls.model()._meta.pk.to_python(pk)
        return stream

    @classmethod
    def from_pk(cls, pk: Any) -> Self:
        """turbo-django's name of :meth:`for_pk`: ``RoomStream.from_pk(3)``."""
        return cls.for_pk(pk)

    @classmethod
    def from_instance(cls, instance: Model) -> Self:
        """turbo-django's spelling of ``RoomStream(room)``, which ``room.stream`` gives too."""
        return cls(instance)

    @classmethod
    def collection(cls) -> Self:
        """The stream of the model's whole collection, rather than of one instance.

        ``Meta.broadcasts = True`` appends created instances to it; a page
        listing them subscribes with ``{% turbo_subscribe messages %}`` given
        a queryset of the model. Its :attr:`pk` is ``None``.
        """
        stream = cls.__new__(cls)
        stream.pk = None
        return stream

    @classmethod
    def model(cls) -> type[Model]:
        """The model class this stream is bound to."""
        assert cls._meta.model is not None  # enforced in __init_subclass__
        return cls._meta.model

    @cached_property
    def instance(self) -> Model:
        """The model instance, loaded from the database if built by :meth:`for_pk`."""
        return self.model()._default_manager.get(pk=self.pk)

    @cached_property
    def group(self) -> str:
        """The channel-layer group of the instance's stream, as :attr:`turbo.Stream.group`.

        Remembered per primary key: every save computes it.
        """
        groups = _groups.setdefault(type(self), {})
        group = groups.get(self.pk)
        if group is None:
            if len(groups) >= GROUPS_REMEMBERED:
                groups.clear()
            if type(self.pk) is int:
                # What Stream.group digests, without normalising an int, which is as it is.
                group = group_of(f"[{json.dumps(self.stream_name())},[{self.pk}],{{}}]")
            else:
                group = super().group
            groups[self.pk] = group
        return group

    def identity(self) -> tuple[list[Any], dict[str, Any]]:
        """The instance's primary key, JSON-normalised."""
        return json_normalised([self.pk], type(self)), {}

    @classmethod
    def from_identity(cls, args: list[Any], kwargs: dict[str, Any]) -> Self:
        """Rebuild the stream from the primary key :meth:`identity` gave."""
        return cls.for_pk(*args, **kwargs)

    def on_save(self, instance: Any, created: bool, *args: Any, **kwargs: Any) -> None:
        """Called after a save of ``instance`` is committed; does nothing by default.

        ``created`` is true when the transaction inserted the row. Saves of one
        instance within a transaction are coalesced into one call; ``kwargs``
        carry ``update_fields`` (``None`` for a full save), ``using``, and, as
        turbo-django's signal gave them, ``raw`` (always false: raw saves run
        no hook) and ``signal`` (``post_save``). Any signature that takes the
        instance first works, ``def on_save(self, instance, **kwargs)`` too:
        each value goes where the signature takes it (:mod:`turbo.hook_calls`).
        """

    def on_delete(self, instance: Any, *args: Any, **kwargs: Any) -> None:
        """Called after a delete of ``instance`` is committed; does nothing by default.

        ``instance`` keeps its primary key and foreign-key ids as they were
        before the delete. An instance created and deleted in the same
        transaction calls neither hook. ``kwargs`` carry ``using``, ``origin``
        (the instance or queryset whose delete started it) and ``signal``
        (``post_delete``).
        """

    def broadcast_declared(self, instance: Any, change: Change) -> None:
        """Make the broadcasts ``Meta.broadcasts`` and ``Meta.broadcasts_refreshes`` declare.

        Called after a commit like the hooks, with ``change`` one of
        ``"create"``, ``"update"`` and ``"delete"`` (:mod:`turbo.declarative`).
        """
        broadcast_declared(self, instance, change)

    @classmethod
    def contribute_to_registry(cls, registry: StreamRegistry) -> None:
        """Add the stream's attribute to its model, and store it in ``registry`` by model.

        Registered once the app registry is ready (a late import, a test), the
        model's receivers are connected at once; else :class:`turbo.apps.TurboConfig`
        connects them. Raises :exc:`~django.core.exceptions.ImproperlyConfigured`
        if another stream or the model itself has the attribute.
        """
        model = cls.model()
        attribute = cls._meta.attribute
        # getattr_static: plain getattr would call an inherited descriptor.
        current = inspect.getattr_static(model, attribute, None)
        if isinstance(current, StreamDescriptor):
            if attribute in model.__dict__ and current.stream_class is not cls:
                raise ImproperlyConfigured(
                    f"{current.stream_class.__qualname__} and {cls.__qualname__} "
                    f"both claim {model._meta.label}.{attribute}; give one another "
                    f"attribute in its Meta (attribute = '...')."
                )
        elif current is not None:
            raise ImproperlyConfigured(
                f"{cls.__qualname__} cannot add '.{attribute}' to "
                f"{model._meta.label}: the model already defines that attribute."
            )
        cls._meta.hook_call("on_save")  # a hook that cannot be called fails here, not on save
        cls._meta.hook_call("on_delete")
        setattr(model, attribute, StreamDescriptor(cls))
        registry.add_for_model(model, attribute, cls)
        if apps.models_ready:
            hooks.connect(model)

    @classmethod
    def has_hooks(cls) -> bool:
        """Whether saves and deletes run anything: overridden hooks, or declared broadcasts."""
        return (
            cls.on_save is not ModelStream.on_save
            or cls.on_delete is not ModelStream.on_delete
            or bool(cls._meta.broadcasts or cls._meta.broadcasts_refreshes)
        )


class StreamDescriptor:
    """The ``.stream`` attribute a :class:`ModelStream` adds to its model.

    Nothing is computed when rows load: on an instance, ``.stream`` builds the
    instance's stream when accessed; on the model class it gives the stream
    class, e.g. ``Room.stream.for_pk(3)``.
    """

    def __init__(self, stream_class: type[ModelStream]) -> None:
        self.stream_class = stream_class

    @overload
    def __get__(self, instance: None, owner: type[Model]) -> type[ModelStream]: ...
    @overload
    def __get__(self, instance: Model, owner: type[Model]) -> ModelStream: ...
    def __get__(
        self, instance: Model | None, owner: type[Model]
    ) -> ModelStream | type[ModelStream]:
        if instance is None:
            return self.stream_class
        return self.stream_class(instance)
