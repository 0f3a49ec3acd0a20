"""A real browser (Debian's Chromium, driven by Playwright) running the real Turbo.

The page is served by a real daphne process on the Redis pub/sub layer; saves
are made in this test process, as a worker or a shell would make them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.staticfiles import finders
from django.db import transaction
from django.test import override_settings
from django.utils.safestring import mark_safe

from tests.conftest import layer_config, new_page
from tests.live import Balancer
from tests.testapp.models import Board, Message, Room
from tests.testapp.streams import UserStream
from turbo import fragments, history, signing, suppress_broadcasts
from turbo.hub import MESSAGE_TYPE
from turbo.templatetags.turbo_streams import CLIENT_SCRIPT, ELEMENT, TURBO_SCRIPT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from tests.live import ServerProcess
    from turbo.streams import Stream

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTED = f"{ELEMENT}[connected]"
DISCONNECTED = f"{ELEMENT}:not([connected])"
# Counts the client's events on window, which a Turbo Drive visit keeps.
EVENT_COUNTER = """
window.events = {};
for (const name of ["expired", "failed", "reconnected"].map((name) => `turbo-channels:${name}`)) {
  document.addEventListener(name, () => { window.events[name] = (window.events[name] || 0) + 1 });
}
"""


@pytest.fixture
async def page(chromium: Any) -> AsyncIterator[Any]:
    """A fresh page; ``page.console`` collects what it logs, ``page.sockets`` the
    websockets it opens and ``page.sent`` the frames they send, decoded."""
    page = await new_page(chromium)
    page.sockets, page.sent = [], []

    def opened(socket: Any) -> None:
        page.sockets.append(socket)
        socket.on("framesent", lambda payload: page.sent.append(json.loads(payload)))

    page.on("websocket", opened)
    await page.add_init_script(EVENT_COUNTER)
    yield page
    await page.context.close()


@pytest.fixture
def start_server(servers: Callable[..., ServerProcess]) -> Iterator[Callable[..., Any]]:
    """``await start_server(**settings)`` → daphne on the Redis pub/sub layer.

    This process broadcasts on the same layer, as a worker would.
    """
    layer = layer_config("redis-pubsub")

    async def start(**settings: str) -> ServerProcess:
        return await asyncio.to_thread(servers, layer, **settings)

    with override_settings(CHANNEL_LAYERS={"default": layer}):
        yield start


async def wait_for(page: Any, selector: str) -> Any:
    return await page.wait_for_selector(selector, state="attached")


async def room_page(page: Any, server: ServerProcess, name: str) -> Room:
    """A new room, shown by ``page`` and subscribed to."""
    room = await Room.objects.acreate(name=name)
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)
    return room


async def save_and_see(page: Any, room: Room, text: str) -> Any:
    """Save a message in ``room``; its element, once the page shows it."""
    message = await Message.objects.acreate(room=room, text=text)
    return await wait_for(page, f"#message-{message.pk}")


async def message_texts(page: Any) -> list[str]:
    """The texts of the messages the page shows, in order, without their authors."""
    items = await page.locator("#messages li").all_text_contents()
    return [item.rsplit(": ", 1)[-1] for item in items]


async def test_a_save_elsewhere_updates_the_page_which_survives_a_server_restart(
    page, start_server
):
    server = await start_server()
    room = await room_page(page, server, "live")

    item = await save_and_see(page, room, "from elsewhere")
    assert "from elsewhere" in await item.text_content()

    await asyncio.to_thread(server.stop)
    await wait_for(page, DISCONNECTED)
    await asyncio.to_thread(server.start)
    await wait_for(page, CONNECTED)

    item = await save_and_see(page, room, "after the restart")
    assert "after the restart" in await item.text_content()


async def test_broadcasts_made_while_the_server_was_down_appear_once_it_is_back(page, start_server):
    server = await start_server()
    room = await room_page(page, server, "offline")
    await save_and_see(page, room, "before")

    await asyncio.to_thread(server.stop)
    await wait_for(page, DISCONNECTED)
    missed = [await Message.objects.acreate(room=room, text=f"missed {n}") for n in range(3)]
    await asyncio.to_thread(server.start)

    await wait_for(page, f"#message-{missed[-1].pk}")
    assert await message_texts(page) == [
        "before",
        "missed 0",
        "missed 1",
        "missed 2",
    ]


async def test_pages_of_a_killed_server_process_recover_on_another(page, start_server):
    doomed, other = await start_server(), await start_server()
    room = await Room.objects.acreate(name="failover")
    async with Balancer([doomed, other]) as balancer:
        await page.goto(f"{balancer.origin}/rooms/{room.pk}/")
        await wait_for(page, CONNECTED)
        await save_and_see(page, room, "before")

        # Reconnects wait until the broadcasts are made: they must be replayed.
        balancer.accepting.clear()
        await asyncio.to_thread(doomed.kill)
        await wait_for(page, DISCONNECTED)
        missed = [await Message.objects.acreate(room=room, text=f"missed {n}") for n in range(3)]
        balancer.accepting.set()

        await wait_for(page, f"#message-{missed[-1].pk}")
        await save_and_see(page, room, "after")
        texts = await message_texts(page)
    assert texts == [
        "before",
        "missed 0",
        "missed 1",
        "missed 2",
        "after",
    ]


async def test_a_page_away_longer_than_the_history_refreshes_itself(page, start_server):
    # The history forgets at once: what the page missed cannot be replayed.
    server = await start_server(HISTORY_MAX_AGE="0.001")
    room = await Room.objects.acreate(name="forgetful")
    await page.add_init_script(
        'document.addEventListener("turbo-channels:missed", () => { window.missed = true })'
    )
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)

    await asyncio.to_thread(server.stop)
    await wait_for(page, DISCONNECTED)
    with override_settings(TURBO_HISTORY_MAX_AGE=0.001):
        missed = await Message.objects.acreate(room=room, text="forgotten by the history")
    await asyncio.to_thread(server.start)

    # The page refreshes itself, and renders the message from the database.
    await wait_for(page, f"#message-{missed.pk}")
    assert await page.evaluate("window.missed") is True


@pytest.mark.parametrize(
    "published",
    [
        # TRAPS 17: two processes can publish in the other order than they recorded in.
        pytest.param((1, 0), id="out-of-order"),
        # TRAPS 7: the pub/sub layer delivers at most once; the first one is lost.
        pytest.param((1,), id="first-lost"),
    ],
)
async def test_messages_published_out_of_order_or_lost_are_applied_in_order_and_once(
    page, start_server, published
):
    """The second message names the first as its stream's previous: the page holds
    it, asks for a replay, and applies both in the order they were recorded in."""
    server = await start_server()
    room = await room_page(page, server, "ordered")
    layer = get_channel_layer()
    kept = history.for_layer(layer)
    group = room.stream.group
    # No ids: a message applied twice would show twice.
    html = [
        str(fragments.append(html=mark_safe(f'<li class="ordered">{n}</li>'), id="messages"))
        for n in ("first", "second")
    ]
    recorded = [await kept.record(group, text) for text in html]

    for index in published:
        at = recorded[index]
        message = {"type": MESSAGE_TYPE, "group": group, "html": html[index]}
        message.update(epoch=at.epoch, position=at.sequence, previous=at.previous)
        await layer.group_send(group, message)

    await page.wait_for_function("document.querySelectorAll('li.ordered').length >= 2")
    await room.stream.aappend(html=mark_safe('<li id="marker">marker</li>'), id="messages")
    await wait_for(page, "#marker")
    assert await page.locator("li.ordered").all_text_contents() == ["first", "second"]
    assert [frame["type"] for frame in page.sent].count("replay") == 1


async def test_back_to_a_cached_page_applies_what_it_missed_once(page, start_server):
    """TRAPS 10: Turbo restores a page from its cache, old positions included."""
    server = await start_server()
    room, elsewhere = [await Room.objects.acreate(name=name) for name in ("back", "away")]
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)
    # No ids: a message applied twice would show twice.
    await room.stream.aappend(html=mark_safe('<li class="seen">before</li>'), id="messages")
    await wait_for(page, "li.seen")

    await page.evaluate(f"Turbo.visit('/rooms/{elsewhere.pk}/')")
    await wait_for(page, f"h1:text('{elsewhere.name}')")
    # The room's stream is dropped a second after its element left the page.
    await page.wait_for_function(
        f"!window.TurboChannels.connections.some(c => '{room.stream.group}' in c.streams)"
    )
    await room.stream.aappend(html=mark_safe('<li class="seen">while away</li>'), id="messages")
    await page.go_back()  # a restoration visit: Turbo's cached snapshot

    await page.wait_for_function("document.querySelectorAll('li.seen').length >= 2")
    await room.stream.aappend(html=mark_safe('<li id="marker">marker</li>'), id="messages")
    await wait_for(page, "#marker")
    assert await page.locator("li.seen").all_text_contents() == ["before", "while away"]


# Holds Turbo's next render: window.resumeRender() lets it go on.
HOLD_NEXT_RENDER = """
document.addEventListener("turbo:before-render", (event) => {
  event.preventDefault();
  window.resumeRender = event.detail.resume;
}, {once: true});
"""


async def render_after_a_message(
    page: Any, room: Room, navigate: Callable[[], Awaitable[Any]]
) -> Message:
    """``navigate()``, holding the next page until a message saved once it was
    fetched has reached the page still shown: the next page lacks it. The message."""
    await page.evaluate(HOLD_NEXT_RENDER)
    await navigate()
    await page.wait_for_function("typeof window.resumeRender === 'function'")
    message = await Message.objects.acreate(room=room, text="while fetching")
    await wait_for(page, f"#message-{message.pk}")
    await page.evaluate("window.resumeRender()")
    return message


def is_message(payload: str) -> bool:
    """Whether a frame the page received is a ``message``."""
    return bool(json.loads(payload)["type"] == "message")


async def assert_shown_once(page: Any, room: Room, message: Message) -> None:
    """``message`` is shown once, by the time a marker saved now is."""
    await save_and_see(page, room, "marker")
    assert await page.locator(f"#message-{message.pk}").count() == 1


async def test_a_form_that_redirects_back_shows_a_message_committed_during_the_fetch(
    page, start_server
):
    """Issue 20, item 1: the old page applied the message; the new one was rendered before it."""
    server = await start_server()
    room = await room_page(page, server, "posting")
    await page.fill("#text", "posted")

    # Turbo posts; the answer redirects back (303) to the page, which it renders.
    message = await render_after_a_message(page, room, lambda: page.press("#text", "Enter"))

    await page.wait_for_function("document.querySelector('#text').value === ''")
    await assert_shown_once(page, room, message)
    assert await message_texts(page) == ["posted", "while fetching", "marker"]


async def test_a_layouts_subscription_shows_the_next_page_a_message_committed_during_its_fetch(
    page, start_server
):
    """Issue 20, item 1: a ``{% turbo_subscribe %}`` in the base template, and one in the page."""
    server = await start_server()
    room = await Room.objects.acreate(name="layout")
    await page.goto(f"{server.origin}/rooms/{room.pk}/sections/1/")
    await wait_for(page, CONNECTED)
    visit = f"Turbo.visit('/rooms/{room.pk}/sections/2/')"

    message = await render_after_a_message(page, room, lambda: page.evaluate(visit))

    await wait_for(page, "h1:text('Section 2')")
    await assert_shown_once(page, room, message)
    # The page's two elements of the stream asked once.
    assert [frame["type"] for frame in page.sent].count("replay") == 1


async def test_back_within_the_unsubscribe_delay_shows_what_came_while_away(page, start_server):
    """Issue 20, item 1: a message for a stream that has no element in the page is
    kept for the page that comes back, from Turbo's cache."""
    server = await start_server()
    room, elsewhere = [await Room.objects.acreate(name=name) for name in ("back", "away")]
    # The condition under test is a stream kept between pages: stretch the
    # client's one-second unsubscribe delay so that a slow machine keeps it too.
    await page.add_init_script(
        "const realSetTimeout = window.setTimeout;"
        "window.setTimeout = (f, ms, ...args) =>"
        " realSetTimeout(f, ms === 1000 ? 60_000 : ms, ...args);"
    )
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)

    await page.evaluate(f"Turbo.visit('/rooms/{elsewhere.pk}/')")
    await wait_for(page, f"h1:text('{elsewhere.name}')")
    async with page.sockets[0].expect_event("framereceived", is_message):
        message = await Message.objects.acreate(room=room, text="while away")
    await page.go_back()  # a restoration visit: Turbo's cached snapshot

    await assert_shown_once(page, room, message)
    assert "unsubscribe" not in [frame["type"] for frame in page.sent]


