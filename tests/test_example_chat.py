"""The example chat end to end: its own runserver (daphne) and two browser windows.

Each test runs once on the embedded default (SQLite, the in-memory layer) and
once on Redis pub/sub (``REDIS_URL``), as the README says it runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from playwright.async_api import expect

from tests.conftest import new_page, require_service
from tests.live import ROOT, ServerProcess

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MANAGE = ROOT / "example_chat" / "manage.py"
CONNECTED = "turbo-channels-stream-source[connected]"


class ChatServer(ServerProcess):
    """``example_chat/manage.py runserver`` on a database of its own."""

    def __init__(self, database: Path, redis_url: str | None) -> None:
        super().__init__(layer={}, kind="runserver")
        self.database, self.redis_url = database, redis_url

    @property
    def command(self) -> list[str]:
        return [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{self.port}"]

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_chat.settings",
            "CHAT_DATABASE": str(self.database),
            "REDIS_PREFIX": f"chat{uuid.uuid4().hex}",
        }
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def set_up(self) -> None:
        """What the quick start's ``demo`` command does before it serves."""
        subprocess.run(
            [sys.executable, str(MANAGE), "demo", "--no-run"],
            env=self.environment(),
            check=True,
            capture_output=True,
        )


@pytest.fixture(params=["memory", "redis-pubsub"])
def chat(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChatServer]:
    redis_url = None
    if request.param == "redis-pubsub":
        require_service("Redis", settings.REDIS_URL)
        redis_url = settings.REDIS_URL
    server = ChatServer(tmp_path / "chat.sqlite3", redis_url)
    server.set_up()
    server.start()
    yield server
    server.close()


async def open_room(browser: Any, chat: ChatServer, name: str, user: str | None = None) -> Any:
    """A window of its own, logged in as ``user`` if given, on the room ``name``."""
    page = await new_page(browser)
    if user:
        await log_in(page, chat, user)
    await page.goto(chat.origin + "/")
    await page.click(f"#rooms a:text-is({name!r})")
    # A Turbo Drive visit: until the room's page replaces the list's, the list's
    # own element is the one connected.
    await page.wait_for_selector(f"h1:text-is({name!r})")
    await page.wait_for_selector(CONNECTED, state="attached")
    return page


async def log_in(page: Any, chat: ChatServer, user: str) -> None:
    """Through the header's link and the login form, as Turbo Drive visits."""
    if not page.url.startswith(chat.origin):
        await page.goto(chat.origin + "/")
    await page.click("header a:text-is('Log in')")
    await page.fill("#id_username", user)
    await page.fill("#id_password", "chat-demo")
    await page.click("main button")
    await page.wait_for_selector(f"header form:has-text({user!r})")
    assert page.url == chat.origin + "/"


async def message_item(page: Any, text: str) -> Any:
    item = page.locator("#messages li", has_text=text)
    await item.wait_for(state="attached")
    return item


async def test_messages_sent_edited_and_deleted_in_one_window_change_the_other(chromium, chat):
    a = await open_room(chromium, chat, "Lobby")
    b = await open_room(chromium, chat, "Lobby")

    await a.fill("#id_text", "hello from A")
    await a.press("#id_text", "Enter")
    in_b = await message_item(b, "hello from A")
    item_id = await in_b.get_attribute("id")
    await expect(a.locator("#id_text")).to_have_value("")  # the form reset itself
    assert await a.locator(f"#{item_id}").count() == 1

    await (await message_item(a, "hello from A")).locator("text=edit").click()
    await a.fill(f"#{item_id} input[name=text]", "edited in A")
    await a.click(f"#{item_id} button")
    await b.locator(f"#{item_id}", has_text="edited in A").wait_for(state="attached")
    assert await b.locator("#messages li", has_text="hello from A").count() == 0

    await a.locator(f"#{item_id} >> text=delete").click()
    await b.locator(f"#{item_id}").wait_for(state="detached")
    await a.locator(f"#{item_id}").wait_for(state="detached")


