"""Sending rendered broadcasts: the channel layer, the history beside it, the send.

Failures of the channel layer are logged, never raised into the caller: a
``save()`` must not fail because Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from turbo import conf
from turbo.history.entries import layer_message, positioned
from turbo.history.layers import for_layer
from turbo.history.placeholders import flush_placeholders, skip
from turbo.hub import allow_backlog
from turbo.loops import consumer_connected, run_in_loop

logger = logging.getLogger("turbo")

# The in-memory layer's warning (no consumer in this process) is logged once.
_warned_in_memory = False


class Target(Protocol):
    """What a broadcast goes to: a stream, as :class:`turbo.Stream` is.

    Its ``str()`` names it in logs; it is only computed for them.
    """

    @property
    def group(self) -> str:
        """The channel-layer group of the stream."""


def _channel_layer(target: Target) -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured(
            "turbo broadcasts need a channel layer: set CHANNEL_LAYERS, e.g. "
            "{'default': {'BACKEND': 'channels.layers.InMemoryChannelLayer'}}."
        )
    # The flag first: once warned, a sync save pays nothing more for the warning.
    if not _warned_in_memory and isinstance(layer, InMemoryChannelLayer):
        _warn_in_memory_without_consumers(target)
    allow_backlog(layer)  # once per layer: it remembers the layers it has seen
    return layer


def _warn_in_memory_without_consumers(target: Target) -> None:
    global _warned_in_memory
    if not consumer_connected():
        _warned_in_memory = True
        logger.warning(
            "Broadcast to %s on the in-memory channel layer, in a process where no turbo "
            "websocket has connected, so no browser receives it. If this process serves "
            "the pages, no page has opened the websocket: is it routed "
            "(turbo.routing.websocket_application() in asgi.py's ProtocolTypeRouter, "
            "ASGI_APPLICATION set), is the server an ASGI one (daphne or uvicorn; for "
            "runserver, 'daphne' first in INSTALLED_APPS), does the page render "
            "{%% turbo_head %%} and {%% turbo_subscribe %%}? If it is a shell, a command or "
            "a worker: the in-memory layer does not cross processes; use a channels_redis "
            "layer.",
            target,
        )


def publish(layer: Any, target: Target, html: str) -> None:
    """Send the markup ``html`` to ``target`` on ``layer``, from sync code; failures are logged."""
    message = layer_message(target.group, html)
    try:
        run_in_loop(lambda: deliver(layer, message))
    except Exception:
        logger.exception("Broadcast to %s failed", target)


async def apublish(layer: Any, target: Target, html: str) -> None:
    """Async twin of :func:`publish`."""
    try:
        await deliver(layer, layer_message(target.group, html))
    except Exception:
        logger.exception("Broadcast to %s failed", target)


def destination(target: Target) -> Any:
    """The channel layer to send a broadcast to, or ``None`` to skip it, unrendered.

    Skipped when there is no layer (logged), and when this process can tell
    without a round trip that no page watches the stream: with a history, it
    knows the streams pages watch (:meth:`turbo.history.History.watched`),
    and records a placeholder in the skipped broadcast's place, without
    waiting for it; without one, the in-memory layer's groups all live in
    this process. Without a history, a Redis layer would need a round trip,
    which costs about what the send does.
    """
    try:
        layer = _channel_layer(target)
    except ImproperlyConfigured:
        logger.exception("Broadcast to %s failed", target)
        return None
    kept = for_layer(layer)
    if kept is None:
        if isinstance(layer, InMemoryChannelLayer) and not layer.groups.get(target.group):
            return None
    elif not kept.watched(target.group):
        skip(layer, target.group)
        return None
    return layer


async def deliver(layer: Any, payload: dict[str, Any]) -> None:
    """Record a broadcast in the history beside ``layer``, if one is kept, and send it.

    Recorded first: a page subscribing in between finds it in the history,
    and a page receiving it can tell which of its stream's broadcasts came
    before (``previous``) and whether it missed any. Both together may take
    :setting:`TURBO_REDIS_TIMEOUT`; past it, :exc:`TimeoutError` is raised.
    """
    budget = conf.redis_timeout()
    try:
        await asyncio.wait_for(_record_and_send(layer, payload), budget)
    except TimeoutError:
        raise TimeoutError(
            f"the channel layer or the history did not answer within TURBO_REDIS_TIMEOUT "
            f"({budget} s)"
        ) from None


async def _record_and_send(layer: Any, payload: dict[str, Any]) -> None:
    kept = for_layer(layer)
    if kept is not None:
        await flush_placeholders(layer)
        payload = positioned(payload, await kept.record(payload["group"], payload["html"]))
    await layer.group_send(payload["group"], payload)
