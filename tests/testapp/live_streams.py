"""A stream written outside streams.py, which imports it: turbo-django's tutorial does so."""

from __future__ import annotations

import turbo


class ImportedStream(turbo.Stream):
    """Registered because tests/testapp/streams.py imports it."""