async def test_a_room_created_in_one_window_appears_in_the_others_list(chromium, chat):
    a, b = await new_page(chromium), await new_page(chromium)
    for page in (a, b):
        await page.goto(chat.origin + "/")
        await page.wait_for_selector(CONNECTED, state="attached")

    await a.fill("#id_name", "Kitchen")
    await a.click("#room-form button")

    await b.locator("#rooms a", has_text="Kitchen").wait_for(state="attached")
    await expect(a.locator("#id_name")).to_have_value("")
    await a.locator("#rooms a", has_text="Kitchen").wait_for(state="attached")
    # Appended live where a reload puts it: the list keeps one order.
    live = await b.locator("#rooms a").all_inner_texts()
    await b.reload()
    assert await b.locator("#rooms a").all_inner_texts() == live
    assert live[-1] == "Kitchen"


async def test_a_user_without_access_to_a_private_room_is_refused_its_stream(chromium, chat):
    alice = await open_room(chromium, chat, "Alice's notes", user="alice")
    element = alice.locator("turbo-channels-stream-source")
    attributes = {name: await element.get_attribute(name) for name in ("url", "stream", "token")}
    bob = await new_page(chromium)
    await log_in(bob, chat, "bob")

    response = await bob.goto(chat.origin + (await alice.evaluate("location.pathname")))
    assert response.status == 403
    # Bob replays Alice's token in a page of his own: the token is genuine, Bob is not.
    await bob.goto(chat.origin + "/")
    reason = await bob.evaluate(
        """(attributes) => new Promise((resolve) => {
          document.addEventListener("turbo-channels:rejected", (e) => resolve(e.detail.reason));
          const element = document.createElement("turbo-channels-stream-source");
          for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
          new MutationObserver(() => element.hasAttribute("connected") && resolve("subscribed"))
            .observe(element, {attributes: true});
          document.body.append(element);
        })""",
        attributes,
    )
    assert reason == "forbidden"


async def test_a_users_sent_count_goes_up_on_their_room_list_and_nobody_elses(chromium, chat):
    lists = {}
    for user in ("alice", "bob"):
        lists[user] = await new_page(chromium)
        await log_in(lists[user], chat, user)  # which ends on the room list
        await lists[user].wait_for_selector(f"#sent > {CONNECTED}", state="attached")
    await expect(lists["alice"].locator("#sent")).to_have_text("You have sent 1 message.")
    await expect(lists["bob"].locator("#sent")).to_have_text("You have sent 0 messages.")
    # The count renders inside an element whose id is alice's alone.
    count_id = await lists["alice"].locator("#sent > span").get_attribute("id")
    assert count_id != await lists["bob"].locator("#sent > span").get_attribute("id")

    await send(await open_room(chromium, chat, "Lobby", user="alice"), "one more")

    await expect(lists["alice"].locator("#sent")).to_have_text("You have sent 2 messages.")
    await expect(lists["bob"].locator("#sent")).to_have_text("You have sent 0 messages.")


def test_the_chat_serves_the_scripts_its_pages_load(chat):
    status, html = chat.get("/")
    scripts = re.findall(r'<script type="module" src="([^"]+)"></script>', html)

    assert status == 200
    # {% turbo_subscribe %} loads the client again, for pages without {% turbo_head %}.
    assert list(dict.fromkeys(scripts)) == [
        "/static/turbo/vendor/turbo.es2017-esm.js",
        "/static/turbo/turbo_streams.js",
    ]
    for script in scripts:
        assert chat.get(script)[0] == 200


PRIVATE_ROOM = "Alice's notes"
# How long after the click on "Log out" in one tab another tab of the browser
# may take to hear of it: the logout's request, the server's frame, a new
# socket, a refused subscribe. Measured at 0.14-0.22 s on a loaded two-core machine.
LOGOUT_BOUND_MS = 2_000
# Records on window the client's events, and when they came (Date.now(): one
# clock for every page of the browser).
RECORD_EVENTS = """
window.turboEvents = [];
for (const name of ["rejected", "session-changed"]) {
  document.addEventListener(`turbo-channels:${name}`, (event) => window.turboEvents.push(
    {name, at: Date.now(), reason: event.detail.reason, stream: event.detail.stream},
  ));
}
"""


async def send(page: Any, text: str) -> None:
    """Sends a message through the room's form, and waits until it was saved."""
    await page.fill("#id_text", text)
    await page.press("#id_text", "Enter")
    await expect(page.locator("#id_text")).to_have_value("")


async def stream_attributes(page: Any) -> dict[str, str]:
    element = page.locator("turbo-channels-stream-source").first
    return {name: await element.get_attribute(name) for name in ("url", "stream", "token")}