async def test_two_subscriptions_to_one_stream_apply_each_broadcast_once(page, start_server):
    server = await start_server()
    room = await Room.objects.acreate(name="twice")
    await page.goto(f"{server.origin}/rooms/{room.pk}/?twice=1")
    await wait_for(page, CONNECTED)
    assert await page.locator(ELEMENT).count() == 2

    # An append without an id: Turbo would apply a duplicate as a second item.
    await room.stream.abroadcast(
        fragments.append(html=mark_safe('<li class="ping">ping</li>'), id="messages"),
        fragments.append(html=mark_safe('<li id="marker">marker</li>'), id="messages"),
    )
    await wait_for(page, "#marker")

    assert await page.locator("li.ping").count() == 1


def broadcast_in_one_transaction(room: Room) -> None:
    """Five actions on one stream in one transaction; their order matters."""
    with transaction.atomic():
        room.stream.append(html=mark_safe('<li id="a">a</li>'), id="messages")
        room.stream.append(html=mark_safe('<li id="b">b</li>'), id="messages")
        room.stream.replace(html=mark_safe('<li id="a">a2</li>'), id="a")
        room.stream.remove(id="b")
        room.stream.append(html=mark_safe('<li id="c">c</li>'), id="messages")


async def test_a_transactions_combined_message_applies_all_its_actions_in_order(page, start_server):
    """Issue 20, item 16: one message frame carries the transaction's five actions."""
    server = await start_server()
    room = await room_page(page, server, "combined")
    received: list[dict[str, Any]] = []
    page.sockets[0].on("framereceived", lambda payload: received.append(json.loads(payload)))

    await sync_to_async(broadcast_in_one_transaction)(room)
    await room.stream.aappend(html=mark_safe('<li id="marker">marker</li>'), id="messages")
    await wait_for(page, "#marker")

    assert await message_texts(page) == ["a2", "c", "marker"]
    messages = [frame for frame in received if frame["type"] == "message"]
    assert [frame["html"].count("<turbo-stream") for frame in messages] == [5, 1]


