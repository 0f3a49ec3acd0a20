"""The websocket route of the consumer, for the project's ``asgi.py``::

import turbo.routing

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter(turbo.routing.websocket_urlpatterns))
    ),
})
"""

from __future__ import annotations

from django.urls import path

from turbo import conf
from turbo.consumers import TurboStreamConsumer

#: One route, at ``TURBO_WEBSOCKET_PATH`` (default ``ws/turbo/``), named ``turbo-streams``.
websocket_urlpatterns = [
    path(conf.websocket_path(), TurboStreamConsumer.as_asgi(), name="turbo-streams"),
]
