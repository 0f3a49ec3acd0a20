"""Streams: named broadcast targets, and streams bound to model instances."""

from __future__ import annotations

import hashlib
import inspect
import json
from functools import cached_property
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Concatenate,
    Literal,
    ParamSpec,
    Self,
    get_args,
    overload,
)

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import ForeignKey

from turbo import broadcast as _broadcast
from turbo import fragments, refreshes, suppression

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from contextlib import AbstractContextManager

    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import Model

    from turbo.fragments import Fragment

P = ParamSpec("P")

#: Prefix of every channel-layer group a stream uses.
GROUP_PREFIX = "turbo."


#: What ``class Meta`` may declare, with the defaults; all but ``abstract`` and
#: ``app_label`` are inherited from the parent class's Meta.
_OPTIONS: dict[str, Any] = {
    "abstract": False,
    "app_label": None,
    "model": None,
    "attribute": "stream",
    "broadcasts": False,
    "broadcasts_refreshes": False,
    "broadcasts_target": None,
    "broadcasts_template": None,
    "broadcasts_inserts_by": "append",
}
_MODEL_OPTIONS = frozenset(_OPTIONS) - {"abstract", "app_label"}


class StreamOptions:
    """What a stream's ``class Meta`` declares, as ``StreamClass._meta``.

    ``abstract`` and ``app_label`` apply to any stream; the other options to
    model streams (:class:`ModelStream` documents them).
    """

    abstract: bool
    model: type[Model] | None
    #: The model attribute the stream is reached through (``"stream"``).
    attribute: str
    broadcasts: bool | str
    broadcasts_refreshes: bool | str
    broadcasts_inserts_by: fragments.InsertAction
    broadcasts_target: str | None
    broadcasts_template: fragments.TemplateName | None

    def __init__(
        self, stream_class: type[Stream], meta: type | None, parent: StreamOptions | None
    ) -> None:
        self.stream_class = stream_class
        declared = {k: v for k, v in vars(meta).items() if not k.startswith("_")} if meta else {}
        unknown = sorted(set(declared) - set(_OPTIONS))
        if unknown:
            raise TypeError(
                f"{stream_class.__qualname__}.Meta got unknown option(s) {', '.join(unknown)}; "
                f"the options are {', '.join(_OPTIONS)}."
            )
        for name in _MODEL_OPTIONS | {"abstract"}:
            inherited = parent is not None and name != "abstract"
            default = getattr(parent, name) if inherited else _OPTIONS[name]
            setattr(self, name, declared.get(name, default))
        self._app_label: str | None = declared.get("app_label")
        self._check_declared_broadcasts()

    def _check_declared_broadcasts(self) -> None:
        for name in ("broadcasts", "broadcasts_refreshes"):
            value = getattr(self, name)
            if not isinstance(value, bool | str) or value == "":
                raise TypeError(
                    f"{self.stream_class.__qualname__}.Meta.{name} must be True, False or "
                    f"the name of a relation of the model, not {value!r}."
                )
        if self.broadcasts_inserts_by not in get_args(fragments.InsertAction):
            raise TypeError(
                f"{self.stream_class.__qualname__}.Meta.broadcasts_inserts_by must be one of "
                f"{get_args(fragments.InsertAction)}, not {self.broadcasts_inserts_by!r}."
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

    @property
    def name(self) -> str:
        """The stream's public name, ``"<app_label>:<ClassName>"``."""
        return f"{self.app_label}:{self.stream_class.__name__}"

    @cached_property
    def init_signature(self) -> inspect.Signature:
        """The signature of ``StreamClass(...)``: its ``__init__``'s, without ``self``.

        :meth:`Stream.identity` binds the constructor's arguments to it.
        """
        signature = inspect.signature(self.stream_class.__init__)
        return signature.replace(parameters=list(signature.parameters.values())[1:])


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


def _canonical_arguments(
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


def _broadcasts(
    build: Callable[P, Fragment], example: str
) -> Callable[Concatenate[Stream, P], None]:
    def method(self: Stream, /, *args: P.args, **kwargs: P.kwargs) -> None:
        _broadcast.broadcast(self, [build(*args, **kwargs)], name=build.__name__)

    doc = (
        f"Broadcast a ``{build.__name__}`` fragment to this stream's subscribers.\n\n"
        f"Takes the arguments of :func:`turbo.fragments.{build.__name__}` but "
        f"``request=``: a broadcast never renders with a request (see :doc:`security`). "
        f"Example::\n\n"
        f"    {example}\n\n"
        f"Inside a transaction, it is rendered and sent when the transaction commits, "
        f"and not at all if it rolls back. Async code uses "
        f"``await stream.a{build.__name__}(...)``."
    )
    fragments.method_of(build, method, name=build.__name__, doc=doc, returns="None")
    return method


def _abroadcasts(
    build: Callable[P, Fragment],
) -> Callable[Concatenate[Stream, P], Coroutine[Any, Any, None]]:
    name = f"a{build.__name__}"

    async def method(self: Stream, /, *args: P.args, **kwargs: P.kwargs) -> None:
        await _broadcast.abroadcast(self, [build(*args, **kwargs)], name=name)

    doc = f"Async twin of :meth:`{build.__name__}`: ``await stream.{name}(...)``."
    fragments.method_of(build, method, name=name, doc=doc, returns="None")
    return method


def _broadcasts_later(
    build: Callable[P, Fragment], example: str
) -> Callable[Concatenate[Stream, P], None]:
    action = build.__name__

    def method(self: Stream, /, *args: P.args, **kwargs: P.kwargs) -> None:
        # Imported on use: the Tasks framework is optional, and turbo.tasks
        # needs the registry, which imports this module.
        from turbo import tasks

        tasks.broadcast_later(self, action, *args, **kwargs)

    doc = (
        f"Like :meth:`{action}`, but rendered and sent by a background task.\n\n"
        f"``{example}`` only enqueues the task (inside a transaction, when it "
        f"commits); model instances in the context travel as their primary key "
        f"and are reloaded when the task runs, which skips the broadcast if one "
        f"was deleted meanwhile. Takes no ``request=``, as no broadcast does. "
        f"See :doc:`background`."
    )
    fragments.method_of(build, method, name=f"{action}_later", doc=doc, returns="None")
    return method


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
        cls._meta = StreamOptions(cls, cls.__dict__.get("Meta"), getattr(cls, "_meta", None))

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

        They are the constructor's arguments bound to its parameters, defaults
        included, each given by name where the signature allows it: so
        ``PrivateStream(3)``, ``PrivateStream(owner_id=3)`` and, with a
        default ``kind="all"``, ``UserStream(3, kind="all")`` and
        ``UserStream(3)`` are one stream each. :meth:`from_identity` rebuilds
        an equal stream from them: that is what a signed subscription token
        carries.
        """
        args, kwargs = _canonical_arguments(type(self), self._init_args, self._init_kwargs)
        return _json_normalised(args, type(self)), _json_normalised(kwargs, type(self))

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

    @classmethod
    def suppress_broadcasts(cls) -> AbstractContextManager[None]:
        """Silence this class's broadcasts, and the hooks it runs, inside a ``with`` block.

        ``with MessageStream.suppress_broadcasts(): load_messages()`` imports
        without broadcasting a message, while other streams' broadcasts go on.
        See :func:`turbo.suppress_broadcasts`.
        """
        return suppression.suppress_broadcasts(cls)

    def broadcast(self, *fragments: Fragment) -> None:
        """Broadcast several fragments in one message, rendered once.

        ``room.stream.broadcast(fragments.append(...), fragments.update(...))``
        applies both on every subscribed page at once. A fragment built with
        ``request=`` raises :exc:`TypeError`: it is for a response.
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
    aappend = _abroadcasts(fragments.append)
    aprepend = _abroadcasts(fragments.prepend)
    areplace = _abroadcasts(fragments.replace)
    aupdate = _abroadcasts(fragments.update)
    abefore = _abroadcasts(fragments.before)
    aafter = _abroadcasts(fragments.after)
    aremove = _abroadcasts(fragments.remove)

    def refresh(
        self,
        *,
        method: fragments.RefreshMethod | None = None,
        scroll: fragments.RefreshScroll | None = None,
    ) -> None:
        """Tell every subscribed page to reload itself from the server (Turbo 8).

        ``board.stream.refresh(method="morph", scroll="preserve")`` morphs each
        page into its new version, keeping scroll position and focus. The
        refresh carries the id of the request being served (with
        :class:`~turbo.middleware.TurboMiddleware`), so the tab whose request
        made the change does not reload. Repeated refreshes are sent once per
        transaction, per request, and per :setting:`TURBO_REFRESH_DEBOUNCE`
        seconds (:mod:`turbo.refreshes`).
        """
        refreshes.refresh(self, method=method, scroll=scroll)

    async def arefresh(
        self,
        *,
        method: fragments.RefreshMethod | None = None,
        scroll: fragments.RefreshScroll | None = None,
    ) -> None:
        """Async twin of :meth:`refresh`: ``await stream.arefresh(method="morph")``."""
        await refreshes.arefresh(self, method=method, scroll=scroll)

    append_later = _broadcasts_later(
        fragments.append,
        'room.stream.append_later("chat/message.html", {"message": m}, id="messages")',
    )
    prepend_later = _broadcasts_later(
        fragments.prepend,
        'feed.stream.prepend_later("feed/item.html", {"item": i}, id="items")',
    )
    replace_later = _broadcasts_later(
        fragments.replace,
        'room.stream.replace_later("chat/message.html", {"message": m}, id=f"message-{m.pk}")',
    )
    update_later = _broadcasts_later(
        fragments.update,
        'room.stream.update_later("chat/count.html", {"room": room}, id="count")',
    )
    before_later = _broadcasts_later(
        fragments.before,
        'list.stream.before_later("todo/item.html", {"item": i}, id="new-item")',
    )
    after_later = _broadcasts_later(
        fragments.after,
        'list.stream.after_later("todo/item.html", {"item": i}, id="item-4")',
    )

    def refresh_later(
        self,
        *,
        method: fragments.RefreshMethod | None = None,
        scroll: fragments.RefreshScroll | None = None,
    ) -> None:
        """Like :meth:`refresh`, but sent by a background task.

        ``board.stream.refresh_later(method="morph")`` only enqueues the task
        (inside a transaction, when it commits); the id of the request being
        served travels with it, so the tab whose request made the change still
        does not reload. See :doc:`background`.
        """
        # Imported on use, as in _broadcasts_later.
        from turbo import tasks

        tasks.refresh_later(self, method=method, scroll=scroll)

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
Stream._meta = StreamOptions(Stream, Stream.Meta, None)


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

    def broadcast_declared(self, instance: Any, change: Change) -> None:
        """Make the broadcasts ``Meta.broadcasts`` and ``Meta.broadcasts_refreshes`` declare.

        Called after a commit like the hooks, with ``change`` one of
        ``"create"``, ``"update"`` and ``"delete"``.
        """
        meta = self._meta
        if meta.broadcasts:
            for stream in self._declared_streams(instance, meta.broadcasts, change, own=False):
                if change == "delete":
                    stream.remove(id=dom_id(instance))
                    continue
                template = meta.broadcasts_template or _default_template(instance)
                context = {instance._meta.model_name: instance, "object": instance}
                if change == "update":
                    stream.replace(template, context, id=dom_id(instance))
                else:
                    target = meta.broadcasts_target or f"{instance._meta.model_name}_list"
                    getattr(stream, meta.broadcasts_inserts_by)(template, context, id=target)
        if meta.broadcasts_refreshes:
            declared = meta.broadcasts_refreshes
            for stream in self._declared_streams(instance, declared, change, own=True):
                stream.refresh()

    def _declared_streams(
        self, instance: Any, declared: bool | str, change: Change, *, own: bool
    ) -> list[Stream]:
        mine: Stream = self.collection() if change == "create" else self
        if declared is True:
            return [mine]
        assert isinstance(declared, str)  # checked by StreamOptions
        related = related_stream(instance, declared)
        return [s for s in (mine if own else None, related) if s is not None]

    @classmethod
    def has_hooks(cls) -> bool:
        """Whether saves and deletes run anything: overridden hooks, or declared broadcasts."""
        return (
            cls.on_save is not ModelStream.on_save
            or cls.on_delete is not ModelStream.on_delete
            or bool(cls._meta.broadcasts or cls._meta.broadcasts_refreshes)
        )


Change = Literal["create", "update", "delete"]


def _default_template(instance: Model) -> str:
    return f"{instance._meta.app_label}/_{instance._meta.model_name}.html"


def dom_id(instance: Model | type[Model], prefix: str | None = None) -> str:
    """The conventional ``id`` of the element showing ``instance``: ``"message_3"``.

    ``dom_id(message, "edit")`` is ``"edit_message_3"``; an unsaved instance
    or the model class gives ``"new_message"``. Templates use the filter:
    ``<li id="{{ message|dom_id }}">``. Declared broadcasts replace and remove
    elements by it.
    """
    meta = instance._meta
    pk = None if isinstance(instance, type) else instance.pk
    name = f"{meta.model_name}_{pk}" if pk is not None else f"new_{meta.model_name}"
    return f"{prefix}_{name}" if prefix else name


def related_stream(instance: Model, name: str) -> Stream | None:
    """The stream of ``instance``'s relation ``name``, or ``None`` if it is empty.

    A foreign key's stream is built from its id, without loading the row: it
    works in ``on_delete`` after a cascade deleted the related row too.
    """
    from turbo.registry import registry

    try:
        field = instance._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    if isinstance(field, ForeignKey):  # one-to-one fields too
        stream_class = registry.for_model(field.related_model)
        if stream_class is None:
            raise ImproperlyConfigured(
                f"{type(instance).__name__}.{name} leads to {field.related_model.__name__}, "
                f"which has no stream."
            )
        pk = getattr(instance, field.attname)
        return None if pk is None else stream_class.for_pk(pk)
    related = getattr(instance, name)
    if related is None:
        return None
    if isinstance(related, Stream):
        return related
    stream = getattr(related, "stream", None)
    if not isinstance(stream, Stream):
        raise ImproperlyConfigured(
            f"{type(instance).__name__}.{name} must be a relation to a model with a stream, "
            f"or a Stream; it is {related!r}."
        )
    return stream


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
