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
        server.close()


async def open_live(browser: Any, url: str) -> Any:
    """A window of its own on ``url``, once its streams are subscribed."""
    page = await new_page(browser)
    response = await page.goto(url)
    assert response.ok, f"{url}: {response.status}\n{await response.text()}"
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
    pages = [await open_live(chromium, server.origin + "/") for _ in range(2)]

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
    named = await open_live(chromium, server.origin + "/named/")
    await expect(named.locator("h1")).to_have_text("Listening to quickstart:BroadcastStream")
    by_string = await open_live(chromium, server.origin + "/")

    await server.shell(
        "from quickstart.streams import BroadcastStream\n"
        "BroadcastStream().update(text='Same stream', id='broadcast_box')\n"
    )

    for page in (named, by_string):
        await expect(page.locator("#broadcast_box")).to_have_text("Same stream")
