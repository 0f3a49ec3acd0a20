"""Settings of the reminders sample: the shared ones, and its app."""

from __future__ import annotations

from tests.samples.common_settings import *  # noqa: F403
from tests.samples.common_settings import COMMON_APPS

INSTALLED_APPS = [*COMMON_APPS, "reminders"]