async def test_an_expired_token_reloads_the_page_once(page, start_server):
    server = await start_server(TOKEN_MAX_AGE="2")
    room = await Room.objects.acreate(name="expiring")
    path = f"/rooms/{room.pk}/"
    loads = []
    page.on("request", lambda request: request.url.endswith(path) and loads.append(request))
    await page.goto(server.origin + path)
    await wait_for(page, CONNECTED)

    await asyncio.to_thread(server.stop)
    await wait_for(page, DISCONNECTED)
    await asyncio.sleep(2.5)  # the condition under test: the token ages past its max age
    await asyncio.to_thread(server.start)

    await wait_for(page, CONNECTED)  # after the client reloaded the page for a fresh token
    assert len(loads) == 2
    assert await page.evaluate("window.events") == {"turbo-channels:expired": 1}
    await save_and_see(page, room, "fresh")


# Records when the page creates each websocket (performance.now(), in ms).
SOCKET_CLOCK = """
window.socketTimes = [];
window.WebSocket = class extends WebSocket {
  constructor(...args) {
    super(...args);
    window.socketTimes.push(performance.now());
  }
};
"""


async def socket_gaps(page: Any, count: int) -> list[float]:
    """The seconds between the page's first ``count`` websockets, once it opened them."""
    await page.wait_for_function(f"window.socketTimes.length >= {count}")
    times = await page.evaluate(f"window.socketTimes.slice(0, {count})")
    return [(later - earlier) / 1000 for earlier, later in itertools.pairwise(times)]


