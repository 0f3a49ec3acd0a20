"""Stream history: a position for every broadcast, and what a returning page missed.

Every broadcast is recorded before it is sent, and gets a position: a number
from one sequence shared by all streams, under an *epoch* naming that
sequence. A page is rendered with the position of the moment its request
started; when it subscribes (or subscribes again after a reconnect) with the
last position it applied, the server sends it what the stream broadcast since,
or says that the history no longer reaches back that far. Each message also
carries the position of the stream's previous one, so a client sees a gap
(two processes can publish in the opposite order from the one they recorded
in) and never applies a message twice.

The history lives in the channel layer's Redis with a channels_redis layer, in
the process with the in-memory layer, or nowhere (:setting:`TURBO_HISTORY`).
It holds the streams that broadcast within :setting:`TURBO_HISTORY_MAX_AGE`;
of those it forgot, only the latest position, after which none of them
broadcast (:attr:`Entry.previous`).

This package gathers the public names of its modules: :mod:`~turbo.history.entries`
(positions, entries, the :class:`History` protocol), :mod:`~turbo.history.memory`
and :mod:`~turbo.history.redis` (the two stores), :mod:`~turbo.history.layers`
(which store a channel layer keeps), :mod:`~turbo.history.positions` (the
position a page renders) and :mod:`~turbo.history.reads` (one read for the
pages asking about a stream at once).
"""

from __future__ import annotations

from turbo.history.entries import (
    MESSAGE_TYPE,
    PLACEHOLDER,
    UNKNOWN,
    Entry,
    History,
    Log,
    Position,
    Recorded,
    covering,
    layer_message,
    positioned,
)
from turbo.history.layers import for_layer
from turbo.history.marks import Marks, WatchedTable
from turbo.history.memory import MEMORY_MAX_STREAMS, MemoryHistory
from turbo.history.placeholders import flush_placeholders, skip
from turbo.history.positions import apage_position, page_position, page_rendered_from
from turbo.history.reads import read_since
from turbo.history.redis import RedisHistory
from turbo.history.watching import keep_marked, mark_watched, mark_watched_soon

__all__ = [
    "MEMORY_MAX_STREAMS",
    "MESSAGE_TYPE",
    "PLACEHOLDER",
    "UNKNOWN",
    "Entry",
    "History",
    "Log",
    "Marks",
    "MemoryHistory",
    "Position",
    "Recorded",
    "RedisHistory",
    "WatchedTable",
    "apage_position",
    "covering",
    "flush_placeholders",
    "for_layer",
    "keep_marked",
    "layer_message",
    "mark_watched",
    "mark_watched_soon",
    "page_position",
    "page_rendered_from",
    "positioned",
    "read_since",
    "skip",
]
