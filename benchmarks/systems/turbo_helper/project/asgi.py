"""The ASGI application, as django-actioncable (turbo-helper's websocket side) documents it.

One ``ActionCableConsumer`` per socket at ``/cable`` (Rails' path) speaks the
ActionCable protocol; turbo-helper's ``TurboStreamCableChannel`` is registered
with it so ``<turbo-cable-stream-source>`` elements can subscribe.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from actioncable import ActionCableConsumer, cable_channel_register  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402
from turbo_helper.channels.streams_channel import TurboStreamCableChannel  # noqa: E402

cable_channel_register(TurboStreamCableChannel)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("cable", ActionCableConsumer.as_asgi())]),
    }
)
