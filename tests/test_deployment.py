"""The deployment guide's nginx site, as written, in front of two daphne processes.

``docs/deploy/nginx-site.conf`` is what ``docs/deployment.rst`` shows; the test
changes only the ports and the static files' directory, runs Debian's nginx
with it, and checks in Chromium that a page loaded through nginx is live.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from django.test import override_settings
from playwright.async_api import expect

from tests.conftest import layer_config, new_page, unavailable
from tests.live import ROOT, free_port, wait_until_listening
from tests.testapp.models import Message, Room

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.django_db(transaction=True)

SITE = ROOT / "docs" / "deploy" / "nginx-site.conf"
NGINX = "/usr/sbin/nginx"


class Nginx:
    """nginx with the guide's site, under a prefix of the test's own."""

    def __init__(self, prefix: Path, upstreams: list[int]) -> None:
        self.prefix, self.port = prefix, free_port()
        static = prefix / "static"
        shutil.copytree(ROOT / "turbo" / "static", static)
        site = SITE.read_text()
        for default, port in zip(["8001", "8002"], upstreams, strict=True):
            assert f"127.0.0.1:{default};" in site
            site = site.replace(f"127.0.0.1:{default};", f"127.0.0.1:{port};")
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        site = site.replace("alias /srv/mysite/static/;", f"alias {static}/;")
        (prefix / "site.conf").write_text(site)
        # What Debian's /etc/nginx/nginx.conf gives a site (its MIME types),
        # but for the paths. Started as root, nginx's workers would drop to a
        # user that cannot read the test's private temporary directory.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
            f"  include site.conf;\n}}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [NGINX, "-p", str(self.prefix), "-c", "nginx.conf", "-g", "daemon off;"]
        with (self.prefix / "error.log").open("ab") as errors:  # before the config is read
            self.process = subprocess.Popen(command, stderr=errors)
        wait_until_listening(self.process, self.port, 10, "nginx", self.output)

    def output(self) -> str:
        log = self.prefix / "error.log"
        return log.read_text() if log.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def nginx_in_front(servers: Any, tmp_path: Path) -> Iterator[Nginx]:
    """Two daphne processes on Redis pub/sub, and nginx before them."""
    if not os.path.exists(NGINX):
        unavailable(f"{NGINX} is missing: apt-get install nginx-light")
    layer = layer_config("redis-pubsub")
    upstreams = [servers(layer), servers(layer)]
    nginx = Nginx(tmp_path, [server.port for server in upstreams])
    nginx.start()
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        yield nginx
    nginx.stop()


async def test_a_page_served_through_the_guides_nginx_is_live(chromium, nginx_in_front):
    nginx = nginx_in_front
    room = await Room.objects.acreate(name="behind nginx")
    page = await new_page(chromium)

    await page.goto(f"http://127.0.0.1:{nginx.port}/rooms/{room.pk}/")
    await expect(page.locator("turbo-channels-stream-source[connected]")).to_have_count(1)
    message = await Message.objects.acreate(room=room, text="through nginx")

    await expect(page.locator(f"#message-{message.pk}")).to_contain_text("through nginx")
    if screenshot := os.environ.get("TURBO_DEPLOYMENT_SCREENSHOT"):
        await page.screenshot(path=screenshot)
    # The page's socket is relative to the page: it went through nginx.
    [socket_url] = await page.evaluate("TurboChannels.connections.map((c) => c.url)")
    assert socket_url == f"ws://127.0.0.1:{nginx.port}/ws/turbo/"
    await asyncio.to_thread(nginx.stop)
    assert "[error]" not in nginx.output(), nginx.output()
