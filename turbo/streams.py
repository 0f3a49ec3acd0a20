"""Streams: named broadcast targets, and streams bound to model instances."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, Self, cast, overload

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder

from turbo import broadcast as _broadcast
from turbo import fragments

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import Model

    from turbo.fragments import Fragment

P = ParamSpec("P")

#: Prefix of every channel-layer group a stream uses.
GROUP_PREFIX = "turbo."


class StreamOptions:
    """What a stream's ``class Meta`` declares, as ``StreamClass._meta``."""

    def __init__(
        self,
        stream_class: type[Stream],
        *,
        abstract: bool = False,
        app_label: str | None = None,
        model: type[Model] | None = None,
    ) -> None:
        self.stream_class = stream_class
        self.abstract = abstract
        self.model = model
        self._app_label = app_label

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

    @property
    def name(self) -> str:
        """The stream's public name, ``"<app_label>:<ClassName>"``."""
        return f"{self.app_label}:{self.stream_class.__name__}"


def _json_normalised(value: list[Any] | dict[str, Any], stream_class: type[Stream]) -> Any:
    # A token carries the identity as JSON: normalising to what JSON gives back
    # (UUID -> str, tuple -> list) makes the group of a rebuilt stream equal.
    # Strings and ints (most primary keys) come back as they went in.
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


def _broadcasts(
    build: Callable[P, Fragment], example: str
) -> Callable[Concatenate[Stream, P], None]:
    @wraps(build)
    def method(self: Stream, *args: P.args, **kwargs: P.kwargs) -> None:
        _broadcast.broadcast(self, [build(*args, **kwargs)], name=build.__name__)

    method.__doc__ = (
        f"Broadcast a ``{build.__name__}`` fragment to this stream's subscribers.\n\n"
        f"Takes the arguments of :func:`turbo.fragments.{build.__name__}`. Example::\n\n"
        f"    {example}\n\n"
        f"Inside a transaction, it is rendered and sent when the transaction commits, "
        f"and not at all if it rolls back. Async code uses "
        f"``await stream.a{build.__name__}(...)``."
    )
    return cast("Callable[Concatenate[Stream, P], None]", method)


def _abroadcasts(
    build: Callable[P, Fragment],
) -> Callable[Concatenate[Stream, P], Coroutine[Any, Any, None]]:
    @wraps(build)
    async def method(self: Stream, *args: P.args, **kwargs: P.kwargs) -> None:
        await _broadcast.abroadcast(self, [build(*args, **kwargs)])

    method.__name__ = method.__qualname__ = f"a{build.__name__}"
    method.__doc__ = (
        f"Async twin of :meth:`{build.__name__}`: ``await stream.a{build.__name__}(...)``."
    )
    return cast("Callable[Concatenate[Stream, P], Coroutine[Any, Any, None]]", method)


