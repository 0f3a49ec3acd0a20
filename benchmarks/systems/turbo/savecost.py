"""What a ModelStream costs a model: save() and loading rows, with and without one.

Run by the harness in its virtualenv, from this directory::

    python savecost.py --layer memory --creates 2000 --rows 100000 --repeats 3

SQLite in memory (so that the database's own cost stays small next to what is
measured), no websocket connected: the stream has no subscribers, and every
broadcast is rendered and sent to a group nobody is in. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from typing import TYPE_CHECKING, Any

import django
from django.conf import settings

if TYPE_CHECKING:
    from collections.abc import Callable

LAYERS: dict[str, dict[str, Any]] = {
    "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    "redis": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": "redis://127.0.0.1:6379", "socket_timeout": None}],
            "prefix": os.environ.get("BENCH_REDIS_PREFIX", "bench") + ".savecost",
        },
    },
}


def configure(layer: str) -> None:
    settings.configure(
        SECRET_KEY="benchmark-only-not-secret",
        INSTALLED_APPS=["channels", "turbo", "cost"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        TEMPLATES=[
            {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
        ],
        CHANNEL_LAYERS={"default": LAYERS[layer]},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        USE_TZ=True,
        **({"TURBO_HISTORY": None} if os.environ.get("NOHIST") else {}),
        # The in-memory layer warns once that no socket can hear it: true, and the point.
        LOGGING={"version": 1, "loggers": {"turbo": {"level": "ERROR"}}},
    )
    django.setup()


def timed(run: Callable[[], object]) -> float:
    """Seconds ``run()`` takes, with the garbage collector off (as timeit does)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start
    finally:
        gc.enable()


def measure(models: list[Any], creates: int, rows: int, repeats: int) -> list[dict[str, float]]:
    """Per model: µs per create(), per row of list(all()), per row iterated reading a field.

    Best of ``repeats``, the models taking turns within each repeat, so that a
    slower moment of the machine does not fall on one model only.
    """

    def create(model: Any) -> None:
        for i in range(creates):
            model.objects.create(text=f"message {i}")

    def load(model: Any) -> None:
        list(model.objects.all())

    def touch(model: Any) -> None:
        for item in model.objects.all():
            item.text  # noqa: B018  (the attribute read is what is measured)

    def best(operation: Callable[[Any], None], per: int) -> list[float]:
        timings: list[list[float]] = [[] for _ in models]
        for _ in range(repeats):
            for index, model in enumerate(models):
                timings[index].append(timed(lambda model=model: operation(model)))
        return [min(t) / per * 1e6 for t in timings]

    for model in models:
        create(model)  # warm-up: templates, the layer's loop and connections
    created = best(create, creates)
    for model in models:
        model.objects.all().delete()
        model.objects.bulk_create(model(text=f"message {i}") for i in range(rows))
    loaded = best(load, rows)
    touched = best(touch, rows)
    return [
        {"create_us": c, "list_us": lo, "iterate_us": t}
        for c, lo, t in zip(created, loaded, touched, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", choices=sorted(LAYERS), default="memory")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configure(args.layer)
    from cost.models import Plain, Streamed
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
    plain, streamed = measure([Plain, Streamed], args.creates, args.rows, args.repeats)
    print(
        json.dumps(
            {
                "layer": args.layer,
                "creates": args.creates,
                "rows": args.rows,
                "repeats": args.repeats,
                "plain": plain,
                "stream": streamed,
                "ratio": {key: streamed[key] / plain[key] for key in plain},
            }
        )
    )


if __name__ == "__main__":
    main()
