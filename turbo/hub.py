"""One channel-layer subscription per stream per server process.

Stock Channels gives every consumer a channel of its own and has the layer
deliver a group message once per member socket: with a thousand sockets on a
stream, a thousand layer deliveries, each decoded and dispatched separately.
Here each server process (each event loop) has one :class:`Hub`, with one
channel, that joins a stream's group while any local socket holds the stream.
A broadcast therefore crosses the layer once per process; the hub encodes the
frame once and hands the same string to every local socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, Protocol
from weakref import WeakKeyDictionary

from channels.layers import InMemoryChannelLayer

from turbo import compat
from turbo.history import MESSAGE_TYPE, Position, keep_marked, mark_watched
from turbo.loops import cancel_and_wait
from turbo.watch import PROBE_TIMEOUT, PROBE_TYPE, Watch

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

logger = logging.getLogger("turbo")

#: The ``type`` of the channel-layer messages that tell sockets about their
#: identity (:mod:`turbo.identity_groups`): handed to listeners, not to the page.
NOTICE_TYPE: Final = "turbo.notice"

#: Prefix of the hubs' channel names.
CHANNEL_PREFIX: Final = "turbo-hub"

#: Messages a hub's channel may hold on the Redis core layer (whose default is
#: 100 per channel), unless ``channel_capacity`` in the layer's ``CONFIG``
#: names the hubs' channels (:data:`CHANNEL_PATTERN`).
CHANNEL_CAPACITY: Final = 10_000

#: The hubs' channels on the Redis core layer, as ``channel_capacity`` in its
#: ``CONFIG`` names them (:func:`new_channel`).
CHANNEL_PATTERN: Final = f"*!{CHANNEL_PREFIX}.*"

#: Seconds between attempts when the layer fails to deliver to the hub.
RECEIVE_RETRY_DELAY: Final = 1.0

#: Seconds a hub may spend writing a burst of queued messages before it lets
#: the event loop serve anything else (acks, new connections, other streams).
BURST_SLICE: Final = 0.1


class Subscriber(Protocol):
    """A local socket, as the hub sees it."""

    def deliver(self, frame: str, size: int) -> None:
        """Queue ``frame`` (``size`` bytes in UTF-8) for the socket; never blocks."""


class Listener(Protocol):
    """A local socket's taker of notices (:data:`NOTICE_TYPE` messages), as the hub sees it."""

    def notice(self, message: dict[str, Any]) -> None:
        """Take the layer's ``message`` for the socket; never blocks."""


def encode(message: dict[str, Any]) -> str:
    """The ``message`` frame carrying a broadcast's layer ``message`` (docs/protocol.rst).

    With a history, it tells the broadcast's position and its stream's
    previous one (:mod:`turbo.history`).
    """
    frame = {"type": "message", "stream": message["group"], "html": message["html"]}
    if "position" in message:
        epoch = message["epoch"]
        frame["position"] = str(Position(epoch, message["position"]))
        frame["previous"] = str(Position(epoch, message["previous"]))
    return json.dumps(frame, separators=(",", ":"))


_capacity_checked: WeakKeyDictionary[Any, bool] = WeakKeyDictionary()


def allow_backlog(layer: Any) -> None:
    """Let the hubs' channels hold :data:`CHANNEL_CAPACITY` messages on ``layer``.

    A hub pulls messages off its channel as fast as the layer hands them over,
    but under a burst from another process (1000 saves in a command, say) the
    Redis core layer can still collect more than its default capacity of 100
    for one channel, and drops the rest without a trace. That layer checks the
    capacity where messages are sent, so every process that broadcasts calls
    this. Other layers have no capacity to raise or none that a hub can reach.
    A capacity the layer's ``CONFIG`` gives the hubs' channels is kept.
    """
    if layer in _capacity_checked:
        return
    _capacity_checked[layer] = True
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # channels_redis is optional
        return
    if isinstance(layer, RedisChannelLayer):
        compat.default_channel_capacity(layer, CHANNEL_PATTERN, CHANNEL_CAPACITY)