class Stream:
    """A named broadcast target that pages subscribe to.

    Subclass it in an app's ``streams.py``; its name is
    ``"<app_label>:<ClassName>"``. Arguments given to the constructor become
    part of the stream's identity, so ``NotificationStream(user_id=3)`` and
    ``NotificationStream(user_id=4)`` reach different subscribers::

        class NotificationStream(turbo.Stream):
            def __init__(self, user_id):
                self.user_id = user_id

            def user_passes_test(self, user):
                return user.pk == self.user_id

        NotificationStream(user_id=3).append(text="Hi", id="notifications")
    """

    _meta: ClassVar[StreamOptions]
    _init_args: tuple[Any, ...]
    _init_kwargs: dict[str, Any]

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        meta = cls.__dict__.get("Meta")
        parent = getattr(cls, "_meta", None)
        cls._meta = StreamOptions(
            cls,
            abstract=getattr(meta, "abstract", False),
            app_label=getattr(meta, "app_label", None),
            model=getattr(meta, "model", parent.model if parent else None),
        )

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if cls._meta.abstract:
            raise TypeError(f"{cls.__qualname__} is abstract; subclass it to make a stream.")
        stream = super().__new__(cls)
        stream._init_args = args
        stream._init_kwargs = kwargs
        return stream

    @classmethod
    def stream_name(cls) -> str:
        """The stream class's name, ``"<app_label>:<ClassName>"``."""
        return cls._meta.name

    def identity(self) -> tuple[list[Any], dict[str, Any]]:
        """The JSON-normalised arguments that tell this stream from its siblings.

        :meth:`from_identity` rebuilds an equal stream from them: that is what
        a signed subscription token carries.
        """
        return (
            _json_normalised(list(self._init_args), type(self)),
            _json_normalised(self._init_kwargs, type(self)),
        )

    @classmethod
    def from_identity(cls, args: list[Any], kwargs: dict[str, Any]) -> Self:
        """Rebuild the stream that :meth:`identity` described."""
        return cls(*args, **kwargs)

    @cached_property
    def group(self) -> str:
        """The channel-layer group of this stream.

        A digest of the name and identity: stable across processes and
        restarts, and within Channels' limit of 100 characters of
        ``[A-Za-z0-9._-]`` however long the name or arguments are.
        """
        key = json.dumps(
            [self.stream_name(), *self.identity()],
            sort_keys=True,
            separators=(",", ":"),
        )
        return GROUP_PREFIX + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def user_passes_test(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Whether ``user`` may subscribe to this stream; everyone by default.

        Override it to restrict a stream, e.g. ``return user.is_authenticated``.
        """
        return True

    def broadcast(self, *fragments: Fragment) -> None:
        """Broadcast several fragments in one message, rendered once.

        ``room.stream.broadcast(fragments.append(...), fragments.update(...))``
        applies both on every subscribed page at once.
        """
        _broadcast.broadcast(self, fragments, name="broadcast")

    async def abroadcast(self, *fragments: Fragment) -> None:
        """Async twin of :meth:`broadcast`: ``await stream.abroadcast(...)``."""
        await _broadcast.abroadcast(self, fragments)

    append = _broadcasts(
        fragments.append,
        'room.stream.append("chat/message.html", {"message": m}, id="messages")',
    )
    prepend = _broadcasts(
        fragments.prepend,
        'feed.stream.prepend("feed/item.html", {"item": i}, id="items")',
    )
    replace = _broadcasts(
        fragments.replace,
        'room.stream.replace("chat/message.html", {"message": m}, id=f"message-{m.pk}")',
    )
    update = _broadcasts(fragments.update, 'room.stream.update(text="3 online", id="online")')
    before = _broadcasts(
        fragments.before,
        'list.stream.before("todo/item.html", {"item": i}, id="new-item")',
    )
    after = _broadcasts(
        fragments.after, 'list.stream.after("todo/item.html", {"item": i}, id="item-4")'
    )
    remove = _broadcasts(fragments.remove, 'room.stream.remove(id=f"message-{m.pk}")')
    refresh = _broadcasts(fragments.refresh, 'board.stream.refresh(method="morph")')
    aappend = _abroadcasts(fragments.append)
    aprepend = _abroadcasts(fragments.prepend)
    areplace = _abroadcasts(fragments.replace)
    aupdate = _abroadcasts(fragments.update)
    abefore = _abroadcasts(fragments.before)
    aafter = _abroadcasts(fragments.after)
    aremove = _abroadcasts(fragments.remove)
    arefresh = _abroadcasts(fragments.refresh)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.group == self.group

    def __hash__(self) -> int:
        return hash(self.group)

    def __str__(self) -> str:
        args, kwargs = self.identity()
        shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"{self.stream_name()}({', '.join(shown)})"

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {self}>"


# __init_subclass__ gives every subclass its options; the root needs its own.
Stream._meta = StreamOptions(Stream, abstract=True)


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
    """

    class Meta:
        abstract = True

    pk: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls._meta.abstract and cls._meta.model is None:
            raise ImproperlyConfigured(
                f"{cls.__qualname__} needs a model: add 'class Meta: model = ...' "
                f"(or 'abstract = True' for a base class)."
            )

    def __init__(self, instance: Model) -> None:
        if instance.pk is None:
            raise ValueError(
                f"{type(instance).__name__} instance has no primary key yet: save it "
                f"before using its stream."
            )
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
    def model(cls) -> type[Model]:
        """The model class this stream is bound to."""
        assert cls._meta.model is not None  # enforced in __init_subclass__
        return cls._meta.model

    @cached_property
    def instance(self) -> Model:
        """The model instance, loaded from the database if built by :meth:`for_pk`."""
        return self.model()._default_manager.get(pk=self.pk)

    def identity(self) -> tuple[list[Any], dict[str, Any]]:
        """The instance's primary key, JSON-normalised."""
        return _json_normalised([self.pk], type(self)), {}

    @classmethod
    def from_identity(cls, args: list[Any], kwargs: dict[str, Any]) -> Self:
        """Rebuild the stream from the primary key :meth:`identity` gave."""
        return cls.for_pk(*args, **kwargs)

    def on_save(self, instance: Any, created: bool, *args: Any, **kwargs: Any) -> None:
        """Called after a save of ``instance`` is committed; does nothing by default.

        ``created`` is true when the transaction inserted the row. Saves of one
        instance within a transaction are coalesced into one call; ``kwargs``
        carry ``using`` and ``update_fields`` (``None`` for a full save).
        """

    def on_delete(self, instance: Any, *args: Any, **kwargs: Any) -> None:
        """Called after a delete of ``instance`` is committed; does nothing by default.

        ``instance`` keeps its primary key and foreign-key ids as they were
        before the delete. An instance created and deleted in the same
        transaction calls neither hook. ``kwargs`` carry ``using``.
        """

    @classmethod
    def has_hooks(cls) -> bool:
        """Whether the class overrides :meth:`on_save` or :meth:`on_delete`."""
        return cls.on_save is not ModelStream.on_save or cls.on_delete is not ModelStream.on_delete


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
