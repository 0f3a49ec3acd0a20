"""turbo-django's four sample apps, as its users write them, live in Chromium.

turbo-django (the unmaintained predecessor whose API we keep) ships four
samples: quickstart, chat, reminders and components_demo. They cannot be
fetched here, so ``tests/samples/`` has four small projects of our own that
use each API item the way turbo-django's samples and docs use it; only the
setup (settings, ``asgi.py``, ``{% turbo_head %}``) is ours. Each test runs
one under daphne on a SQLite file of its own and drives real pages: forms
filled and submitted through Turbo, broadcasts from ``manage.py shell`` as
turbo-django's docs send them (over Redis, shared with the server), and the
other window checked for the change.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import expect

from tests.conftest import layer_config, new_page
from tests.live import ROOT, ServerProcess, django_command

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

SAMPLES = ROOT / "tests" / "samples"
CONNECTED = "turbo-channels-stream-source[connected]"
PASSWORD = "sample-password"


class SampleServer(ServerProcess):
    """A sample project under daphne, run from its directory as ``manage.py`` would be."""

    def __init__(self, name: str, layer: dict[str, Any], database: Path) -> None:
        super().__init__(layer)
        self.cwd = SAMPLES / name
        self.application = "tests.samples.asgi:application"
        self.database = database

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "DJANGO_SETTINGS_MODULE": "project.settings",
            # The project's directory first, as manage.py puts it: its app
            # imports as "chat", not "tests.samples.chat.chat".
            "PYTHONPATH": os.pathsep.join([str(self.cwd), str(ROOT)]),
            "TURBO_LIVE_DATABASE_NAME": str(self.database),
        }

    def manage(self, *args: str) -> str:
        """``manage.py <args>`` of this project, on its database and layer."""
        return django_command(self.environment(), self.cwd, *args)

    async def shell(self, code: str) -> str:
        """Run ``code`` in ``manage.py shell``, another process, as turbo-django's docs do."""
        return await asyncio.to_thread(self.manage, "shell", "--command", code)


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Callable[..., SampleServer]]:
    """``sample(name, layer="memory")`` → the sample project ``name``, migrated and serving.

    A test that broadcasts from ``manage.py shell`` needs a layer that
    process shares with the server: ``"redis-pubsub"``.
    """
    started: list[SampleServer] = []

    def start(name: str, layer: str = "memory") -> SampleServer:
        server = SampleServer(name, layer_config(layer), tmp_path / f"{name}.sqlite3")
        started.append(server)
        server.manage("migrate", "--run-syncdb", "--verbosity", "0")
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
        # pytest shows it for a failed test only: the server's side of the failure.
        print(f"{server.cwd.name}'s server said:\n{server.output()}")
        server.close()


async def open_live(browser: Any, server: SampleServer, path: str) -> Any:
    """A window of its own on ``path``, once its streams are subscribed."""
    page = await new_page(browser)
    response = await page.goto(server.origin + path)
    assert response.ok, f"{path}: {response.status}\n{server.output()}"
    await page.wait_for_selector(CONNECTED, state="attached")
    return page


async def stay_on_page(page: Any) -> None:
    """Mark the document, so that :func:`assert_same_document` tells a Turbo update from a load."""
    await page.evaluate("window.sameDocument = true")


async def assert_same_document(page: Any) -> None:
    assert await page.evaluate("window.sameDocument") is True


# quickstart: a Stream with no model, a page subscribed by name, broadcasts from a shell.


async def test_quickstart_broadcasts_from_a_shell_reach_every_subscribed_page(chromium, sample):
    server = sample("quickstart", "redis-pubsub")
    pages = [await open_live(chromium, server, "/") for _ in range(2)]

    await server.shell(
        "from quickstart.streams import BroadcastStream\n"
        "BroadcastStream().update(text='Deploy at noon', id='broadcast_box')\n"
    )
    for page in pages:
        await expect(page.locator("#broadcast_box")).to_have_text("Deploy at noon")

    await server.shell(
        "from quickstart.streams import BroadcastStream\n"
        "for text in ('first', 'second'):\n"
        "    BroadcastStream().append(\n"
        "        'quickstart/log_entry.html', {'sender': 'ops', 'text': text}, id='broadcast_log'\n"
        "    )\n"
    )
    for page in pages:
        entries = page.locator("#broadcast_log li")
        await expect(entries).to_have_text(["ops says: first", "ops says: second"])
        assert [entry for entry in page.console if entry[0] == "error"] == []


async def test_quickstart_subscribes_by_the_streams_name_read_as_a_property(chromium, sample):
    server = sample("quickstart", "redis-pubsub")
    named = await open_live(chromium, server, "/named/")
    await expect(named.locator("h1")).to_have_text("Listening to quickstart:BroadcastStream")
    by_string = await open_live(chromium, server, "/")

    await server.shell(
        "from quickstart.streams import BroadcastStream\n"
        "BroadcastStream().update(text='Same stream', id='broadcast_box')\n"
    )

    for page in (named, by_string):
        await expect(page.locator("#broadcast_box")).to_have_text("Same stream")


