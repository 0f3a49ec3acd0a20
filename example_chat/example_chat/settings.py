"""Settings of the example chat: SQLite and the in-memory channel layer, or Redis.

``REDIS_URL=redis://127.0.0.1:6379/0`` switches to the Redis pub/sub layer, so
that several server processes (and ``manage.py shell``) share broadcasts.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "example-chat-only-not-secret")
DEBUG = os.environ.get("DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves websockets too
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "turbo",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Pages replay what was broadcast while they rendered (docs/reliability.rst).
    "turbo.middleware.TurboMiddleware",
]

ROOT_URLCONF = "example_chat.urls"
ASGI_APPLICATION = "example_chat.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
        "NAME": os.environ.get("CHAT_DATABASE", BASE_DIR / "db.sqlite3"),
    }
}

# The embedded default: one process, nothing to install.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [os.environ["REDIS_URL"]],
                # Chats sharing one Redis keep apart under distinct prefixes.
                "prefix": os.environ.get("REDIS_PREFIX", "asgi"),
            },
        }
    }

# Turbo sends the CSRF token of links with data-turbo-method in this header,
# read from the csrftoken cookie that <meta name="csrf-param"> names.
CSRF_HEADER_NAME = "HTTP_X_CSRF_TOKEN"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "room_list"
LOGOUT_REDIRECT_URL = "room_list"

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