async def add_stream_source(page: Any, attributes: dict[str, str], parent: str = "body") -> None:
    """Adds a stream source with these attributes to ``document[parent]``."""
    await page.evaluate(
        """([attributes, parent]) => {
          const element = document.createElement("turbo-channels-stream-source");
          for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
          document[parent].append(element);
        }""",
        [attributes, parent],
    )


async def test_a_private_room_opened_after_a_turbo_drive_login_is_live(chromium, chat):
    elsewhere = await open_room(chromium, chat, PRIVATE_ROOM, user="alice")
    page = await new_page(chromium)
    received: list[dict[str, Any]] = []
    page.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda data: received.append(json.loads(data))),
    )
    await page.goto(chat.origin + "/")
    await page.wait_for_selector(CONNECTED, state="attached")
    assert await page.locator("#rooms a", has_text=PRIVATE_ROOM).count() == 0
    # A subscription the page keeps across Turbo Drive visits (a layout's,
    # say): the anonymous socket stays open through the login.
    await add_stream_source(page, await stream_attributes(page), parent="documentElement")
    await page.evaluate("window.sameDocument = true")

    await log_in(page, chat, "alice")
    await page.click(f"#rooms a:text-is({PRIVATE_ROOM!r})")
    await page.wait_for_selector(f"h1:text-is({PRIVATE_ROOM!r})")
    await page.wait_for_selector(CONNECTED, state="attached")
    await send(elsewhere, "saved elsewhere")

    await message_item(page, "saved elsewhere")
    assert {"type": "reconnect", "reason": "session"} in received
    # Turbo Drive all along: no page load, and no workaround reloading one.
    assert await page.evaluate("window.sameDocument") is True


async def test_a_logout_in_one_tab_stops_another_tabs_private_room_and_says_so(chromium, chat):
    elsewhere = await open_room(chromium, chat, PRIVATE_ROOM, user="alice")
    lobby_page = await open_room(chromium, chat, "Lobby")
    lobby = await stream_attributes(lobby_page)
    a = await open_room(chromium, chat, PRIVATE_ROOM, user="alice")
    b = await a.context.new_page()
    await b.add_init_script(RECORD_EVENTS)
    await b.goto(a.url)
    await b.wait_for_selector(CONNECTED, state="attached")

    logging_out_at = await a.evaluate("Date.now()")
    await a.click("header button:text-is('Log out')")
    element = b.locator("turbo-channels-stream-source")
    await expect(element).to_have_attribute("state", "rejected", timeout=LOGOUT_BOUND_MS)
    events = await b.evaluate("window.turboEvents")

    assert [event["name"] for event in events] == ["session-changed", "rejected"]
    assert events[1]["reason"] == "forbidden"
    assert events[1]["at"] - logging_out_at < LOGOUT_BOUND_MS
    assert not await element.evaluate("element => element.hasAttribute('connected')")
    # B hears no more of the room: a message saved in it after the logout is
    # not shown, while one in a public room B listens to on the same socket,
    # saved after it, is.
    await add_stream_source(b, lobby)
    await b.wait_for_selector(CONNECTED, state="attached")
    await send(elsewhere, "after the logout")
    await send(lobby_page, "in the lobby")
    await message_item(b, "in the lobby")
    assert await b.locator("#messages li", has_text="after the logout").count() == 0


async def test_a_subscribe_refused_before_a_login_is_granted_on_the_socket_that_follows(
    chromium, chat
):
    private = await stream_attributes(await open_room(chromium, chat, PRIVATE_ROOM, user="alice"))
    waiting = await new_page(chromium)
    await waiting.add_init_script(RECORD_EVENTS)
    await waiting.goto(chat.origin + "/")
    await waiting.wait_for_selector(CONNECTED, state="attached")
    # An anonymous page subscribes to the private room: refused.
    await add_stream_source(waiting, {**private, "id": "private"})
    element = waiting.locator("#private")
    await expect(element).to_have_attribute("state", "rejected")

    # Alice logs in in another tab of the same browser.
    await log_in(await waiting.context.new_page(), chat, "alice")

    await expect(element).to_have_attribute("state", "subscribed")
    assert await element.evaluate("element => element.hasAttribute('connected')")
    names = [event["name"] for event in await waiting.evaluate("window.turboEvents")]
    assert names == ["rejected", "session-changed"]