# chat: ModelStreams with hooks, a stream of its own for the rooms' list,
# generic views, a message form in a frame, a raw broadcast.


async def create_room(server: SampleServer, name: str) -> int:
    output = await server.shell(
        f"from chat.models import Room\nprint(Room.objects.create(name={name!r}).pk)\n"
    )
    return int(output.split()[-1])


async def test_chat_a_room_created_in_one_window_is_added_to_the_others_list(chromium, sample):
    server = sample("chat")
    a, b = await open_live(chromium, server, "/"), await open_live(chromium, server, "/")
    await stay_on_page(b)

    await a.click("text=New room")
    await a.fill("#id_name", "Kitchen")
    await a.click("#room-form button")

    await expect(a.locator("#room-name")).to_have_text("Kitchen")
    await expect(b.locator("#room_list li")).to_have_text(["Kitchen"])
    await assert_same_document(b)
    await b.click("#room_list >> text=Kitchen")
    await expect(b.locator("#room-name")).to_have_text("Kitchen")


async def test_chat_messages_sent_and_deleted_in_one_window_change_the_other(chromium, sample):
    server = sample("chat")
    room = await create_room(server, "Lobby")
    a = await open_live(chromium, server, f"/rooms/{room}/")
    b = await open_live(chromium, server, f"/rooms/{room}/")
    await stay_on_page(b)

    for text in ("hello", "anyone here?"):
        await a.fill("#send-message input[name=text]", text)
        await a.click("#send-message button")
        # The frame's form comes back empty once the message is saved.
        await expect(a.locator("#send-message input[name=text]")).to_have_value("")
    await expect(b.locator("#messages .text")).to_have_text(["hello", "anyone here?"])
    await expect(a.locator("#messages .text")).to_have_text(["hello", "anyone here?"])

    await a.locator("#messages li", has_text="hello").locator("text=delete").click()

    await expect(b.locator("#messages .text")).to_have_text(["anyone here?"])
    await expect(a.locator("#messages .text")).to_have_text(["anyone here?"])
    await assert_same_document(b)


async def test_chat_a_room_renamed_through_its_form_is_renamed_in_every_window(chromium, sample):
    server = sample("chat")
    room = await create_room(server, "Lobby")
    a = await open_live(chromium, server, f"/rooms/{room}/")
    in_room = await open_live(chromium, server, f"/rooms/{room}/")
    on_list = await open_live(chromium, server, "/")
    renaming_too = await open_live(chromium, server, f"/rooms/{room}/edit/")

    await a.click("text=Rename")
    await a.fill("#id_name", "Main hall")
    await a.click("#room-form button")

    await expect(a.locator("h1")).to_have_text("Main hall")
    for page in (in_room, renaming_too):
        await expect(page.locator("#room-name")).to_have_text("Main hall")
    await expect(in_room.locator(f"#room-{room}")).to_have_text("Main hall")
    await expect(on_list.locator("#room_list li")).to_have_text(["Main hall"])


async def test_chat_an_announcement_is_streamed_raw_to_the_room(chromium, sample):
    server = sample("chat")
    room = await create_room(server, "Lobby")
    other = await create_room(server, "Attic")
    a = await open_live(chromium, server, f"/rooms/{room}/")
    b = await open_live(chromium, server, f"/rooms/{room}/")
    elsewhere = await open_live(chromium, server, f"/rooms/{other}/")

    await a.fill("#announce input[name=text]", "Cake in the kitchen")
    await a.click("#announce button")

    announcement = "Announcement: Cake in the kitchen"
    await expect(b.locator("#messages .announcement")).to_have_text([announcement])
    # A message sent after it reaches the other room: the announcement did not.
    await elsewhere.fill("#send-message input[name=text]", "later")
    await elsewhere.click("#send-message button")
    await expect(elsewhere.locator("#messages .text")).to_have_text(["later"])
    assert await elsewhere.locator("#messages .announcement").count() == 0


def test_chat_lists_the_registered_streams_from_the_registry(sample):
    server = sample("chat")

    status, html = server.get("/")

    assert status == 200, server.output()
    assert "chat:MessageStream, chat:RoomListStream, chat:RoomStream" in html


# reminders: views answering a frame's form posts with turbo-stream responses.