def room_url(server: ServerProcess, room: Room, reconnect: str) -> str:
    """The room's page, with ``reconnect`` as its client's reconnect policy."""
    return f"{server.origin}/rooms/{room.pk}/?{urlencode({'reconnect': reconnect})}"


async def test_refused_handshakes_back_off_then_retry_slowly_and_say_so(page, start_server):
    """Issue 20, item 4: a refused handshake is retried forever, but seldom."""
    server = await start_server()

    # A page of another origin: origin validation refuses its websocket handshakes.
    # Its HTML and scripts are served by the browser itself, with the real files.
    async def serve_script(route: Any) -> None:
        path = route.request.url.split("/static/", 1)[1]
        body = Path(finders.find(path)).read_text()
        await route.fulfill(body=body, content_type="text/javascript")

    await page.route("http://evil.test/static/**", serve_script)
    policy = "first-delay=0.01, max-delay=0.02, fast-attempts=4, slow-delay=0.6"
    await page.route(
        "http://evil.test/",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f"""<!doctype html><html><head>
            <meta name="turbo-channels-reconnect" content="{policy}">
            <script type="module" src="/static/{TURBO_SCRIPT}"></script>
            <script type="module" src="/static/{CLIENT_SCRIPT}"></script></head><body>
            <{ELEMENT} url="ws://127.0.0.1:{server.port}/ws/turbo/" stream="turbo.x"
             token="t"></{ELEMENT}></body></html>""",
        ),
    )
    await page.add_init_script(SOCKET_CLOCK)

    await page.goto("http://evil.test/")
    await page.wait_for_function("window.events['turbo-channels:failed'] === 1")

    assert await page.evaluate("window.socketTimes.length") == 4
    [error] = [text for kind, text in page.console if kind == "error" and "cannot connect" in text]
    assert "ALLOWED_HOSTS" in error
    assert "Origin" in error
    assert "Retrying every 0.3 to 0.6 s" in error
    # It keeps trying, every 0.3 to 0.6 s here, and says so once.
    gaps = await socket_gaps(page, 6)
    assert min(gaps[3:]) >= 0.3
    assert await page.evaluate("window.events") == {"turbo-channels:failed": 1}


