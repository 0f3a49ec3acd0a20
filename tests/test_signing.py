from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.core import signing as django_signing
from django.test import override_settings
from hypothesis import HealthCheck, given, settings

from tests.strategies import is_identity, malformed_payloads, payloads, sign
from tests.testapp.streams import DocumentStream, LobbyStream, RoomStream, TagStream, UserStream
from turbo import signing
from turbo.streams import Stream

STREAMS = [
    RoomStream.for_pk(7),
    DocumentStream.for_pk(uuid.UUID("12345678-1234-5678-1234-567812345678")),
    TagStream.for_pk("news"),
    UserStream(3, kind="mentions"),
    LobbyStream(),
]


@pytest.mark.parametrize("stream", STREAMS, ids=str)
def test_a_token_gives_back_an_equal_stream(stream):
    loaded = signing.loads(signing.dumps(stream))

    assert type(loaded) is type(stream)
    assert loaded == stream
    assert loaded.group == stream.group


def test_the_group_from_a_token_is_the_same_in_another_process():
    token = signing.dumps(DocumentStream.for_pk(uuid.uuid4()))
    code = (
        "import django, sys; django.setup(); from turbo import signing; "
        "print(signing.loads(sys.argv[1]).group)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONHASHSEED": "random"}
    result = subprocess.run(
        [sys.executable, "-c", code, token],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
        env=env,
    )

    assert result.stdout.strip() == signing.loads(token).group


def tamper(token: str) -> str:
    payload, rest = token.split(":", 1)
    flipped = "A" if payload[1] != "A" else "B"
    return payload[0] + flipped + payload[2:] + ":" + rest


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(tamper, id="tampered"),
        pytest.param(lambda token: token[: len(token) // 2], id="truncated"),
        pytest.param(lambda token: token.rsplit(":", 1)[0], id="signature-cut"),
        pytest.param(lambda token: "", id="empty"),
        pytest.param(lambda token: "garbage", id="garbage"),
        # JSON can carry one ("\\ud800"); UTF-8, hence the signature check, cannot.
        pytest.param(lambda token: token.replace(":", "\ud800:", 1), id="lone-surrogate"),
        pytest.param(
            lambda token: django_signing.dumps(["testapp:RoomStream", [7], {}], salt="other"),
            id="foreign-salt",
        ),
        pytest.param(
            lambda token: django_signing.dumps(["testapp:RoomStream", [7], {}]),
            id="default-salt",
        ),
    ],
)
def test_a_token_not_made_here_for_a_subscription_is_invalid(make):
    token = make(signing.dumps(RoomStream.for_pk(7)))

    with pytest.raises(signing.InvalidToken, match="signature") as caught:
        signing.loads(token)
    assert caught.value.reason == "invalid"


def test_a_token_signed_with_another_secret_key_is_invalid():
    with override_settings(SECRET_KEY="another-site"):
        token = signing.dumps(RoomStream.for_pk(7))

    with pytest.raises(signing.InvalidToken):
        signing.loads(token)


def test_a_token_signed_with_a_fallback_key_is_still_valid():
    with override_settings(SECRET_KEY="the-old-key"):
        token = signing.dumps(RoomStream.for_pk(7))

    with override_settings(SECRET_KEY_FALLBACKS=["the-old-key"]):
        assert signing.loads(token) == RoomStream.for_pk(7)


@pytest.mark.parametrize("token", [None, 3, ["a"], {"token": "x"}])
def test_a_token_must_be_a_string(token):
    with pytest.raises(signing.InvalidToken, match="string"):
        signing.loads(token)


def minted_ago(seconds: float) -> str:
    with mock.patch("time.time", return_value=time.time() - seconds):
        return signing.dumps(RoomStream.for_pk(7))


@pytest.mark.parametrize("max_age", [60, 60.0, timedelta(minutes=1)])
def test_tokens_expire_after_the_max_age_setting(max_age):
    with override_settings(TURBO_TOKEN_MAX_AGE=max_age):
        assert signing.loads(minted_ago(30)) == RoomStream.for_pk(7)
        with pytest.raises(signing.ExpiredToken, match="expired") as caught:
            signing.loads(minted_ago(120))
    assert caught.value.reason == "expired"


