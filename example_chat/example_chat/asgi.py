"""HTTP and the turbo websocket, routed as every project does (docs/installation.rst)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_chat.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

import turbo.routing  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin validation and the session's user, as docs/transport.rst shows.
        "websocket": turbo.routing.websocket_application(),
    }
)
