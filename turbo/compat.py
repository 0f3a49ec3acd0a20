"""Every use of another project's private internals, in one place.

Django, Channels and channels_redis offer no public API for a few things the
package needs. Each such use is a small function here, with a comment on why,
and a test in ``tests/test_compat.py`` that fails loudly, naming the upstream
assumption, when an upgrade breaks it. No other module reaches past a public API.
"""

from __future__ import annotations

# Django


# Channels


# channels_redis


# asyncio
