"""Driver of the stock Channels baseline: ``Message.objects.create()``; a receiver broadcasts."""

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
    from feed.models import Message

    def save(seq: int, t0: float) -> None:
        Message.objects.create(text=body(seq, t0))

    serve(save)


if __name__ == "__main__":
    main()
