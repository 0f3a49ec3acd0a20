"""Arbitrary frames thrown at the consumer: it never fails, and never disturbs another socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import string
from typing import Any

from channels.auth import AuthMiddlewareStack
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Socket
from tests.strategies import json_strings, json_values, malformed_payloads, payloads, sign
from tests.testapp.streams import FaultyStream, LobbyStream, PrivateStream, UserStream
from turbo import limits, signing

MAX_FRAME_SIZE = 512
#: The stream the well-behaved socket holds; the fuzzed one may subscribe and unsubscribe it too.
HELD = LobbyStream()
STREAMS = [HELD, UserStream(1), PrivateStream(1), FaultyStream()]
#: Answered last, so that every frame before it has been handled.
SENTINEL = {"type": "unsubscribe", "stream": "fuzz.sentinel"}

CLOSE_CODES = {value for name, value in vars(limits).items() if name.startswith("CLOSE_")}
REJECTIONS = {"invalid", "expired", "not-found", "forbidden", "limit", "error"}
ERRORS = {"malformed", "unknown-type", "binary"}

#: Tokens signed here: of streams, and of payloads near or far from a stream's identity.
tokens = st.sampled_from(STREAMS).map(signing.dumps) | payloads.map(sign)
#: Tokens with a character or more cut out or slipped in.
altered_tokens = st.builds(
    lambda token, at, cut, junk: token[:at] + junk + token[at + cut :],
    tokens,
    st.integers(0, 200),
    st.integers(0, 2),
    json_strings,
)
# "epoch:sequence", the sequence in any script's digits, or other numerals.
positions = st.builds(
    "{}:{}".format,
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8) | json_strings,
    st.integers(-1, 10**6)
    | st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=2),
)
# Every field is present: to the consumer an absent field is a null one.
typed_frames = st.builds(
    lambda extra, known: {**extra, **known},
    st.dictionaries(json_strings, json_values, max_size=3),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["subscribe", "unsubscribe", "ack", "replay"]),
            "token": tokens | altered_tokens | json_values,
            "stream": st.sampled_from(STREAMS).map(lambda stream: stream.group) | json_values,
            "messages": st.integers(-1, 3) | json_values,
            "position": positions | json_values,
        }
    ),
)
#: Text frames as ``str``, binary ones as ``bytes``: half of them frames the
#: consumer acts on, half noise.
frames = typed_frames.map(json.dumps) | st.one_of(
    st.text(),
    json_values.map(json.dumps),
    json_values.map(lambda kind: json.dumps({"type": kind})),
    st.binary(max_size=64),
)
#: A frame that closes the socket, sent last: nothing after it is read.
too_long = st.integers(MAX_FRAME_SIZE + 1, 2 * MAX_FRAME_SIZE).map(lambda size: "x" * size)


async def send(socket: Socket, frame: str | bytes) -> None:
    # Not send_to, which refuses empty frames.
    key = "text" if isinstance(frame, str) else "bytes"
    await socket.communicator.send_input({"type": "websocket.receive", key: frame})


async def next_output(socket: Socket) -> dict[str, Any]:
    """The consumer's next output, or at once what it raised.

    ``receive_output()`` would wait out its timeout when the consumer fails.
    """
    application = socket.communicator.future
    output = asyncio.ensure_future(socket.communicator.output_queue.get())
    await asyncio.wait({output, application}, timeout=3, return_when=asyncio.FIRST_COMPLETED)
    if output.done():
        return output.result()
    output.cancel()
    await asyncio.wait({output})
    application.result()  # raises what the consumer raised
    raise AssertionError("the consumer stopped without closing" if application.done() else "hung")


async def hang_up(socket: Socket) -> None:
    """Disconnect and wait for the consumer, whatever it raised: a check reports that."""
    with contextlib.suppress(Exception):
        await socket.communicator.disconnect()


async def drain(socket: Socket) -> None:
    """Check every answer up to the sentinel's, or up to a close, against the protocol."""
    while True:
        output = await next_output(socket)
        if output["type"] == "websocket.close":
            assert output.get("code", 1000) in {*CLOSE_CODES, 1000}, output
            return
        assert output["type"] == "websocket.send", output
        frame = json.loads(output["text"])
        if frame == {"type": "unsubscribed", "stream": SENTINEL["stream"]}:
            return
        assert frame["type"] in {"subscribed", "unsubscribed", "replayed", "rejected", "error"}
        if frame["type"] == "rejected":
            assert frame["reason"] in REJECTIONS, frame
        elif frame["type"] == "error":
            assert frame["reason"] in ERRORS, frame


@settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(frames, max_size=8), st.none() | too_long)
async def test_arbitrary_frames_never_fail_the_consumer_nor_disturb_another_socket(
    fuzz: list[str | bytes], last: str | None
) -> None:
    bystander, fuzzed = Socket(), Socket(middleware=AuthMiddlewareStack)
    try:
        with override_settings(TURBO_MAX_FRAME_SIZE=MAX_FRAME_SIZE):
            for socket in (bystander, fuzzed):
                assert (await socket.communicator.connect())[0]
            assert (await bystander.subscribe(HELD))["type"] == "subscribed"

            for frame in [*fuzz, last] if last else fuzz:
                await send(fuzzed, frame)
            await fuzzed.send(SENTINEL)
            await drain(fuzzed)
            await HELD.aupdate(text="while open", id="x")
            # Re-raises whatever the consumer raised while handling the frames.
            await fuzzed.communicator.disconnect()
            await HELD.aupdate(text="after", id="x")
            await HELD.aupdate(text="marker", id="x")

            # In order, so a duplicate would come before the next one.
            for text in ("while open", "after", "marker"):
                assert text in await bystander.receive_html(HELD)
    finally:
        for socket in (bystander, fuzzed):
            await hang_up(socket)


async def answer(socket: Socket, frame: dict[str, Any]) -> dict[str, Any]:
    """The consumer's answer to ``frame``; it must be a frame, not a close."""
    await socket.send(frame)
    output = await next_output(socket)
    assert output["type"] == "websocket.send", output
    return dict(json.loads(output["text"]))


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(malformed_payloads)
async def test_a_genuine_token_of_a_malformed_payload_is_invalid_and_the_socket_stays_open(
    payload: Any,
) -> None:
    socket = Socket()
    try:
        assert (await socket.communicator.connect())[0]
        token = sign(payload)

        rejected = await answer(socket, {"type": "subscribe", "token": token})
        assert rejected == {
            "type": "rejected",
            "token": token,
            "reason": "invalid",
            "message": rejected["message"],
        }
        subscribed = await answer(socket, {"type": "subscribe", "token": signing.dumps(HELD)})
        assert subscribed["type"] == "subscribed"
    finally:
        await hang_up(socket)
