"""Hypothesis strategies shared by the fuzz tests: JSON values, and token payloads."""

from __future__ import annotations

from typing import Any

from django.core import signing as django_signing
from hypothesis import strategies as st

from turbo import signing
from turbo.registry import registry

# JSON may escape lone surrogates, which no UTF-8 frame can carry as such (and
# which text() never draws).
json_strings = st.lists(st.characters() | st.characters(categories=["Cs"]), max_size=20).map(
    "".join
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_strings,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_strings, children, max_size=4)
    ),
    max_leaves=12,
)


def is_identity(payload: Any) -> bool:
    """Whether ``payload`` has the shape :func:`turbo.signing.dumps` signs."""
    return (
        isinstance(payload, list)
        and len(payload) == 3
        and isinstance(payload[0], str)
        and isinstance(payload[1], list)
        and isinstance(payload[2], dict)
    )


# Deferred: the registry fills as the apps load, after this module is imported.
_names = st.deferred(lambda: st.sampled_from(sorted(registry._by_name))) | json_values
#: What a token could carry: mostly near misses of a stream's name and identity
#: (registered names, arguments of any JSON type, an item too many or too few).
payloads = st.one_of(
    st.tuples(
        _names,
        st.lists(json_values, max_size=3) | json_values,
        st.dictionaries(json_strings, json_values, max_size=3) | json_values,
    ).map(list),
    st.lists(_names | json_values, max_size=5),
    json_values,
)
#: Payloads that are not a stream's name and identity at all.
malformed_payloads = payloads.filter(lambda payload: not is_identity(payload))


def sign(payload: Any) -> str:
    """A genuine token of this site carrying ``payload``, signed as tokens are."""
    return django_signing.dumps(payload, salt=signing.SALT, compress=True)
