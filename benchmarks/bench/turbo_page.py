"""A page's side of django-turbo-streams' protocol, as ``turbo_streams.js`` speaks it.

The benchmark's clients each hold one page subscribed to one stream, so this
is the browser client reduced to one stream per socket, but with the parts of
``docs/protocol.rst`` that decide what a page applies: a subscribe carries the
position of the last message applied (none on the first socket), the answer's
``missed`` is applied before the messages held meanwhile, a message already
applied is dropped, and one whose ``previous`` is not applied yet is held while
a ``replay`` asks the server for the gap. A ``refresh`` (or a message of
another epoch) is counted: a browser would reload the page there, and what the
page missed would come with it, not over the socket.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.system import deliveries

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

#: A position, ``<epoch>:<sequence>``, as (epoch, sequence).
Position = tuple[str, int]
#: A message to apply: its position, its previous one (texts, or None without
#: a history) and the text holding its HTML (the frame, or a ``missed`` entry's html).
Message = tuple[str | None, str | None, str]

# Found in a message frame without parsing its JSON (the hot path). The HTML is
# a JSON string in the frame, where a quote is escaped: these cannot match in it.
POSITION = re.compile(r'"position": ?"([^"]*)"')
PREVIOUS = re.compile(r'"previous": ?"([^"]*)"')


def is_message(frame: str) -> bool:
    """Whether a text frame is a ``message`` (without parsing it)."""
    return '"type":"message"' in frame or '"type": "message"' in frame


def parse_position(text: str | None) -> Position | None:
    if not text:
        return None
    epoch, _, sequence = text.rpartition(":")
    return epoch, int(sequence)


def format_position(position: Position) -> str:
    return f"{position[0]}:{position[1]}"


def live_message(frame: str) -> Message:
    """The :data:`Message` of a ``message`` frame."""
    position, previous = POSITION.search(frame), PREVIOUS.search(frame)
    return (position and position[1], previous and previous[1], frame)


def missed_messages(answer: dict[str, object]) -> list[Message]:
    """The :data:`Message` list of a ``subscribed`` or ``replayed`` answer's ``missed``."""
    missed = answer.get("missed") or []
    assert isinstance(missed, list)
    return [(each.get("position"), each.get("previous"), each["html"]) for each in missed]


@dataclass
class Page:
    """What ``turbo_streams.js`` keeps for a page's stream, and for its socket.

    The client acknowledges frames (``{"type": "ack", "messages": n}``, n
    counting every frame of the socket) each time ``ack_every`` characters of
    them have arrived since the last acknowledgement.
    """

    ack_every: int
    #: The page's current socket, and what it received on it.
    socket: ClientConnection | None = None
    frames: int = 0
    unacked: int = 0
    #: The stream's key, from the first ``subscribed``: replays name it.
    stream: str = ""
    #: The last message applied: what a subscribe on the next socket resumes from.
    position: Position | None = None
    #: Subscribe sent, no answer yet: messages are held until it comes.
    pending: bool = True
    #: Messages waiting for an answer (to the subscribe, or to a replay).
    held: list[Message] = field(default_factory=list)
    #: Replays asked and not answered yet.
    replays: int = 0
    #: How often the page would have reloaded (``refresh``, or a new epoch).
    refreshes: int = 0

    async def send(self, frame: dict[str, object]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(frame))

    async def received(self, frame: str) -> None:
        """Count a frame of the socket; acknowledge when due."""
        self.frames += 1
        self.unacked += len(frame)
        if self.unacked >= self.ack_every:
            self.unacked = 0
            assert self.socket is not None
            await self.socket.send(f'{{"type":"ack","messages":{self.frames}}}')

    def subscribe_frame(self, socket: ClientConnection, token: str) -> dict[str, object]:
        """A new socket's subscribe: from the position, if the page has one.

        What the old socket held and counted is gone with it, as in the browser.
        """
        self.socket, self.frames, self.unacked = socket, 0, 0
        self.pending, self.held, self.replays = True, [], 0
        frame: dict[str, object] = {"type": "subscribe", "token": token}
        if self.position is not None:
            frame["position"] = format_position(self.position)
        return frame

    async def on_message(self, message: Message) -> list[tuple[int, float]]:
        """A ``message`` frame: held while an answer is awaited, else applied."""
        if self.pending or self.replays:
            self.held.append(message)
            return []
        return await self.apply(message)

    async def subscribed(self, answer: dict[str, object]) -> list[tuple[int, float]]:
        self.pending = False
        self.stream = str(answer.get("stream", self.stream))
        return await self.caught_up(answer)

    async def replayed(self, answer: dict[str, object]) -> list[tuple[int, float]]:
        """The answer to a replay, or the server's unasked refresh."""
        if self.replays:
            self.replays -= 1
        elif not answer.get("refresh"):
            return []
        return await self.caught_up(answer)

    async def caught_up(self, answer: dict[str, object]) -> list[tuple[int, float]]:
        """Apply what the stream missed, then the messages held meanwhile."""
        # While another answer is awaited, the held messages wait for it: it may
        # bring one that comes before them.
        held, self.held = ([], self.held) if self.replays else (self.held, [])
        if answer.get("refresh"):
            self.refreshes += 1
            self.position = None  # the reloaded page would bring its own
        found: list[tuple[int, float]] = []
        for message in [*missed_messages(answer), *held]:
            found.extend(await self.apply(message))
        return found

    async def apply(self, message: Message) -> list[tuple[int, float]]:
        """Apply a message once and in order; the deliveries it makes."""
        position, previous = parse_position(message[0]), parse_position(message[1])
        applied = self.position
        same_epoch = position is not None and applied is not None and position[0] == applied[0]
        if same_epoch and position[1] <= applied[1]:  # type: ignore[index]
            return []
        if position is not None and applied is not None and not same_epoch:
            self.refreshes += 1  # the history was lost: the page reloads
        elif same_epoch and previous is not None and previous[1] > applied[1]:  # type: ignore[index]
            self.held.append(message)
            if not self.replays:
                self.replays += 1
                replay = {"type": "replay", "stream": self.stream}
                replay["position"] = format_position(applied)  # type: ignore[arg-type]
                await self.send(replay)
            return []
        if position is not None:
            self.position = position
        return deliveries(message[2])


def answer(frame: str) -> dict[str, object]:
    """A frame other than a message, parsed."""
    parsed = json.loads(frame)
    return parsed if isinstance(parsed, dict) else {}
