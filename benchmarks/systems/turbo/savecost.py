"""What a ModelStream costs a model: save() and loading rows, with and without one.

Run by the harness in its virtualenv, from this directory::

    python savecost.py --layer memory --creates 2000 --rows 100000 --repeats 3

SQLite in memory (so that the database's own cost stays small next to what is
measured), no websocket connected. Each ``create()`` of a Streamed appends it
to the model's collection stream, which is, in turn: watched by nobody, or
watched (marked as a page's hub marks it, a channel in its group), with the
stream history on and off. Each is also measured inside one transaction (an
admin action, a loop in ``atomic()``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import django
from django.conf import settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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


#: The stream's situations measured: (history on, watched).
CASES: dict[str, tuple[bool, bool]] = {
    "unwatched": (True, False),
    "watched": (True, True),
    "unwatched, no history": (False, False),
    "watched, no history": (False, True),
}


def measure(models: list[Any], creates: int, rows: int, repeats: int) -> dict[str, Any]:
    """µs per create() (alone, and in one transaction), per row of list(all()), per row iterated.

    Best of ``repeats``; within each repeat the plain model and every case of
    the streamed one take turns, so that a slower moment of the machine does
    not fall on one of them only.
    """
    from django.db import transaction

    plain, streamed = models
    runs: list[tuple[str, Any, tuple[bool, bool] | None]] = [("plain", plain, None)] + [
        (name, streamed, case) for name, case in CASES.items()
    ]

    def create(model: Any) -> None:
        for i in range(creates):
            model.objects.create(text=f"message {i}")

    def create_atomic(model: Any) -> None:
        with transaction.atomic():
            create(model)

    def best(operation: Callable[[Any], None], per: int) -> dict[str, float]:
        timings: dict[str, list[float]] = {name: [] for name, _, _ in runs}
        for _ in range(repeats):
            for name, model, case in runs:
                with situation(case):
                    timings[name].append(timed(lambda model=model: operation(model)))
        return {name: min(t) / per * 1e6 for name, t in timings.items()}

    for _, model, case in runs:
        with situation(case):
            create(model)  # warm-up: templates, the layer's loop and connections
    created = best(create, creates)
    in_transaction = best(create_atomic, creates)
    for model in models:
        model.objects.all().delete()
        model.objects.bulk_create(model(text=f"message {i}") for i in range(rows))
    loaded = [best_of(lambda m=m: list(m.objects.all()), repeats) / rows for m in models]
    touched = [best_of(lambda m=m: touch(m), repeats) / rows for m in models]
    return {
        "create_us": created,
        "atomic_us": in_transaction,
        "list_us": dict(zip(["plain", "stream"], loaded, strict=True)),
        "iterate_us": dict(zip(["plain", "stream"], touched, strict=True)),
    }


def touch(model: Any) -> None:
    for item in model.objects.all():
        item.text  # noqa: B018  (the attribute read is what is measured)


def best_of(run: Callable[[], object], repeats: int) -> float:
    return min(timed(run) for _ in range(repeats)) * 1e6


@contextmanager
def situation(case: tuple[bool, bool] | None) -> Iterator[None]:
    """The collection stream watched or not, with the history on or off."""
    if case is None:
        yield
        return
    from channels.layers import get_channel_layer
    from cost.streams import StreamedStream
    from django.test import override_settings

    from turbo import history
    from turbo.history import Marks
    from turbo.loops import run_in_loop

    kept, watched = case
    group = StreamedStream.collection().group
    layer = get_channel_layer()
    with override_settings(TURBO_HISTORY="auto" if kept else None):
        if kept:
            wait_for_marks(history.for_layer(layer))
        channel = run_in_loop(layer.new_channel)
        if watched:
            run_in_loop(lambda: layer.group_add(group, channel))
            run_in_loop(lambda: history.mark_watched(layer, [group]))
        try:
            yield
        finally:
            run_in_loop(lambda: layer.group_discard(group, channel))
            # The next case starts with the stream unwatched.
            marks = getattr(history.for_layer(layer), "marks", None)
            if marks is not None:
                marks.until.clear()
            if isinstance(marks, Marks):

                async def forget_marks() -> None:
                    await marks.client().delete(marks.key)

                run_in_loop(forget_marks)


def wait_for_marks(kept: Any) -> None:
    """Until a Redis history knows the marks, it takes every stream as watched."""
    from turbo.history import Marks

    marks = getattr(kept, "marks", None)
    if not isinstance(marks, Marks):
        return
    kept.watched("")
    deadline = time.monotonic() + 10
    while not marks.ready:
        if time.monotonic() > deadline:
            raise RuntimeError("the marks were not loaded within 10 s")
        time.sleep(0.01)


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
    figures = measure([Plain, Streamed], args.creates, args.rows, args.repeats)
    print(
        json.dumps(
            {
                "layer": args.layer,
                "creates": args.creates,
                "rows": args.rows,
                "repeats": args.repeats,
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
