"""The ASGI application the live tests serve, as a user's ``asgi.py`` would be.

Static files are served by Django's own handler, since a bare ``daphne`` serves
none (only ``runserver`` does, with ``DEBUG``); in production a project uses
WhiteNoise or its web server for them.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

import turbo.routing  # noqa: E402
from tests.testapp.consumers import NoticeConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        *turbo.routing.websocket_urlpatterns,
                        path("ws/notices/", NoticeConsumer.as_asgi()),
                    ]
                )
            )
        ),
    }
)

#: The same, with the websocket application turbo.routing builds.
turbo_routed = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": turbo.routing.websocket_application(),
    }
)
