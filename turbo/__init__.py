"""Model-bound Hotwire Turbo Streams for Django, over Django Channels."""

from __future__ import annotations

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
from turbo.model_streams import ModelStream
from turbo.registry import register, registry
from turbo.revocation import areauthorize, reauthorize
from turbo.streams import Stream
from turbo.suppression import suppress_broadcasts

__all__ = [
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
    "see_other",
    "suppress_broadcasts",
    "turbo_stream",
]
