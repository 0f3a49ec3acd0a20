"""Model-bound Hotwire Turbo Streams for Django, over Django Channels."""

from __future__ import annotations

from typing import NoReturn

from turbo import fragments
from turbo.components import Component, UserComponent
from turbo.declarative import dom_id
from turbo.fragments import Fragment
from turbo.http import (
    HttpResponseSeeOther,
    TurboStreamResponse,
    accepts_turbo_stream,
    see_other,
    turbo_stream,
)
from turbo.markup import AFTER, APPEND, BEFORE, PREPEND, REMOVE, REPLACE, UPDATE
from turbo.model_streams import ModelStream
from turbo.registry import register, registry
from turbo.revocation import areauthorize, reauthorize
from turbo.shortcuts import remove_frame, render_frame, render_frame_string
from turbo.streams import Stream
from turbo.suppression import suppress_broadcasts

#: turbo-django's name of :data:`registry`.
stream_registry = registry

__all__ = [
    "AFTER",
    "APPEND",
    "BEFORE",
    "PREPEND",
    "REMOVE",
    "REPLACE",
    "UPDATE",
    "Component",
    "Fragment",
    "HttpResponseSeeOther",
    "ModelStream",
    "Stream",
    "TurboStreamResponse",
    "UserComponent",
    "accepts_turbo_stream",
    "areauthorize",
    "dom_id",
    "fragments",
    "reauthorize",
    "register",
    "registry",
    "remove_frame",
    "render_frame",
    "render_frame_string",
    "see_other",
    "stream_registry",
    "suppress_broadcasts",
    "turbo_stream",
]

# turbo-django's top-level names that have no counterpart here, and what to write instead.
_RETIRED = {
    "TurboRender": "render_frame(request, template, context) or "
    "render_frame_string(text), then an action: .append(id=...)",
    "autodiscover": "nothing: the app's ready() discovers every app's streams.py",
    "autodiscover_streams": "nothing: the app's ready() discovers every app's streams.py",
    "send_broadcast": "a stream's action method, e.g. SomeStream().append(template, context, "
    "id=...)",
    "broadcast_stream": "a stream's action method, e.g. room.stream.append(template, context, "
    "id=...)",
}


def __getattr__(name: str) -> NoReturn:
    if name in _RETIRED:
        raise AttributeError(
            f"turbo.{name} is turbo-django's; django-turbo-streams has no {name}. "
            f"Write {_RETIRED[name]} (docs: migrating)."
        )
    raise AttributeError(f"module 'turbo' has no attribute {name!r}")