def test_tokens_expire_after_a_day_by_default():
    assert signing.loads(minted_ago(86400 - 60)) == RoomStream.for_pk(7)
    with pytest.raises(signing.ExpiredToken):
        signing.loads(minted_ago(86400 + 60))


@override_settings(TURBO_TOKEN_MAX_AGE=None)
def test_tokens_need_not_expire():
    assert signing.loads(minted_ago(10 * 365 * 86400)) == RoomStream.for_pk(7)


def test_a_token_is_never_longer_than_a_socket_accepts():
    with pytest.raises(ValueError, match=r"would be \d+ characters long, over the 2048"):
        signing.dumps(UserStream(os.urandom(2048).hex()))


def test_max_age_can_be_given_per_call():
    with pytest.raises(signing.ExpiredToken):
        signing.loads(minted_ago(120), max_age=60)


def test_a_genuine_token_for_an_unregistered_stream_is_not_found():
    token = django_signing.dumps(["testapp:GoneStream", [], {}], salt=signing.SALT)

    with pytest.raises(signing.UnknownStream, match="testapp:RoomStream") as caught:
        signing.loads(token)
    assert caught.value.reason == "not-found"


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("testapp:UserStream", [], {}),
        ("testapp:UserStream", [1], {"colour": "red"}),
        ("testapp:RoomStream", ["not-a-number"], {}),
    ],
)
def test_a_genuine_token_whose_stream_cannot_be_rebuilt_is_not_found(name, args, kwargs):
    token = django_signing.dumps([name, args, kwargs], salt=signing.SALT)

    with pytest.raises(signing.UnknownStream, match="cannot be rebuilt"):
        signing.loads(token)


def test_the_payload_is_the_stream_name_and_identity():
    token = signing.dumps(UserStream(3, kind="mentions"))

    payload = django_signing.loads(token, salt=signing.SALT)
    assert json.dumps(payload) == '["testapp:UserStream", [], {"user_id": 3, "kind": "mentions"}]'


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="null"),
        pytest.param("testapp:LobbyStream", id="a-string"),
        pytest.param({"name": "testapp:LobbyStream"}, id="an-object"),
        pytest.param([], id="empty"),
        pytest.param(["testapp:LobbyStream"], id="one-item"),
        pytest.param(["testapp:LobbyStream", [], {}, None], id="four-items"),
        pytest.param([["testapp:LobbyStream"], [], {}], id="a-list-as-name"),
        pytest.param([{"a": 1}, [], {}], id="an-object-as-name"),
        pytest.param(["testapp:RoomStream", 7, {}], id="args-not-a-list"),
        pytest.param(["testapp:UserStream", [3], ["kind"]], id="kwargs-not-an-object"),
    ],
)
def test_a_genuine_token_whose_payload_is_not_a_stream_identity_is_invalid(payload):
    with pytest.raises(signing.InvalidToken, match="not the name and identity") as caught:
        signing.loads(sign(payload))
    assert caught.value.reason == "invalid"


def test_a_genuine_token_whose_primary_key_is_infinite_is_not_found():
    # JSON carries Infinity; int() of it raises OverflowError, not ValueError.
    with pytest.raises(signing.UnknownStream, match="cannot be rebuilt"):
        signing.loads(sign(["testapp:RoomStream", [float("inf")], {}]))


fuzz_settings = settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@fuzz_settings
@given(payloads)
def test_a_genuine_token_of_any_payload_gives_a_stream_or_a_token_error(payload):
    try:
        stream = signing.loads(sign(payload))
    except signing.TokenError:
        return  # any other exception fails the test
    assert is_identity(payload)
    assert isinstance(stream, Stream)
    # What the consumer reads of a stream it subscribes a socket to.
    assert stream.group.startswith("turbo.")
    assert str(stream)


@fuzz_settings
@given(malformed_payloads)
def test_a_genuine_token_of_any_malformed_payload_is_invalid(payload):
    with pytest.raises(signing.InvalidToken, match="not the name and identity"):
        signing.loads(sign(payload))