async def test_the_client_keeps_trying_through_a_long_outage_and_catches_up(page, start_server):
    """Issue 20, item 4: the client used to stop after 10 sockets that did not open."""
    server = await start_server()
    room = await Room.objects.acreate(name="deploy")
    policy = "first-delay=0.05, max-delay=0.1, fast-attempts=3, slow-delay=0.4"
    await page.goto(room_url(server, room, policy))
    await wait_for(page, CONNECTED)

    await asyncio.to_thread(server.stop)
    await page.wait_for_function("window.events['turbo-channels:failed'] === 1")
    missed = await Message.objects.acreate(room=room, text="during the deploy")
    for _ in range(2):  # the condition under test: slow retries go on
        await page.wait_for_event("websocket")
    await asyncio.to_thread(server.start)

    await wait_for(page, f"#message-{missed.pk}")
    events = await page.evaluate("window.events")
    assert events == {"turbo-channels:failed": 1, "turbo-channels:reconnected": 1}


async def test_a_socket_the_server_closes_soon_after_opening_backs_off(page, start_server):
    """Issue 20, item 4: the backoff used to reset when a socket opened."""
    # Every subscribe frame is too long: the server closes each socket (4009) once it opened.
    server = await start_server(TURBO_MAX_FRAME_SIZE="50")
    room = await Room.objects.acreate(name="closing")
    await page.add_init_script(SOCKET_CLOCK)

    await page.goto(room_url(server, room, "first-delay=0.05, max-delay=10, stable-after=5"))

    gaps = await socket_gaps(page, 6)
    # After n failed sockets in a row, the wait is 0.05 * 2**n s, jittered down to half.
    for failures, gap in enumerate(gaps, 1):
        assert gap >= 0.025 * 2**failures
    warnings = [text for kind, text in page.console if kind == "warning"]
    assert any("code 4009" in text for text in warnings)


