"""Settings for the test suite. ``TURBO_TEST_DATABASE=postgres`` selects PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
from typing import Any

import django

SECRET_KEY = "tests-only-not-secret"
# runserver serves static files only with DEBUG, as in a developer's project.
DEBUG = os.environ.get("TURBO_LIVE_DEBUG") == "1"
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "daphne",  # its runserver serves websockets, as in a user's project
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "turbo",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "turbo.middleware.TurboMiddleware",
]
# Refreshes go out as soon as their request or transaction ends; the tests of
# the debounce set it themselves.
TURBO_REFRESH_DEBOUNCE = 0
STATIC_URL = "/static/"
ASGI_APPLICATION = "tests.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
    }
]

DATABASES: dict[str, dict[str, Any]]
if os.environ.get("TURBO_TEST_DATABASE", "sqlite") == "postgres":
    # One database per tox environment, so environments can run in parallel.
    suffix = re.sub(r"\W", "_", os.environ.get("TOX_ENV_NAME", "local"))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": f"turbo_{suffix}",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    # A file, not memory: the live tests' server processes share it.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "TEST": {
                "NAME": os.path.join(
                    tempfile.gettempdir(),
                    f"turbo-tests-{os.environ.get('TOX_ENV_NAME', 'local')}-{os.getpid()}.sqlite3",
                )
            },
        }
    }

# Server processes started by the live tests use the test run's database.
if "TURBO_LIVE_DATABASE_NAME" in os.environ:
    DATABASES["default"]["NAME"] = os.environ["TURBO_LIVE_DATABASE_NAME"]
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TURBO_LIVE_DATABASE_NAME"]}

# A second alias of the same database: a connection with transactions of its
# own, for tests of atomic(using="other") (databases=["default", "other"]).
# Same test name, so Django creates and migrates the database once.
DATABASES["other"] = {**DATABASES["default"], "TEST": {**DATABASES["default"].get("TEST", {})}}

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
if "TURBO_LIVE_CHANNEL_LAYER" in os.environ:
    live_layer = json.loads(os.environ["TURBO_LIVE_CHANNEL_LAYER"])
    CHANNEL_LAYERS = {"default": live_layer} if live_layer else {}

# Any other TURBO_* setting of a live test's server: TURBO_LIVE_TURBO_<NAME>, in JSON.
for variable, value in os.environ.items():
    if variable.startswith("TURBO_LIVE_TURBO_"):
        globals()[variable.removeprefix("TURBO_LIVE_")] = json.loads(value)

if "TURBO_LIVE_TOKEN_MAX_AGE" in os.environ:
    TURBO_TOKEN_MAX_AGE = float(os.environ["TURBO_LIVE_TOKEN_MAX_AGE"])

if "TURBO_LIVE_ACK_TIMEOUT" in os.environ:
    TURBO_ACK_TIMEOUT = float(os.environ["TURBO_LIVE_ACK_TIMEOUT"])

if "TURBO_LIVE_HISTORY_MAX_AGE" in os.environ:
    TURBO_HISTORY_MAX_AGE = float(os.environ["TURBO_LIVE_HISTORY_MAX_AGE"])

REDIS_URL = os.environ.get("TURBO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Background broadcasts (turbo.tasks) run at once, inside enqueue(), in the
# test's thread. Django 6 has the Tasks framework; 5.2 needs the django-tasks
# backport, whose app resets its backends when a test overrides TASKS.
if django.VERSION >= (6, 0):
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
elif importlib.util.find_spec("django_tasks"):
    INSTALLED_APPS.append("django_tasks")
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
