"""Settings of the benchmark project of django-turbo-streams, as a user writes them.

The database is the file ``BENCH_DB`` (the harness makes a fresh one per run);
the channel layer is the Redis pub/sub layer under the prefix
``BENCH_REDIS_PREFIX`` (fresh per measurement).
"""

from __future__ import annotations

import os

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "turbo",
    "feed",
]

ASGI_APPLICATION = "project.asgi.application"
ROOT_URLCONF = "project.urls"

TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB", "db.sqlite3"),
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": "redis://127.0.0.1:6379", "socket_timeout": None}],
            "prefix": os.environ.get("BENCH_REDIS_PREFIX", "bench"),
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# Every benchmark client connects from 127.0.0.1: lift the cap on sockets per
# client address, which would otherwise refuse all but the first 100.
TURBO_MAX_SOCKETS_PER_CLIENT = None
