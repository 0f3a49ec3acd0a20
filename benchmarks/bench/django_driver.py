"""The driver of every Django system: ``<Model>.objects.create()``, once per broadcast.

What broadcasts is the system's own (a ModelStream's ``on_save``, a
``post_save`` receiver, an ``after_create_commit`` handler). Run in the
system's virtualenv, from its directory::

    python .../bench/django_driver.py feed.Message

The command loop is :mod:`bench.driveloop`, shared with the limit's driver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The system's project and apps (its directory), and the harness's package,
# but not the repository's root: turbo-django's import name is ``turbo`` too.
sys.path[:0] = [os.getcwd(), str(Path(__file__).resolve().parents[1])]

import django  # noqa: E402

from bench.driveloop import body, serve  # noqa: E402


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from django.apps import apps

    model = apps.get_model(sys.argv[1])

    def save(seq: int, t0: float) -> None:
        model._default_manager.create(text=body(seq, t0))

    serve(save)


if __name__ == "__main__":
    main()
