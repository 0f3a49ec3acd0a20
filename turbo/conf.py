"""The ``TURBO_*`` settings, with their defaults.

Each is read when used, so ``override_settings`` applies, and checked, so a
wrong type is reported by name rather than failing somewhere deep.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    "TURBO_WEBSOCKET_PATH": "ws/turbo/",
    "TURBO_TOKEN_MAX_AGE": 24 * 60 * 60,
    "TURBO_MAX_FRAME_SIZE": 16 * 1024,
    "TURBO_MAX_SUBSCRIPTIONS": 100,
    "TURBO_FRAME_RATE": 20.0,
    "TURBO_FRAME_BURST": 200,
    "TURBO_MAX_UNACKED_BYTES": 4 * 1024 * 1024,
    "TURBO_ACK_TIMEOUT": 10.0,
    "TURBO_REPLAY_RATE": 1.0,
    "TURBO_MAX_SOCKETS_PER_CLIENT": 100,
    "TURBO_REFRESH_DEBOUNCE": 0.5,
    "TURBO_HISTORY": "auto",
    "TURBO_HISTORY_MAX_ENTRIES": 200,
    "TURBO_HISTORY_MAX_AGE": 600.0,
    "TURBO_REDIS_TIMEOUT": 0.5,
    "TURBO_RAISE_ERRORS": False,
    "TURBO_REAUTHORIZE_EVERY": None,
}

#: Clients acknowledge at least every this many bytes of messages (docs/protocol.rst).
ACK_INTERVAL_BYTES = 64 * 1024


# Read on every broadcast: Django's settings object looks an unset name up
# the slow way (an AttributeError) each time, so values are kept until a
# setting changes (tests override them).
_values: dict[str, Any] = {}


def _get(name: str) -> Any:
    try:
        return _values[name]
    except KeyError:
        value = _values[name] = getattr(settings, name, DEFAULTS[name])
        return value


@receiver(setting_changed)
def _forget_values(**kwargs: Any) -> None:
    _values.clear()


def _positive(name: str, kind: type[int] | type[float]) -> Any:
    value = _get(name)
    if isinstance(value, bool) or not isinstance(value, int | kind) or value <= 0:
        raise ImproperlyConfigured(f"{name} must be a positive number, not {value!r}.")
    return value


def websocket_path() -> str:
    """``TURBO_WEBSOCKET_PATH``: the route of the websocket, as in ``path()``.

    Default ``"ws/turbo/"``, served at ``/ws/turbo/``.
    """
    value = _get("TURBO_WEBSOCKET_PATH")
    if not isinstance(value, str) or not value.strip("/"):
        raise ImproperlyConfigured(
            f"TURBO_WEBSOCKET_PATH must be a non-empty path like 'ws/turbo/', not {value!r}."
        )
    return str(value.lstrip("/"))


def token_max_age() -> float | None:
    """``TURBO_TOKEN_MAX_AGE``: seconds (or a ``timedelta``) a token stays valid.

    Default one day; ``None``: tokens never expire. A page that subscribes
    with an expired token reloads itself for new ones.
    """
    value = _get("TURBO_TOKEN_MAX_AGE")
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ImproperlyConfigured(
            f"TURBO_TOKEN_MAX_AGE must be None, a positive number of seconds or a "
            f"timedelta, not {value!r}."
        )
    return float(value)


def max_frame_size() -> int:
    """``TURBO_MAX_FRAME_SIZE``: the longest frame a client may send, in characters.

    Default 16384; a longer frame, text or binary, closes the socket with code 4009.
    """
    return int(_positive("TURBO_MAX_FRAME_SIZE", int))


def max_subscriptions() -> int:
    """``TURBO_MAX_SUBSCRIPTIONS``: streams one socket may hold at once. Default 100."""
    return int(_positive("TURBO_MAX_SUBSCRIPTIONS", int))


def frame_rate() -> tuple[float, int]:
    """``TURBO_FRAME_RATE`` and ``TURBO_FRAME_BURST``: the client frame rate limit.

    A socket may send ``TURBO_FRAME_BURST`` frames at once (default 200), then
    ``TURBO_FRAME_RATE`` per second (default 20); beyond that it is closed with
    code 4429.
    """
    return float(_positive("TURBO_FRAME_RATE", float)), int(_positive("TURBO_FRAME_BURST", int))


def max_unacked_bytes() -> int:
    """``TURBO_MAX_UNACKED_BYTES``: how far a client may fall behind, in bytes.

    Default 4 MiB of frames sent to a socket and not yet acknowledged by its
    client: beyond that the socket is closed with code 4408, however recently
    the client acknowledged. This bounds the memory a stalled client holds,
    and must exceed the largest burst of broadcasts a page should survive.
    Clients acknowledge every 64 KiB, so it must be at least twice that.
    """
    value = int(_positive("TURBO_MAX_UNACKED_BYTES", int))
    if value < 2 * ACK_INTERVAL_BYTES:
        raise ImproperlyConfigured(
            f"TURBO_MAX_UNACKED_BYTES must be at least {2 * ACK_INTERVAL_BYTES} (twice the "
            f"{ACK_INTERVAL_BYTES} bytes after which clients acknowledge), not {value!r}."
        )
    return value


def ack_timeout() -> float:
    """``TURBO_ACK_TIMEOUT``: seconds a client may owe an acknowledgement.

    Default 10. A client owes one once more than 64 KiB of frames sent to
    it are unacknowledged; a client that owes one for longer is taken to
    have stopped reading, and its socket is closed with code 4408 at the
    next message for it.
    """
    return float(_positive("TURBO_ACK_TIMEOUT", float))


def replay_rate() -> float:
    """``TURBO_REPLAY_RATE``: history reads per second a socket may ask for.

    Default 1. A subscribe with a ``position`` and a ``replay`` each read the
    history; a socket may make :setting:`TURBO_MAX_SUBSCRIPTIONS` of them at
    once (a reconnected page resubscribes all its streams), then this many per
    second; beyond that it is closed with code 4429.
    """
    return float(_positive("TURBO_REPLAY_RATE", float))


def reauthorize_every() -> float | None:
    """``TURBO_REAUTHORIZE_EVERY``: seconds between re-checks of a socket's private streams.

    Default ``None``: no periodic re-check. Set, each socket asks the
    ``user_passes_test()`` of every private stream it holds again that often,
    and leaves those refused with a ``rejected`` frame: for permissions that
    change without :func:`turbo.reauthorize` being called.
    """
    value = _get("TURBO_REAUTHORIZE_EVERY")
    if value is None:
        return None
    return float(_positive("TURBO_REAUTHORIZE_EVERY", float))


def max_sockets_per_client() -> int | None:
    """``TURBO_MAX_SOCKETS_PER_CLIENT``: sockets one client address may hold per process.

    Default 100; ``None``: no limit. A handshake beyond it is refused (HTTP
    403). Behind a proxy, the ASGI server must read client addresses from the
    proxy's headers, or every client shares the proxy's address.
    """
    value = _get("TURBO_MAX_SOCKETS_PER_CLIENT")
    if value is None:
        return None
    return int(_positive("TURBO_MAX_SOCKETS_PER_CLIENT", int))


def refresh_debounce() -> float:
    """``TURBO_REFRESH_DEBOUNCE``: seconds equal refreshes are held and sent as one.

    Default 0.5; ``0`` sends each refresh at once (after its coalescing by
    request and transaction).
    """
    value = _get("TURBO_REFRESH_DEBOUNCE")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ImproperlyConfigured(
            f"TURBO_REFRESH_DEBOUNCE must be a number of seconds (0 or more), not {value!r}."
        )
    return float(value)


def history() -> str | None:
    """``TURBO_HISTORY``: where broadcasts are recorded for pages that missed them.

    ``"auto"`` (the default): in the channel layer's Redis with a channels_redis
    layer, in the process with the in-memory layer. ``"redis"``, ``"memory"``,
    or ``None`` (no history: a page that was offline misses what was broadcast
    meanwhile).
    """
    value = _get("TURBO_HISTORY")
    if value not in ("auto", "redis", "memory", None):
        raise ImproperlyConfigured(
            f"TURBO_HISTORY must be 'auto', 'redis', 'memory' or None, not {value!r}."
        )
    return value  # type: ignore[no-any-return]


def history_max_entries() -> int:
    """``TURBO_HISTORY_MAX_ENTRIES``: broadcasts kept per stream. Default 200."""
    return int(_positive("TURBO_HISTORY_MAX_ENTRIES", int))


def history_max_age() -> float:
    """``TURBO_HISTORY_MAX_AGE``: seconds a broadcast is kept. Default 600."""
    return float(_positive("TURBO_HISTORY_MAX_AGE", float))


def redis_timeout() -> float:
    """``TURBO_REDIS_TIMEOUT``: seconds a page view or a broadcast waits on Redis.

    Default 0.5. Reading the history's position for a page, and recording and
    publishing a broadcast, each give up after this long: the page renders
    without a position it could replay from, the broadcast is logged as failed,
    and the view or the ``save()`` goes on.
    """
    return float(_positive("TURBO_REDIS_TIMEOUT", float))


def raise_errors() -> bool:
    """``TURBO_RAISE_ERRORS``: raise the errors of hooks and deferred broadcasts.

    Default ``False``: they are logged, and the ``save()`` or the commit goes
    on. ``True`` raises them too (:mod:`turbo.errors` says where); the pytest
    plugin turns it on for tests.
    """
    value = _get("TURBO_RAISE_ERRORS")
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"TURBO_RAISE_ERRORS must be True or False, not {value!r}.")
    return value
