"""A real browser (Debian's Chromium, driven by Playwright) running the real Turbo.

The page is served by a real daphne process on the Redis pub/sub layer; saves
are made in this test process, as a worker or a shell would make them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from channels.layers import get_channel_layer
from django.contrib.staticfiles import finders
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
    from collections.abc import AsyncIterator, Callable, Iterator

    from tests.live import ServerProcess
    from turbo.streams import Stream

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTED = f"{ELEMENT}[connected]"
DISCONNECTED = f"{ELEMENT}:not([connected])"
# Counts the client's events on window, which a Turbo Drive visit keeps.
EVENT_COUNTER = """
window.events = {};
for (const name of ["turbo-channels:expired", "turbo-channels:failed"]) {
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
    room = await Room.objects.acreate(name="live")
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)

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
    room = await Room.objects.acreate(name="offline")
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)
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
    room = await Room.objects.acreate(name="ordered")
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)
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


async def test_refused_handshakes_make_the_client_give_up_and_say_so(page, start_server):
    server = await start_server()

    # A page of another origin: origin validation refuses its websocket handshakes.
    # Its HTML and scripts are served by the browser itself, with the real files.
    async def serve_script(route: Any) -> None:
        path = route.request.url.split("/static/", 1)[1]
        body = Path(finders.find(path)).read_text()
        await route.fulfill(body=body, content_type="text/javascript")

    await page.route("http://evil.test/static/**", serve_script)
    await page.route(
        "http://evil.test/",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f"""<!doctype html><html><head>
            <script type="module" src="/static/{TURBO_SCRIPT}"></script>
            <script type="module" src="/static/{CLIENT_SCRIPT}"></script></head><body>
            <{ELEMENT} url="ws://127.0.0.1:{server.port}/ws/turbo/" stream="turbo.x"
             token="t"></{ELEMENT}></body></html>""",
        ),
    )
    # Backoff in hundredths: ten attempts take about 1.5 s instead of 2.5 min.
    await page.add_init_script(
        "const realSetTimeout = window.setTimeout;"
        "window.setTimeout = (f, ms, ...args) => realSetTimeout(f, (ms || 0) / 100, ...args);"
    )

    await page.goto("http://evil.test/")
    await page.wait_for_function("window.events['turbo-channels:failed'] === 1")

    assert len(page.sockets) == 10
    [error] = [text for kind, text in page.console if kind == "error" and "gave up" in text]
    assert "ALLOWED_HOSTS" in error
    assert "Origin" in error


async def test_a_turbo_drive_visit_that_keeps_the_stream_keeps_its_subscription(page, start_server):
    server = await start_server()
    room = await Room.objects.acreate(name="drive")
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)

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
    room = await Room.objects.acreate(name="leaving")
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)

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
    room = await Room.objects.acreate(name="morph")
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)
    await page.evaluate("document.querySelector('h1').kept = true")  # a property: no HTML has it
    with suppress_broadcasts():
        message = await Message.objects.acreate(room=room, text="seen after a refresh")

    await room.stream.arefresh(method="morph")

    await wait_for(page, f"#message-{message.pk}")
    assert await page.evaluate("document.querySelector('h1').kept") is True


async def test_an_element_in_a_turbo_preview_does_not_subscribe(page, start_server):
    server = await start_server()
    room = await Room.objects.acreate(name="preview")
    await page.goto(f"{server.origin}/rooms/{room.pk}/")
    await wait_for(page, CONNECTED)
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