async def new_channel(layer: Any) -> str:
    """A new channel for a hub on ``layer``: its process's sockets' own channels' up to a ``!``.

    ::

        await new_channel(layer)  # "specific.<process>!turbo-hub.<id>" on the core layer
    """
    name: str = await layer.new_channel(f"{CHANNEL_PREFIX}.")
    if "!" not in name:
        return name  # the pub/sub layer receives each channel apart
    # The core layer receives every channel of the process through one wait
    # on Redis for the part before the "!", under one lock: a hub whose part
    # differed from the sockets' own channels (own_channel) would wait behind
    # an idle socket's receive, and never be handed a broadcast.
    shared, _, _ = (await layer.new_channel()).partition("!")
    return f"{shared}!{CHANNEL_PREFIX}.{name.partition('!')[2]}"


class Hub:
    """The process's subscription to the channel layer, shared by its sockets.

    Get one with :func:`attach`; sockets then :meth:`join` and :meth:`leave`
    streams, and the hub joins a stream's group on the layer with the first
    local socket and leaves it with the last.

    On any layer but the in-memory one, which cannot fail, a :class:`turbo.watch.Watch`
    tells it when the layer may have lost broadcasts for it.
    """

    def __init__(self, layer: Any, on_stop: Callable[[Hub], None]) -> None:
        self.layer = layer
        self.on_stop = on_stop
        #: Local subscribers by group.
        self.members: dict[str, set[Subscriber]] = {}
        #: Local listeners by group (groups of notices, never of broadcasts).
        self.listeners: dict[str, set[Listener]] = {}
        #: Groups the hub's channel belongs to on the layer.
        self.joined: set[str] = set()
        self.sockets = 0
        self.channel = ""
        # Membership changes go to the layer one at a time: a leave and a join
        # of one group racing each other could otherwise end up unjoined.
        self.membership = asyncio.Lock()
        self.tasks: list[asyncio.Task[None]] = []
        self.watch = Watch(self)
        self.started: asyncio.Future[None] = asyncio.ensure_future(self._start())

    async def _start(self) -> None:
        allow_backlog(self.layer)
        self.channel = await new_channel(self.layer)
        self.tasks.append(asyncio.create_task(self._receive_forever()))
        if not isinstance(self.layer, InMemoryChannelLayer):
            await self.watch.begin()
            self.tasks.append(asyncio.create_task(self.watch.forever()))
        # The in-memory and Redis core layers forget a membership after
        # group_expiry seconds (a day by default): a tab left open that long
        # would go deaf. Renewing the memberships keeps them.
        expiry = getattr(self.layer, "group_expiry", None)
        if expiry:
            self.tasks.append(asyncio.create_task(self._renew_forever(expiry / 2)))
        self.tasks.append(asyncio.create_task(keep_marked(self.layer, lambda: self.joined)))

    async def join(self, group: str, subscriber: Subscriber) -> None:
        """Deliver ``group``'s broadcasts to ``subscriber`` from now on.

        Returns once the hub is in the group on the layer: a broadcast sent
        after that reaches the subscriber.
        """
        await self._enter(group)
        self.members.setdefault(group, set()).add(subscriber)

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        """Stop delivering ``group`` to ``subscriber``; the last one out leaves the group."""
        await self._exit(group, self.members, subscriber)

    async def listen(self, group: str, listener: Listener) -> None:
        """Hand ``group``'s notices to ``listener`` from now on, as :meth:`join` does broadcasts."""
        await self._enter(group)
        self.listeners.setdefault(group, set()).add(listener)

    async def unlisten(self, group: str, listener: Listener) -> None:
        """Stop handing ``group``'s notices to ``listener``; the last one out leaves the group."""
        await self._exit(group, self.listeners, listener)

    async def _enter(self, group: str) -> None:
        if self.started.done() and not self.started.cancelled() and self.started.exception():
            # The layer was unreachable when the hub started: try again.
            self.started = asyncio.ensure_future(self._start())
        await self.started
        if group not in self.joined:
            async with self.membership:
                if group not in self.joined:
                    await self.layer.group_add(group, self.channel)
                    self.joined.add(group)
                    await mark_watched(self.layer, [group])

    async def _exit(self, group: str, table: dict[str, set[Any]], local: object) -> None:
        members = table.get(group)
        if members is not None:
            members.discard(local)
            if members:
                return
            del table[group]
        async with self.membership:
            # A socket may have joined while this one waited for the lock.
            if group in self.joined and group not in self.members and group not in self.listeners:
                self.joined.discard(group)
                await self._discard(group)

    async def detach(self, groups: list[str], subscriber: Subscriber) -> None:
        """Leave ``groups`` for a socket that closed; the last socket stops the hub."""
        for group in groups:
            await self.leave(group, subscriber)
        self.sockets -= 1
        if self.sockets == 0:
            await self._stop()

    def dispatch(self, message: dict[str, Any]) -> None:
        """Hand one layer message to the local subscribers (or listeners) of its group."""
        if message.get("type") == NOTICE_TYPE:
            for listener in tuple(self.listeners.get(message["group"], ())):
                listener.notice(message)
            return
        if message.get("type") != MESSAGE_TYPE:
            logger.warning("The turbo hub ignored a %r message.", message.get("type"))
            return
        group = message["group"]
        members = self.members.get(group)
        if not members:
            return  # the last socket left while the message was on its way
        frame = encode(message)
        size = len(frame.encode())
        # A copy: a subscriber that falls too far behind closes, and leaves.
        for member in tuple(members):
            member.deliver(frame, size)

    async def _receive_forever(self) -> None:
        paused = monotonic()
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                self.watch.interrupted = True
                logger.exception(
                    "The turbo hub failed to receive from the channel layer; retrying in %s s.",
                    RECEIVE_RETRY_DELAY,
                )
                await asyncio.sleep(RECEIVE_RETRY_DELAY)
                continue
            self.watch.received_at = monotonic()
            if message.get("type") == PROBE_TYPE:
                self.watch.arrived(message.get("probe"))
                continue
            self.dispatch(message)
            # A layer with messages queued hands the next over without
            # waiting: without a pause, a burst would hold the loop until it is
            # all written, and no socket's frames (its acks, say) nor any new
            # connection would be served meanwhile. Pausing after every message
            # would cost more: a server that buffers writes (daphne) then makes
            # a system call per frame instead of one per socket per pass.
            if monotonic() - paused >= BURST_SLICE:
                await asyncio.sleep(0)
                paused = monotonic()

    def tell_possibly_missed(self) -> None:
        """Tell every local socket to refresh each stream it holds.

        The ``replayed`` frame with ``"refresh": true`` that answers a replay
        the history cannot cover: the page refreshes itself.
        """
        for group, members in list(self.members.items()):
            frame = json.dumps(
                {"type": "replayed", "stream": group, "refresh": True}, separators=(",", ":")
            )
            for member in tuple(members):
                member.deliver(frame, len(frame))

    async def rejoin(self) -> None:
        """Join every group of the hub on the layer again, which may have forgotten them.

        The core layer keeps memberships in Redis; the pub/sub layer's
        connection subscribes again by itself. The groups are marked watched
        again too (:mod:`turbo.history.watching`).
        """
        async with self.membership:
            for group in list(self.joined):
                await asyncio.wait_for(self.layer.group_add(group, self.channel), PROBE_TIMEOUT)
            await mark_watched(self.layer, list(self.joined))  # Redis may have lost the marks

    async def _renew_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            for group in list(self.joined):
                await self._call_layer(self.layer.group_add, group, "Renewing")

    async def _discard(self, *groups: str) -> None:
        # Still watched for the history's reach: a page reconnecting replays what it missed.
        await mark_watched(self.layer, groups)  # once for all: Redis may be down
        for group in groups:
            await self._call_layer(self.layer.group_discard, group, "Leaving")

    async def _call_layer(
        self, method: Callable[[str, str], Awaitable[object]], group: str, doing: str
    ) -> None:
        try:
            await method(group, self.channel)
        except Exception:
            logger.exception("%s the channel-layer group %s failed", doing, group)

    async def _stop(self) -> None:
        self.on_stop(self)
        self.started.cancel()
        await cancel_and_wait(self.tasks)
        async with self.membership:
            groups, self.joined = self.joined, set()
            await self._discard(*groups)


# A hub per event loop (one per server process; one per test) and channel layer.
_hubs: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Hub]] = WeakKeyDictionary()


def attach(layer: Any) -> Hub:
    """The running loop's hub on ``layer``, counting one more socket on it.

    Creates the hub on first use, without awaiting anything before it is
    registered: sockets connecting at the same moment share one hub rather
    than each starting a listener (which would deliver duplicates).
    """
    loop = asyncio.get_running_loop()
    hubs = _hubs.setdefault(loop, {})
    hub = hubs.get(layer)
    if hub is None:

        def forget(stopped: Hub) -> None:
            if hubs.get(layer) is stopped:
                del hubs[layer]

        hub = hubs[layer] = Hub(layer, forget)
    hub.sockets += 1
    return hub
