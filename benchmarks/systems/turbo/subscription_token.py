"""Print the subscription token of the benchmark's stream, as a page would embed it."""

from __future__ import annotations

import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from feed.streams import Feed

    import turbo.signing

    print(turbo.signing.dumps(Feed()))


if __name__ == "__main__":
    main()
