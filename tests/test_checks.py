from __future__ import annotations

from django.core import checks
from django.test import override_settings


def test_no_warning_with_a_channel_layer():
    assert [m for m in checks.run_checks() if m.id == "turbo.W001"] == []


def test_warning_without_a_channel_layer():
    with override_settings(CHANNEL_LAYERS={}):
        [message] = [m for m in checks.run_checks() if m.id == "turbo.W001"]
    assert "InMemoryChannelLayer" in message.hint