async def test_after_a_socket_that_did_not_fail_the_wait_is_anywhere_within_the_spread(
    page, start_server
):
    """The pages of a server that went away come back spread over a window, some at once."""
    # The server closes each socket once it opened (4009); with stable-after=0
    # none of them counts as failed. first-delay would make each wait 5-10 s.
    server = await start_server(TURBO_MAX_FRAME_SIZE="50")
    room = await Room.objects.acreate(name="spread")
    await page.add_init_script(SOCKET_CLOCK)

    await page.goto(room_url(server, room, "spread=1, first-delay=10, stable-after=0"))

    gaps = await socket_gaps(page, 12)
    # Each is a random wait of 0 to 1 s, plus a handshake; uniform, not 0.5 to 1 s.
    assert max(gaps) < 1.5
    assert min(gaps) < 0.5
    assert await page.evaluate("window.TurboChannels.connections[0].failures") == 0


@pytest.mark.parametrize(
    ("target", "event"), [("window", "online"), ("document", "visibilitychange")]
)
async def test_the_client_retries_at_once_when_back_online_or_shown(
    page, start_server, target, event
):
    """Issue 20, item 4: in the slow phase, coming back does not wait out the delay."""
    server = await start_server()
    room = await Room.objects.acreate(name="back")
    policy = "first-delay=0.05, max-delay=0.05, fast-attempts=1, slow-delay=600"
    await page.goto(room_url(server, room, policy))
    await wait_for(page, CONNECTED)
    await asyncio.to_thread(server.stop)
    await page.wait_for_function("window.events['turbo-channels:failed'] === 1")
    await asyncio.to_thread(server.start)

    assert await page.evaluate("document.visibilityState") == "visible"
    await page.evaluate(f"{target}.dispatchEvent(new Event('{event}'))")

    await wait_for(page, CONNECTED)
    await save_and_see(page, room, "back")


async def test_a_turbo_drive_visit_that_keeps_the_stream_keeps_its_subscription(page, start_server):
    server = await start_server()
    room = await room_page(page, server, "drive")

    await page.click("#again")  # a Drive visit: the body, and its element, are replaced
    await page.wait_for_url("**?twice=1")
    await wait_for(page, f"aside {CONNECTED}")
    await page.wait_for_timeout(1500)  # the condition under test: the unsubscribe delay passes

    assert [frame["type"] for frame in page.sent] == ["subscribe"]
    assert len(page.sockets) == 1
    message = await Message.objects.acreate(room=room, text="still here")
    await wait_for(page, f"#message-{message.pk}")
    assert await page.locator(f"#message-{message.pk}").count() == 1


async def test_removing_the_last_element_unsubscribes_and_closes_the_socket(page, start_server):
    server = await start_server()
    room = await room_page(page, server, "leaving")

    # The position the page was rendered at (turbo.history).
    position = await page.get_attribute(ELEMENT, "position")
    await page.evaluate(f"document.querySelector('{ELEMENT}').remove()")
    await page.wait_for_function("window.TurboChannels.connections.length === 0")
    if not page.sockets[0].is_closed():
        await page.sockets[0].wait_for_event("close")

    assert page.sent == [
        {"type": "subscribe", "token": page.sent[0]["token"], "position": position},
        {"type": "unsubscribe", "stream": room.stream.group},
    ]


async def test_a_refresh_broadcast_with_method_morph_morphs_the_page(page, start_server):
    # Turbo reads a refresh stream's method from 8.0.21 on; before, this page
    # (without a turbo-refresh-method meta tag) would be replaced, not morphed.
    server = await start_server()
    room = await room_page(page, server, "morph")
    await page.evaluate("document.querySelector('h1').kept = true")  # a property: no HTML has it
    with suppress_broadcasts():
        message = await Message.objects.acreate(room=room, text="seen after a refresh")

    await room.stream.arefresh(method="morph")

    await wait_for(page, f"#message-{message.pk}")
    assert await page.evaluate("document.querySelector('h1').kept") is True


