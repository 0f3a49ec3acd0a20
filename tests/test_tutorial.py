"""The tutorial, built from its own code blocks, runs: what one window sends shows in another.

Nothing here comes from ``example_chat/`` or the test app: the project is what
``docs/tutorial.rst`` tells a reader to type and write, in its order. The
console blocks' ``$`` lines are run (``runserver`` on a free port, in the
background), and each block captioned with a path is written to that path.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import expect

from tests.conftest import new_page
from tests.live import ROOT, ServerProcess

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TUTORIAL = ROOT / "docs" / "tutorial.rst"
BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n((?:    :\w+: .*\n)*)\n((?:(?:    .*)?\n)+)", re.M)


@dataclass
class Command:
    line: str


@dataclass
class File:
    path: str
    text: str


def steps(source: str) -> Iterator[Command | File]:
    """The tutorial's commands and files, in the order a reader meets them."""
    for language, options, body in BLOCK.findall(source):
        text = textwrap.dedent(body).strip("\n") + "\n"
        caption = re.search(r":caption: (\S+)", options)
        if language == "console":
            yield from (Command(line[2:]) for line in text.splitlines() if line.startswith("$ "))
        elif caption:
            yield File(caption.group(1), text)


def test_the_tutorial_has_every_step():
    found = list(steps(TUTORIAL.read_text()))
    commands = [step.line for step in found if isinstance(step, Command)]
    files = [step.path for step in found if isinstance(step, File)]

    assert commands[:3] == [
        "django-admin startproject mysite",
        "cd mysite",
        "python manage.py startapp chat",
    ]
    assert commands[-1] == "python manage.py runserver"
    for path in ("mysite/settings.py", "mysite/asgi.py", "chat/streams.py", "chat/views.py"):
        assert path in files
    assert all(path.startswith(("mysite/", "chat/")) for path in files)


class TutorialServer(ServerProcess):
    """The tutorial's ``python manage.py runserver``, on a port of the test's."""

    def __init__(self, directory: Path) -> None:
        super().__init__(layer={}, kind="runserver")
        self.cwd = directory

    @property
    def command(self) -> list[str]:
        return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"]

    def environment(self) -> dict[str, str]:
        return project_environment()


def project_environment() -> dict[str, str]:
    """A reader's shell: none of the test suite's settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TURBO_LIVE")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("PYTHONPATH", None)
    return env


def run(line: str, directory: Path) -> None:
    words = shlex.split(line)
    if words[0] == "django-admin":
        words = [sys.executable, "-m", "django", *words[1:]]
    elif words[0] == "python":
        words = [sys.executable, *words[1:]]
    result = subprocess.run(
        words, cwd=directory, env=project_environment(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"$ {line}\n{result.stdout}{result.stderr}"


def build(directory: Path) -> tuple[Path, Command]:
    """Follow the tutorial up to its last command; that command and the project directory."""
    *found, last = steps(TUTORIAL.read_text())
    assert isinstance(last, Command)
    for step in found:
        if isinstance(step, File):
            target = directory / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text)
        elif step.line.startswith("cd "):
            directory = directory / step.line[3:]
        else:
            run(step.line, directory)
    return directory, last


@pytest.fixture
def tutorial_server(tmp_path: Path) -> Iterator[TutorialServer]:
    project, last = build(tmp_path)
    assert last.line == "python manage.py runserver"
    server = TutorialServer(project)
    server.start()
    yield server
    server.close()


async def test_a_message_typed_in_one_window_appears_in_the_other(chromium, tutorial_server):
    origin = f"http://127.0.0.1:{tutorial_server.port}"
    first, second = await new_page(chromium), await new_page(chromium)

    await first.goto(origin + "/")
    await expect(first.locator("li")).to_have_text("No room yet.")
    await first.fill("#id_name", "Lobby")
    await first.get_by_role("button", name="Create").click()
    await expect(first.locator("h1")).to_have_text("Lobby")
    await second.goto(first.url)
    for page in (first, second):
        await expect(page.locator("turbo-channels-stream-source[connected]")).to_have_count(1)

    await first.fill("#id_text", "Hello from the first window")
    await first.press("#id_text", "Enter")

    for page in (second, first):
        await expect(page.locator("#messages li")).to_have_text(["Hello from the first window"])
    if screenshot := os.environ.get("TURBO_TUTORIAL_SCREENSHOT"):
        await side_by_side(chromium, [first, second], screenshot)
    assert "Traceback" not in tutorial_server.output()


async def side_by_side(browser: Any, pages: list[Any], path: str) -> None:
    """A screenshot of ``pages`` next to each other, for the docs (docs/_static/)."""
    shots = [base64.b64encode(await page.screenshot()).decode() for page in pages]
    sheet = await new_page(browser)
    await sheet.set_viewport_size({"width": 1300, "height": 500})
    images = "".join(
        f'<img src="data:image/png;base64,{shot}" style="width:49%;border:1px solid #999">'
        for shot in shots
    )
    await sheet.set_content(f'<body style="margin:8px;display:flex;gap:1%">{images}</body>')
    await sheet.screenshot(path=path)
