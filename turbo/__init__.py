"""Model-bound Hotwire Turbo Streams for Django, over Django Channels."""

from __future__ import annotations

from turbo import fragments
from turbo.broadcast import suppress_broadcasts
from turbo.fragments import Fragment
from turbo.http import TurboStreamResponse, accepts_turbo_stream
from turbo.registry import register, registry
from turbo.streams import ModelStream, Stream

__all__ = [
    "Fragment",
    "ModelStream",
    "Stream",
    "TurboStreamResponse",
    "accepts_turbo_stream",
    "fragments",
    "register",
    "registry",
    "suppress_broadcasts",
]