async def test_an_element_in_a_turbo_preview_does_not_subscribe(page, start_server):
    server = await start_server()
    room = await room_page(page, server, "preview")
    previewed, real = UserStream("previewed"), UserStream("real")

    # Turbo marks <html> while it shows a cached snapshot before the real page.
    await page.evaluate(
        """([name, previewed, real]) => {
          const add = (stream) => {
            const element = document.createElement(name);
            for (const key of ["url", "stream", "token"]) element.setAttribute(key, stream[key]);
            document.body.append(element);
          };
          document.documentElement.setAttribute("data-turbo-preview", "");
          add(previewed);
          document.documentElement.removeAttribute("data-turbo-preview");
          add(real);
        }""",
        [ELEMENT, *(element_attributes(stream) for stream in (previewed, real))],
    )
    await wait_for(page, f'{ELEMENT}[stream="{real.group}"][connected]')

    tokens = [frame["token"] for frame in page.sent if frame["type"] == "subscribe"]
    assert [signing.loads(token) for token in tokens] == [room.stream, real]


def element_attributes(stream: Stream) -> dict[str, str]:
    return {"url": "/ws/turbo/", "stream": stream.group, "token": signing.dumps(stream)}


# Counts the Turbo visits of a page (a refresh is one), across morphs.
VISIT_COUNTER = """
window.visits = 0;
document.addEventListener("turbo:visit", () => { window.visits += 1 });
"""


async def test_a_refresh_morphs_other_tabs_keeping_typed_text_and_spares_the_tab_that_caused_it(
    chromium, start_server
):
    server = await start_server()
    with suppress_broadcasts():
        board = await Board.objects.acreate(name="Before")
    tabs = [await new_page(chromium) for _ in range(2)]
    for tab in tabs:
        await tab.add_init_script(VISIT_COUNTER)
        await tab.goto(f"{server.origin}/boards/{board.pk}/")
        await wait_for(tab, CONNECTED)
        # Turbo waits 150 ms for more refreshes; the test needs each one seen.
        await tab.evaluate("Turbo.session.pageRefreshDebouncePeriod = 0")
    renaming, watching = tabs
    await watching.focus("#draft")
    await watching.keyboard.type("half-typed")

    await renaming.fill("#draft", "After")
    await renaming.press("#draft", "Enter")  # Turbo submits the form

    await watching.wait_for_function("document.querySelector('#name').textContent === 'After'")
    assert await watching.evaluate("window.visits") == 1
    assert await watching.evaluate("document.activeElement.id") == "draft"
    assert await watching.input_value("#draft") == "half-typed"
    # The renaming tab applied its own response; a marker sent after the
    # refresh shows it has handled the refresh, and did not visit for it.
    await board.stream.abroadcast(
        fragments.append(html=mark_safe('<i id="marker"></i>'), id="name")
    )
    await wait_for(renaming, "#marker")
    assert await renaming.text_content("#name") == "After"
    assert await renaming.evaluate("window.visits") == 0
    for tab in tabs:
        await tab.context.close()


# Counts the morphs of a page, and the refreshes Turbo fetched.
MORPH_COUNTER = """
window.morphs = 0;
document.addEventListener("turbo:morph", () => { window.morphs += 1 });
"""


async def board_page(page: Any, server: ServerProcess) -> Board:
    """A new board, shown by ``page``, which counts its morphs in ``window.morphs``."""
    with suppress_broadcasts():
        board = await Board.objects.acreate(name="Board")
    await page.add_init_script(MORPH_COUNTER)
    await page.goto(f"{server.origin}/boards/{board.pk}/")
    await wait_for(page, CONNECTED)
    await page.evaluate("Turbo.session.pageRefreshDebouncePeriod = 0")
    return board


async def test_a_field_sent_with_enter_takes_the_value_of_the_morph_that_follows(
    page, start_server
):
    """Issue 20, item 17: after a form's redirect back, its field showed the sent text."""
    server = await start_server()
    board = await board_page(page, server)

    await page.fill("#note", "sent")
    await page.press("#note", "Enter")  # Turbo submits; the redirect back (303) morphs the page

    await page.wait_for_function("window.morphs === 1")
    assert await page.evaluate("document.activeElement.id") == "note"
    assert await page.input_value("#note") == ""
    # What is typed after that is the user's again: a refresh keeps it.
    await page.keyboard.type("next")
    await board.stream.arefresh()
    await page.wait_for_function("window.morphs === 2")
    assert await page.input_value("#note") == "next"


