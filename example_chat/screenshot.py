"""Take docs/_static/two-windows.png: the chat in two windows, side by side.

Run from the repository root, with the package and playwright installed and
Debian's Chromium at /usr/bin/chromium::

    python example_chat/screenshot.py

It serves the chat on a scratch database, sends a message in the left window
and shoots once the right one shows it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "docs" / "_static" / "two-windows.png"
CONNECTED = "turbo-channels-stream-source[connected]"
WINDOW = """
<div class="window"><div class="bar"><i></i><i></i><i></i></div>
<iframe name="{name}" src="{url}"></iframe></div>"""
PAGE = """<!doctype html><style>
body {{ margin: 0; padding: 24px; background: #dfe3e8; display: flex; gap: 24px; }}
.window {{ flex: 1; background: white; border-radius: 8px; overflow: hidden;
  box-shadow: 0 6px 24px rgba(0, 0, 0, .18); }}
.bar {{ height: 28px; background: #eceef1; display: flex; gap: 7px; align-items: center;
  padding-left: 12px; }}
.bar i {{ width: 11px; height: 11px; border-radius: 50%; background: #c9cdd2; }}
iframe {{ border: 0; width: 100%; height: 420px; }}
</style>{windows}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def shoot(origin: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 500})
        room = f"{origin}/rooms/1/"
        windows = "".join(WINDOW.format(name=name, url=room) for name in ("left", "right"))
        # The host page on the chat's origin, so the windows' cookies are first-party.
        await page.goto(f"{origin}/login/")
        await page.set_content(PAGE.format(windows=windows))
        left, right = (page.frame(name=name) for name in ("left", "right"))
        for frame in (left, right):
            await frame.wait_for_selector(CONNECTED, state="attached")
        await left.fill("#id_text", "Typed on the left, live on the right.")
        await left.press("#id_text", "Enter")
        await right.wait_for_selector("#messages li:has-text('live on the right')")
        OUTPUT.parent.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT))
        await browser.close()


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_chat.settings",
            "CHAT_DATABASE": str(Path(scratch) / "chat.sqlite3"),
        }
        manage = [sys.executable, str(HERE / "manage.py")]
        subprocess.run([*manage, "demo", "--no-run"], env=env, check=True)
        address = f"127.0.0.1:{port}"
        server = subprocess.Popen([*manage, "runserver", "--noreload", address], env=env)
        try:
            while socket.socket().connect_ex(("127.0.0.1", port)):
                time.sleep(0.1)  # nothing but the port says the server is up
            asyncio.run(shoot(f"http://127.0.0.1:{port}"))
        finally:
            server.terminate()
            server.wait()
    print(f"Wrote {OUTPUT}")


if __name__ == "__main__":
    main()
