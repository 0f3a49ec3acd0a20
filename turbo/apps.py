from __future__ import annotations

import contextlib

from channels.layers import get_channel_layer
from django.apps import AppConfig
from django.conf import settings


class TurboConfig(AppConfig):
    """Discovers every app's ``streams.py``, connects the model hooks, fits the channel layers."""

    name = "turbo"
    verbose_name = "Turbo Streams"

    def ready(self) -> None:
        from turbo import checks, compat, hooks, revocation  # noqa: F401  (registers the checks)
        from turbo.registry import registry

        registry.autodiscover()
        hooks.connect()
        revocation.connect()
        # Every consumer of the process, the project's own too, receives from
        # the layer instance Channels made here: fitted now, none of them
        # fails when Redis has nothing for it.
        for alias in getattr(settings, "CHANNEL_LAYERS", {}):
            # A layer that cannot be made fails where it is used, saying why.
            with contextlib.suppress(Exception):
                compat.bound_blocking_receive(get_channel_layer(alias))
