"""Signed subscription tokens: which stream a page may subscribe to.

``{% turbo_subscribe %}`` puts :func:`dumps` of a stream into the page; the
websocket consumer turns it back into the stream with :func:`loads`. Tokens
are signed with ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``) by
:mod:`django.core.signing`, under a salt of their own, so no other signed value
of the site can pass for one. A token proves that this site rendered a
subscription to that stream; it does not say for whom: who may subscribe is
the stream's ``user_passes_test()``, checked on every subscribe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

from django.core import signing
from django.core.exceptions import ValidationError

from turbo import conf
from turbo.registry import registry

if TYPE_CHECKING:
    from turbo.streams import Stream

#: The salt of every subscription token.
SALT: Final = "turbo.signing.subscription"

#: The longest token :func:`dumps` makes and the consumer reads, in characters:
#: what a ``rejected`` frame echoes stays this small.
MAX_TOKEN_LENGTH: Final = 2048


class TokenError(Exception):
    """A token that cannot be used; ``reason`` is the rejection sent to the client."""

    reason: ClassVar[str] = "invalid"


class InvalidToken(TokenError):
    """The token was not signed by this site for a subscription, or was altered."""


class ExpiredToken(TokenError):
    """The token is older than ``TURBO_TOKEN_MAX_AGE``; the page needs a new one."""

    reason = "expired"


class UnknownStream(TokenError):
    """The token is genuine but its stream can no longer be built."""

    reason = "not-found"


def dumps(stream: Stream) -> str:
    """The token of ``stream``: its name and identity, signed and timestamped.

    ``turbo.signing.dumps(room.stream)`` gives a URL-safe string that
    :func:`loads` turns back into an equal stream.
    """
    args, kwargs = stream.identity()
    token = signing.dumps([stream.stream_name(), args, kwargs], salt=SALT, compress=True)
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(
            f"The token of {stream!r} would be {len(token)} characters long, over the "
            f"{MAX_TOKEN_LENGTH} a socket accepts: give the stream a shorter identity "
            f"(an id rather than the data it names)."
        )
    return token


def loads(token: object, *, max_age: float | None = None) -> Stream:
    """The stream a token made by :func:`dumps` names.

    ``max_age`` (seconds) defaults to ``TURBO_TOKEN_MAX_AGE``. Raises
    :class:`InvalidToken`, :class:`ExpiredToken` or :class:`UnknownStream`,
    whose message says what went wrong::

        try:
            stream = turbo.signing.loads(token)
        except turbo.signing.TokenError as error:
            reject(error.reason, str(error))
    """
    if not isinstance(token, str):
        raise InvalidToken(f"A token is a string, not {type(token).__name__}.")
    if max_age is None:
        max_age = conf.token_max_age()
    try:
        payload: Any = signing.loads(
            token, salt=SALT, max_age=None if max_age is None else timedelta(seconds=max_age)
        )
    except signing.SignatureExpired as error:
        raise ExpiredToken(f"The token has expired ({error}); reload the page.") from None
    # A lone surrogate (JSON can carry one, "\\ud800") fails the signature check
    # as it is encoded to UTF-8: no token of ours holds one.
    except (signing.BadSignature, UnicodeEncodeError):
        raise InvalidToken("The token's signature does not match: it was not made here.") from None
    name, args, kwargs = _identity(payload)
    try:
        stream_class = registry.get(name)
    except LookupError as error:
        raise UnknownStream(str(error.args[0])) from None
    try:
        return stream_class.from_identity(args, kwargs)
    # ArithmeticError: JSON carries Infinity, which int() cannot convert.
    except (TypeError, ValueError, ArithmeticError, ValidationError) as error:
        raise UnknownStream(
            f"{name} cannot be rebuilt from {args!r}, {kwargs!r}: {error}"
        ) from None


def _identity(payload: object) -> tuple[str, list[Any], dict[str, Any]]:
    """The stream name, args and kwargs :func:`dumps` signed, or :class:`InvalidToken`.

    The signature proves only that this site signed the payload with this
    salt: another version of the app, or code sharing the salt, may have
    signed something else.
    """
    match payload:
        case [str() as name, list() as args, dict() as kwargs]:
            return name, args, kwargs
    raise InvalidToken(
        "The token is signed but its payload is not the name and identity of a stream."
    )
