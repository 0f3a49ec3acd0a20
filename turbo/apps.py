from __future__ import annotations

from django.apps import AppConfig


class TurboConfig(AppConfig):
    """Discovers every app's ``streams.py`` and connects the model hooks."""

    name = "turbo"
    verbose_name = "Turbo Streams"

    def ready(self) -> None:
        from turbo import checks, hooks, revocation  # noqa: F401  (registers the system checks)
        from turbo.registry import registry

        registry.autodiscover()
        hooks.connect()
        revocation.connect()
