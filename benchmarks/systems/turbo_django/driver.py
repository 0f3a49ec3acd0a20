"""Driver: ``Message.objects.create()``; the ModelStream's ``on_save`` broadcasts.

Runs in the system's own virtualenv; the command loop is the harness's
(``bench.driveloop``, standard library only), shared with every driver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.driveloop import body, serve


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from chat.models import Message

    def save(seq: int, t0: float) -> None:
        Message.objects.create(text=body(seq, t0))

    serve(save)


if __name__ == "__main__":
    main()
