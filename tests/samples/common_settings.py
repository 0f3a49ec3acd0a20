"""The settings every sample project shares: ``from tests.samples.common_settings import *``.

A live test names the database and the channel layer in the environment, as
``tests/settings.py`` reads them (``tests/live.py``); run by hand, a sample
uses ``db.sqlite3`` in its directory and the in-memory layer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SECRET_KEY = "samples-only-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "tests.samples.asgi.application"
STATIC_URL = "/static/"
LOGIN_REDIRECT_URL = "/"
# Turbo sends the <meta name="csrf-token"> of base.html in this header, for
# links with data-turbo-method.
CSRF_HEADER_NAME = "HTTP_X_CSRF_TOKEN"

#: Each project adds its own app after these.
COMMON_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "turbo",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "turbo.middleware.TurboMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # base.html, the setup's: {% turbo_head %} where turbo-django included turbo/head.html.
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TURBO_LIVE_DATABASE_NAME", Path.cwd() / "db.sqlite3"),
    }
}

CHANNEL_LAYERS = {
    "default": json.loads(
        os.environ.get(
            "TURBO_LIVE_CHANNEL_LAYER", '{"BACKEND": "channels.layers.InMemoryChannelLayer"}'
        )
    )
}
