"""Settings of the django-turbo-helper benchmark project.

The harness sets BENCH_DB (the SQLite file the server and the driver share) and
BENCH_REDIS_PREFIX (a prefix per run, so runs never hear each other's groups).
"""

from __future__ import annotations

import os

# Fixed: the stream name the clients subscribe with is signed with it in setup().
SECRET_KEY = "bench-turbo-helper-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "channels",
    "turbo_helper",
    "chat.apps.ChatConfig",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_DB"],
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

ASGI_APPLICATION = "project.asgi.application"
ROOT_URLCONF = "project.urls"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": ["redis://127.0.0.1:6379"],
            "prefix": os.environ.get("BENCH_REDIS_PREFIX", "bench"),
        },
    }
}