async def test_a_focused_field_marked_replace_takes_the_servers_value_in_a_morph(
    page, start_server
):
    """Issue 20, item 17: ``data-turbo-channels-morph-focused="replace"`` opts out."""
    server = await start_server()
    board = await board_page(page, server)
    await page.focus("#search")
    await page.keyboard.type("typed")

    await board.stream.arefresh()

    await page.wait_for_function("window.morphs === 1")
    assert await page.evaluate("document.activeElement.id") == "search"
    assert await page.input_value("#search") == ""


async def test_a_quiet_page_shows_what_was_saved_while_redis_was_down_once_it_is_back(
    page, servers, private_redis
):
    """Issue 20, item 3: no later broadcast comes to tell the page it missed one."""
    layer = private_redis.layer()
    server = await asyncio.to_thread(servers, layer)
    room = await Room.objects.acreate(name="quiet")
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        await page.goto(f"{server.origin}/rooms/{room.pk}/")
        await wait_for(page, CONNECTED)

        await asyncio.to_thread(private_redis.stop)
        missed = await Message.objects.acreate(room=room, text="while Redis was down")
        await asyncio.to_thread(private_redis.start)

        # The layer reconnects by itself, then the server tells the page to refresh.
        await wait_for(page, f"#message-{missed.pk}")


async def test_a_page_rendered_while_redis_is_down_shows_what_was_saved_before_it_subscribed(
    page, servers, private_redis
):
    """Issue 20, item 5: the page renders without a position it could replay from."""
    layer = private_redis.layer()
    server = await asyncio.to_thread(servers, layer)
    room = await Room.objects.acreate(name="rendered in the dark")
    # The client script is held: the page subscribes once Redis is back and a
    # message was saved.
    released = asyncio.Event()

    async def hold(route: Any) -> None:
        await released.wait()
        await route.continue_()

    await page.route(f"**/{CLIENT_SCRIPT}", hold)
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        await asyncio.to_thread(private_redis.stop)
        # "commit": the server has rendered the page and is sending it.
        await page.goto(f"{server.origin}/rooms/{room.pk}/", wait_until="commit")
        await asyncio.to_thread(private_redis.start)
        message = await Message.objects.acreate(room=room, text="before it subscribed")
        released.set()

        await wait_for(page, f"#message-{message.pk}")
    assert await page.get_attribute(ELEMENT, "position") != str(history.UNKNOWN)


def console_errors(page: Any) -> list[str]:
    return [text for kind, text in page.console if kind == "error"]


async def without_favicon(page: Any) -> Any:
    """``page``, whose browser no longer logs the 404 of the favicon the test server lacks."""
    await page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    return page


async def test_a_page_without_turbo_head_says_in_the_console_to_add_it(page, start_server):
    server = await start_server()
    page = await without_favicon(page)
    room = await Room.objects.acreate(name="bare")

    async with page.expect_console_message(lambda message: message.type == "error") as logged:
        await page.goto(f"{server.origin}/rooms/{room.pk}/bare/")

    error = (await logged.value).text
    assert error.startswith("turbo-channels: window.Turbo is not defined after the page loaded")
    assert "Add {% turbo_head %} to the page's <head>" in error
    await page.evaluate("1")  # a round trip: what the page logged before it has arrived
    assert console_errors(page) == [error]
    assert await page.locator(CONNECTED).count() == 0


async def test_a_page_with_its_own_turbo_and_no_turbo_head_is_live(page, start_server):
    server = await start_server()
    page = await without_favicon(page)
    room = await Room.objects.acreate(name="own bundle")
    await page.goto(f"{server.origin}/rooms/{room.pk}/bare/?turbo=1")
    await wait_for(page, CONNECTED)

    await save_and_see(page, room, "live")

    assert console_errors(page) == []


async def test_a_page_with_turbo_head_logs_no_error(page, start_server):
    room = await room_page(await without_favicon(page), await start_server(), "as it should be")

    await save_and_see(page, room, "hello")

    assert console_errors(page) == []
