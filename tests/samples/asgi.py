"""The ``asgi.py`` of every sample project, as docs/installation.rst has it.

``DJANGO_SETTINGS_MODULE`` is the project's ``project.settings``, run from
its directory. Static files are served by Django's handler, since a bare
daphne serves none.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

import turbo.routing  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": turbo.routing.websocket_application(),
    }
)
