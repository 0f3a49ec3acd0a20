"""Streams: named broadcast targets that pages subscribe to.

:class:`Stream` holds what a stream is (its name, identity and group) and who
may subscribe; what it broadcasts is :class:`turbo.stream_actions.StreamActions`.
Streams bound to model instances are :mod:`turbo.model_streams`.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Self

from turbo import raw_markup
from turbo.identity import canonical_arguments, json_normalised, restored
from turbo.options import StreamOptions
from turbo.stream_actions import StreamActions
from turbo.suppression import suppress_broadcasts

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from turbo.fragments import Fragment
    from turbo.registry import StreamRegistry

#: Prefix of every channel-layer group a stream uses.
GROUP_PREFIX = "turbo."


def group_of(key: str) -> str:
    """The channel-layer group of a stream whose name and identity ``key`` spells in JSON."""
    return GROUP_PREFIX + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


class StreamName(str):
    """A stream's name that can also be called, returning itself.

    Ours is a method, ``RoomStream.stream_name()``, turbo-django's a property,
    ``RoomStream.stream_name``: as a string that is callable, both spellings
    give ``"chat:RoomStream"``, and an f-string or a template shows the name,
    not a bound method::

        assert RoomStream.stream_name == RoomStream.stream_name() == "chat:RoomStream"
    """

    __slots__ = ()

    def __call__(self) -> str:
        return str(self)


class StreamNameDescriptor:
    """Gives :class:`StreamName` of the owner class, on the class and on instances."""

    def __init__(self, name_of: Callable[[Any], str]) -> None:
        self.name_of = name_of
        self.__doc__ = name_of.__doc__

    def __get__(self, instance: object, owner: type) -> StreamName:
        return StreamName(self.name_of(owner))


class Stream(StreamActions):
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

    @StreamNameDescriptor
    def stream_name(cls) -> str:
        """The stream class's name, ``"<app_label>:<ClassName>"``.

        Call it, ``RoomStream.stream_name()``, or read it as turbo-django's
        property was read, ``RoomStream.stream_name``: it is a :class:`StreamName`,
        a string that returns itself when called. Both work on an instance and
        in a template, ``{{ stream.stream_name }}``.
        """
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
        args, kwargs = canonical_arguments(type(self), self._init_args, self._init_kwargs)
        return json_normalised(args, type(self)), json_normalised(kwargs, type(self))

    @classmethod
    def from_identity(cls, args: list[Any], kwargs: dict[str, Any]) -> Self:
        """Rebuild the stream that :meth:`identity` described.

        A model instance given to the constructor comes back as an instance of
        its model with only its primary key loaded (:func:`turbo.identity.restored`):
        ``user == self.user`` and ``self.user.pk`` need no query, other fields
        load when first read.
        """
        return cls(*restored(args), **restored(kwargs))

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
        return group_of(key)

    def user_passes_test(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Whether ``user`` may subscribe to this stream; everyone by default.

        Override it to restrict a stream, e.g. ``return user.is_authenticated``.
        """
        return True

    def stream(self, *fragments: Fragment) -> None:
        """turbo-django's name of :meth:`broadcast`: ``stream.stream(frame)``.

        Takes the frames of :mod:`turbo.shortcuts` (``render_frame_string(text)
        .update(id="count")``) or any fragments, and sends them in one message.
        """
        self._broadcast_now("stream", *fragments)

    def stream_raw(self, markup: str) -> None:
        """Broadcast ``<turbo-stream>`` elements written by hand (turbo-django's method).

        ``markup`` is sent as written, so it must be made of ``<turbo-stream>``
        elements, each with an action, and nothing else but whitespace; anything
        else raises :exc:`ValueError` saying where (:mod:`turbo.raw_markup`).
        The caller vouches for what the elements hold, as for ``mark_safe()``::

            stream.stream_raw('<turbo-stream action="remove" target="draft"></turbo-stream>')

        Prefer an action method, which escapes: ``stream.remove(id="draft")``.
        """
        self._broadcast_now("stream_raw", *raw_markup.parse(markup, "stream_raw"))

    async def astream_raw(self, markup: str) -> None:
        """Async twin of :meth:`stream_raw`: ``await stream.astream_raw(...)``.

        There is no ``stream_raw_later``: the markup is already rendered.
        """
        await self._abroadcast_now("astream_raw", *raw_markup.parse(markup, "astream_raw"))

    @classmethod
    def suppress_broadcasts(cls) -> AbstractContextManager[None]:
        """Silence this class's broadcasts, and the hooks it runs, inside a ``with`` block.

        ``with MessageStream.suppress_broadcasts(): load_messages()`` imports
        without broadcasting a message, while other streams' broadcasts go on.
        See :func:`turbo.suppress_broadcasts`.
        """
        return suppress_broadcasts(cls)

    @classmethod
    def contribute_to_registry(cls, registry: StreamRegistry) -> None:
        """Called as ``registry`` registers the class; a plain stream needs nothing.

        :class:`~turbo.ModelStream` adds its attribute to its model here.
        """

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
