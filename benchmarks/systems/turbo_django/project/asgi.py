"""The ASGI application, as turbo-django's installation guide writes it.

Every websocket goes to one ``TurboStreamsConsumer`` (a sync consumer per
socket); its JavaScript connects to ``/ws/`` and nothing routes on the path.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402 (needs the apps loaded)

from turbo.consumers import TurboStreamsConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TurboStreamsConsumer.as_asgi(),
    }
)
