"""A hub's watch over its channel layer: probing it, and telling pages after an outage.

A layer can lose broadcasts without a trace (Redis restarted, a pub/sub
connection dropped and subscribed again), and no later broadcast reveals that
to a quiet page. Each :class:`turbo.hub.Hub` on a layer that can fail has a
:class:`Watch` that probes the layer and, once it delivers again after it may
have lost some, has the hub rejoin its groups and tell its sockets to refresh.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import TYPE_CHECKING, Final

from turbo import history, loops

if TYPE_CHECKING:
    from turbo.hub import Hub

logger = logging.getLogger("turbo")

#: Seconds between a hub's checks that the layer still delivers to it: it
#: sends a probe to its own channel, and reads the epoch of a Redis history.
PROBE_INTERVAL: Final = 1.0

#: Seconds a probe may take to be sent, and then to come back, before the hub
#: sends the next.
PROBE_TIMEOUT: Final = 1.0

#: Seconds of probes neither coming back nor failing (Redis hung, or cut off
#: by the network) after which a hub takes its layer to have lost broadcasts.
SILENCE_LIMIT: Final = 3.0

#: The ``type`` of a hub's probes.
PROBE_TYPE: Final = "turbo.probe"


class Watch:
    """A hub's watch over its layer: whether broadcasts may have been lost for it.

    Every :data:`PROBE_INTERVAL` it sends a probe to the hub's own channel
    and, with a Redis history, reads the history's epoch. The layer may have
    lost broadcasts for the hub, which no later broadcast will reveal to a
    quiet page, when

    - a receive fails (the core layer, with Redis gone);
    - a probe cannot be sent (Redis refuses connections);
    - a probe comes back while one sent before it never did (the pub/sub
      layer's connection dropped, and subscribed again);
    - for :data:`SILENCE_LIMIT` seconds, probes neither come back nor fail,
      and nothing else arrives (Redis hung, or cut off by the network);
    - the history's epoch changes (Redis lost its data, the core layer's
      memberships with it); :meth:`begin` reads it before the hub's first
      socket joins, so an outage over before the first probe is seen too.

    Once a probe comes back after that, the hub joins its groups again and
    tells its sockets to refresh their pages (:meth:`turbo.hub.Hub.tell_possibly_missed`):
    within :data:`PROBE_INTERVAL` and twice :data:`PROBE_TIMEOUT` (3 s) of the
    layer delivering again. A probe late for its timeout because the loop is
    busy, or behind a burst of messages, interrupts nothing; nor does silence
    while the loop is so far behind that a round of probing outlasts its
    timeouts by :data:`turbo.loops.BUSY_LAG`.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        #: Whether the layer may have lost broadcasts since the sockets were last told.
        self.interrupted = False
        #: When the hub last received anything from the layer.
        self.received_at = monotonic()
        #: The epoch of the Redis history at the last probe, if one is kept.
        self.epoch: str | None = None
        self.probes = 0
        #: Probes sent and not yet back, by number.
        self.outstanding: set[int] = set()
        self.back: asyncio.Future[None] | None = None

    async def begin(self) -> None:
        """Read the history's epoch before the hub's first socket joins.

        An outage that follows at once, and ends before the first probe, loses
        no probe: only the epoch's change reveals it, and it must be known from
        before. Unreadable, the layer is taken to have lost broadcasts::

            await hub.watch.begin()
        """
        try:
            await self.epoch_kept()
        except Exception as error:
            self.interrupt(error)

    async def forever(self) -> None:
        """Probe the layer every :data:`PROBE_INTERVAL`, until cancelled."""
        silent_since: float | None = None
        while True:
            started = monotonic()
            await asyncio.sleep(PROBE_INTERVAL)
            try:
                delivered = await self.probe() and await self.epoch_kept()
            except TimeoutError:
                delivered = False
            except Exception as error:
                self.interrupt(error)
                continue
            if not delivered and self.loop_behind(monotonic() - started):
                # Its timers firing late, the loop is behind (a server taking
                # the sockets of one that died): the probe may be waiting on
                # it, not on the layer. Telling every page to refresh would
                # only add to the load.
                silent_since = None
                continue
            if not delivered:
                if silent_since is None:
                    silent_since = monotonic()
                if monotonic() - silent_since >= SILENCE_LIMIT:
                    self.interrupt(TimeoutError(f"no answer for {SILENCE_LIMIT} s"))
                continue
            silent_since = None
            if self.interrupted:
                try:
                    await self.recover()
                except Exception as error:
                    self.interrupt(error)

    @staticmethod
    def loop_behind(round_took: float) -> bool:
        """Whether a round of probing that took ``round_took`` seconds shows the loop behind.

        A round waits :data:`PROBE_INTERVAL`, then at most :data:`PROBE_TIMEOUT`
        for each of the probe's send, its return and the history's epoch.
        """
        return round_took > PROBE_INTERVAL + 3 * PROBE_TIMEOUT + loops.BUSY_LAG

    async def probe(self) -> bool:
        """Send a probe to the hub's channel; whether it came back within :data:`PROBE_TIMEOUT`.

        Raises :exc:`TimeoutError` if it could not be sent within that time,
        and what the layer raises if it refused to send it.
        """
        self.probes += 1
        number = self.probes
        back = self.back = asyncio.get_running_loop().create_future()
        sent = monotonic()
        message = {"type": PROBE_TYPE, "probe": number}
        # Counted before it is sent: it may arrive before the send returns.
        self.outstanding.add(number)
        try:
            await asyncio.wait_for(self.hub.layer.send(self.hub.channel, message), PROBE_TIMEOUT)
        except BaseException:
            self.outstanding.discard(number)  # sent or not: no loss to tell from it
            raise
        try:
            await asyncio.wait_for(back, PROBE_TIMEOUT)
        except TimeoutError:
            # Behind a burst queued before it, the layer delivers.
            return self.received_at > sent
        return True

    def arrived(self, number: object) -> None:
        """Take note of probe ``number``, received by the hub."""
        if not isinstance(number, int):
            return
        # A layer delivers a channel's messages in order: one sent before
        # this one and not back yet never will be.
        if any(sent < number for sent in self.outstanding):
            self.interrupted = True
        self.outstanding = {sent for sent in self.outstanding if sent > number}
        if number == self.probes and self.back is not None and not self.back.done():
            self.back.set_result(None)

    async def epoch_kept(self) -> bool:
        """Read the Redis history's epoch; note an interruption if it changed. True."""
        kept = history.for_layer(self.hub.layer)
        if isinstance(kept, history.RedisHistory):  # an in-memory one lives as long as the hub
            epoch = (await asyncio.wait_for(kept.position(), PROBE_TIMEOUT)).epoch
            if self.epoch is not None and epoch != self.epoch:
                self.interrupted = True
            self.epoch = epoch
        return True

    def interrupt(self, error: BaseException) -> None:
        """Note that the layer may have lost broadcasts: it failed with ``error``."""
        if not self.interrupted:
            logger.warning(
                "The turbo hub's channel layer stopped delivering (%r); its sockets "
                "refresh their pages once it delivers again.",
                error,
            )
        self.interrupted = True
        self.outstanding.clear()  # what they would say is known

    async def recover(self) -> None:
        """Join the hub's groups again, and tell its sockets that they may have missed some."""
        await self.hub.rejoin()
        self.interrupted = False
        logger.warning(
            "The turbo hub's channel layer delivers again: %d local sockets are told to "
            "refresh their pages.",
            self.hub.sockets,
        )
        self.hub.tell_possibly_missed()
