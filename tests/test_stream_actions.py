"""The action list is declared once (turbo.markup.Action): every action has its methods.

A stream's sync, async and ``*_later`` methods and a response's method are
written out one by one; these tests keep them from drifting from the
fragment functions they build with.
"""

from __future__ import annotations

import inspect

import pytest

from tests.testapp.streams import LobbyStream
from turbo import TurboStreamResponse, fragments
from turbo.markup import ACTIONS
from turbo.stream_actions import StreamActions
from turbo.streams import Stream
from turbo.testing import capture_broadcasts

# remove renders nothing, so there is nothing to move to a worker.
NOT_LATER = {"remove"}


def parameters(function):
    return list(inspect.signature(function).parameters.values())


def stream_parameters(action):
    # A stream's refresh carries the id of the request being served itself.
    return [p for p in parameters(getattr(fragments, action)) if p.name != "request_id"]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_has_its_stream_methods_with_the_fragment_functions_parameters(action):
    expected = stream_parameters(action)
    names = [action, f"a{action}"] + ([] if action in NOT_LATER else [f"{action}_later"])

    for name in names:
        method = getattr(Stream, name)
        assert method.__name__ == name
        assert [p.name for p in parameters(method)][:1] == ["self"], name
        assert parameters(method)[1:] == expected, name
        assert inspect.signature(method).return_annotation == "None", name
        assert method.__doc__, name
    assert inspect.iscoroutinefunction(getattr(Stream, f"a{action}"))


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_has_its_response_method_with_the_fragment_functions_parameters(action):
    expected = parameters(getattr(fragments, action))

    assert parameters(getattr(TurboStreamResponse, action)) == expected
    assert parameters(getattr(TurboStreamResponse(), action)) == expected
    assert getattr(TurboStreamResponse, action).__doc__


def test_streams_have_no_action_methods_but_the_declared_actions():
    declared = {"broadcast", "abroadcast"}
    for action in ACTIONS:
        declared |= {action, f"a{action}"} | (
            {f"{action}_later"} - {f"{a}_later" for a in NOT_LATER}
        )

    public = {name for name in vars(StreamActions) if not name.startswith("_")}
    assert public == declared


@pytest.mark.parametrize(
    ("call", "written"),
    [
        (
            lambda s: s.update(None, None, "3 online", None, "count"),
            "update(text='3 online', id='count')",
        ),
        (lambda s: s.remove("#draft"), "remove(selector='#draft')"),
        (lambda s: s.remove(None, "draft"), "remove(id='draft')"),
        (
            lambda s: s.append("chat/message.html", {"n": 1}, None, None, "messages"),
            "append('chat/message.html', {'n': 1}, id='messages')",
        ),
        (lambda s: s.replace_later(None, None, "x", id="a"), "replace_later(text='x', id='a')"),
    ],
)
def test_turbo_djangos_positional_targets_raise_saying_what_to_write(call, written):
    with capture_broadcasts() as broadcasts, pytest.raises(TypeError) as raised:
        call(LobbyStream())

    assert str(raised.value).endswith(f": write {written}.")
    assert "by name only" in str(raised.value)
    assert broadcasts == []


async def test_the_async_twins_raise_the_same_way():
    with pytest.raises(TypeError, match=r"write aremove\(selector='#draft'\)\.$"):
        await LobbyStream().aremove("#draft")
    with pytest.raises(TypeError, match=r"got 7 positional arguments\.$"):
        await LobbyStream().aupdate(1, 2, 3, 4, 5, 6, 7)


def test_every_action_method_refuses_positional_targets():
    for name, value in vars(StreamActions).items():
        if name.startswith("__") or not callable(value):
            continue
        method = getattr(Stream, name)
        takes_target = {"template", "id"} & set(inspect.signature(method).parameters)
        assert hasattr(method, "__wrapped__") == bool(takes_target), name