async def test_reminders_are_added_searched_and_cleared_in_place(chromium, sample):
    server = sample("reminders")
    page = await new_page(chromium)
    await page.goto(server.origin + "/")
    await stay_on_page(page)
    texts = ["Buy milk", "Call the plumber", "Water the plants"]

    for text in texts:
        await page.fill("#reminder-form input[name=text]", text)
        await page.click("#reminder-form input[value=Add]")
        await expect(page.locator("#reminders li").last).to_have_text(text)
    await expect(page.locator("#reminders li")).to_have_text(texts)

    await page.fill("#reminder-search input[name=search]", "the")
    await page.click("#reminder-search button")
    await expect(page.locator("#reminders li")).to_have_text(texts[1:])

    other = await new_page(chromium)
    await other.goto(server.origin + "/")
    await expect(other.locator("#reminders li")).to_have_text(texts)

    await page.click("#reminder-form input[value=Clear]")
    await expect(page.locator("#reminders li")).to_have_count(0)
    await assert_same_document(page)
    await other.reload()
    await expect(other.locator("#reminders li")).to_have_count(0)
    assert [entry for entry in page.console if entry[0] == "error"] == []


# components_demo: components on every page and per user, rendered from a shell.


async def log_in(page: Any, server: SampleServer, username: str) -> None:
    """Through the page's link and Django's login form, as Turbo Drive submits it."""
    await page.goto(server.origin + "/")
    await page.click("text=Log in")
    await page.fill("#id_username", username)
    await page.fill("#id_password", PASSWORD)
    await page.click("#login button")
    await expect(page.locator("#username")).to_have_text(username)
    await page.wait_for_selector(f"#cart {CONNECTED}", state="attached")


async def create_users(server: SampleServer, *names: str) -> None:
    """Users ``names``, each with :data:`PASSWORD`."""
    await server.shell(
        "from django.contrib.auth.models import User\n"
        f"for name in {names!r}:\n"
        f"    User.objects.create_user(name, password={PASSWORD!r})\n"
    )


async def test_components_an_alert_rendered_from_a_shell_reaches_every_page(chromium, sample):
    server = sample("components_demo", "redis-pubsub")
    pages = [await open_live(chromium, server, "/") for _ in range(2)]
    for page in pages:
        assert await page.locator("#alerts [role=alert]").count() == 0

    await server.shell(
        "from app.streams import AlertComponent\n"
        "AlertComponent().render(alert_class='warning', alert_content='Restart at noon')\n"
    )

    for page in pages:
        alert = page.locator("#alerts [role=alert]")
        await expect(alert).to_have_text("Restart at noon")
        await expect(alert).to_have_class("alert alert-warning")


async def test_components_a_users_cart_count_changes_on_that_users_pages_only(chromium, sample):
    server = sample("components_demo", "redis-pubsub")
    await create_users(server, "alice", "bob")
    alice = await new_page(chromium)
    await log_in(alice, server, "alice")
    alice_elsewhere = await alice.context.new_page()
    await alice_elsewhere.goto(server.origin + "/")
    await alice_elsewhere.wait_for_selector(f"#cart {CONNECTED}", state="attached")
    bob = await new_page(chromium)
    await log_in(bob, server, "bob")
    for page in (alice, alice_elsewhere, bob):
        await expect(page.locator(".cart-count")).to_have_text("0")

    await alice.fill("#add-to-cart input[name=name]", "Tea")
    await alice.click("#add-to-cart button")

    await expect(alice_elsewhere.locator(".cart-count")).to_have_text("1")
    # The form's redirect is a Turbo Drive visit: the new page's form is empty,
    # and its component subscribes anew before the shell renders.
    await expect(alice.locator("#add-to-cart input[name=name]")).to_have_value("")
    await alice.wait_for_selector(f"#cart {CONNECTED}", state="attached")
    await server.shell(
        "from app.streams import CartCountComponent\n"
        "from django.contrib.auth.models import User\n"
        "CartCountComponent(User.objects.get(username='alice')).render(count=5)\n"
        "CartCountComponent(User.objects.get(username='bob')).render(count=7)\n"
    )
    # Alice's render went out first: had it reached Bob's page, it would have come before his.
    await expect(bob.locator(".cart-count")).to_have_text("7")
    for page in (alice, alice_elsewhere):
        await expect(page.locator(".cart-count")).to_have_text("5")


async def test_components_a_stream_per_user_object_reaches_that_user_only(chromium, sample):
    server = sample("components_demo", "redis-pubsub")
    await create_users(server, "alice", "bob")
    alice, bob = await new_page(chromium), await new_page(chromium)
    for page, name in ((alice, "alice"), (bob, "bob")):
        await log_in(page, server, name)
        await page.click("text=Inbox")
        await expect(page.locator("h1")).to_have_text(f"{name}'s inbox")
        await page.wait_for_selector(CONNECTED, state="attached")

    await server.shell(
        "from app.streams import UserStream\n"
        "from django.contrib.auth.models import User\n"
        "for user in User.objects.order_by('username'):\n"
        "    UserStream(user).append('app/notice.html', {'text': f'For {user}'}, id='notices')\n"
    )

    await expect(bob.locator("#notices li")).to_have_text(["For bob"])
    await expect(alice.locator("#notices li")).to_have_text(["For alice"])
