"""Helpers for testing your own streams: record broadcasts instead of sending them.

Nothing here needs pytest; the ``turbo_broadcasts`` fixture lives in
:mod:`turbo.pytest_plugin`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, overload

from django.db import connections
from django.test import TestCase

from turbo.capture import CapturedBroadcast, captured
from turbo.compat import opened_by_testcase
from turbo.templatetags.turbo_streams import resolve_stream
from turbo.transactions import current_transaction

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from django.db.backends.base.base import BaseDatabaseWrapper

    from turbo.fragments import Fragment

__all__ = ["Broadcasts", "BroadcastsTestMixin", "CapturedBroadcast", "capture_broadcasts"]


@contextmanager
def capture_broadcasts() -> Iterator[list[CapturedBroadcast]]:
    """Record the broadcasts made in the block, rendered, instead of sending them.

    Hooks deferred to a commit are recorded when the commit runs them, even
    after the block: so in a ``TestCase``, whose transaction never commits,
    run the commit callbacks with ``captureOnCommitCallbacks(execute=True)``
    (or use :class:`BroadcastsTestMixin`, which does)::

        def test_a_new_message_is_appended(self):
            with capture_broadcasts() as broadcasts, self.captureOnCommitCallbacks(execute=True):
                message = Message.objects.create(room=self.room, text="hi")

            [broadcast] = broadcasts
            assert broadcast.group == self.room.stream.group
            assert f'<li id="message-{message.pk}">' in broadcast.html

    No channel layer is needed, and nothing reaches subscribers.
    """
    recording: list[CapturedBroadcast] = []
    token = captured.set(recording)
    try:
        yield recording
    finally:
        captured.reset(token)


@contextmanager
def _as_a_transaction() -> Iterator[None]:
    """Treat the block as a transaction of its own that commits when it ends.

    Its commit callbacks run then (a ``TestCase`` never commits), and its
    changes do not coalesce with earlier ones (:mod:`turbo.hooks`): deleting
    an instance created in ``setUp`` broadcasts its removal.
    """
    with ExitStack() as commits:
        # Every database in a transaction: a broadcast waits for them all.
        for connection in _in_atomic_blocks():
            current_transaction(connection).pending.clear()
            commits.enter_context(
                TestCase.captureOnCommitCallbacks(using=connection.alias, execute=True)
            )
        yield


@contextmanager
def _capture_with_commits() -> Iterator[list[CapturedBroadcast]]:
    with capture_broadcasts() as recording, _as_a_transaction():
        yield recording


class BroadcastsTestMixin:
    """Broadcast assertions for a ``unittest`` or Django ``TestCase``.

    Each assertion is a context manager that treats its block as a transaction
    of its own: it records what the block broadcasts, runs the commit
    callbacks the block registered (a ``TestCase`` never commits, so hooks
    would not run), then checks the count for one stream, given as anything
    ``{% turbo_subscribe %}`` takes: a model instance, a stream, or an
    ``"app_label:StreamName"``::

        class MessageTests(BroadcastsTestMixin, TestCase):
            def test_a_new_message_is_appended(self):
                room = Room.objects.create(name="Lobby")
                with self.assertBroadcasts(room, 1) as broadcasts:
                    Message.objects.create(room=room, text="hi")
                self.assertEqual(broadcasts[0].fragments[0].action, "append")
    """

    @contextmanager
    def assertBroadcasts(self, stream: object, count: int) -> Iterator[list[CapturedBroadcast]]:
        """Fail unless the block broadcasts to ``stream`` exactly ``count`` times.

        Yields the list of those broadcasts, filled when the block ends::

            pk = message.pk
            with self.assertBroadcasts(message.room, 1) as broadcasts:
                message.delete()
            self.assertEqual(broadcasts[0].fragments[0].target, f"message-{pk}")
        """
        matching: list[CapturedBroadcast] = []
        with _capture_with_commits() as recording:
            yield matching
        matching.extend(_check_count(recording, stream, count))

    @contextmanager
    def assertNoBroadcasts(self, stream: object = None) -> Iterator[None]:
        """Fail if the block broadcasts to ``stream``, or to any stream if it is ``None``.

        ``with self.assertNoBroadcasts(room): message.save()`` checks that an
        edit is not broadcast; ``with self.assertNoBroadcasts(): ...`` that
        nothing is, to any stream.
        """
        with _capture_with_commits() as recording:
            yield
        _check_none(recording, stream)


class Broadcasts(Sequence[CapturedBroadcast]):
    """What a test has broadcast, recorded while it is entered as a context manager.

    Reading it first runs the commit callbacks registered since it was
    entered, as if the test's transaction committed then (a ``TestCase`` never
    commits; a ``transaction.atomic()`` block the test is still inside may
    roll back, so it waits for that), and what was done before it was entered
    counts as committed and is not recorded. The ``turbo_broadcasts`` pytest
    fixture records each test function so; in a ``unittest`` test case, enter
    one at the end of ``setUp``::

        def setUp(self):
            self.room = Room.objects.create(name="Lobby")
            self.broadcasts = self.enterContext(Broadcasts())

        def test_a_new_message_is_appended(self):
            Message.objects.create(room=self.room, text="hi")
            [broadcast] = self.broadcasts.assert_count(self.room, 1)
            self.assertEqual(broadcast.fragments[0].target, "messages")
    """

    def __init__(self) -> None:
        self._recorded: list[CapturedBroadcast] = []
        self._recording = ExitStack()
        #: The transaction under way, while recording.
        self._transaction: ExitStack | None = None

    def __enter__(self) -> Broadcasts:
        self._recorded = self._recording.enter_context(capture_broadcasts())
        self._transaction = self._recording.enter_context(ExitStack())
        self._transaction.enter_context(_as_a_transaction())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._transaction = None
        self._recording.close()

    def _commit(self) -> None:
        if self._transaction is None or _may_still_roll_back():
            return
        self._transaction.close()
        self._transaction.enter_context(_as_a_transaction())

    def to(self, stream: object) -> list[CapturedBroadcast]:
        """The broadcasts to ``stream`` (a model instance, a stream or a stream's name).

        ``turbo_broadcasts.to(room)[0].fragments[0].action == "append"``.
        """
        group = resolve_stream(stream).group
        return [broadcast for broadcast in self if broadcast.group == group]

    def assert_count(self, stream: object, count: int) -> list[CapturedBroadcast]:
        """Fail unless ``stream`` got exactly ``count`` broadcasts; return them.

        ``[broadcast] = turbo_broadcasts.assert_count(room, 1)``.
        """
        return _check_count(self, stream, count)

    def assert_none(self, stream: object = None) -> None:
        """Fail if ``stream`` got a broadcast, or any stream did if it is ``None``.

        ``turbo_broadcasts.assert_none(room)`` after an edit the stream ignores.
        """
        _check_none(self, stream)

    @overload
    def __getitem__(self, index: int) -> CapturedBroadcast: ...
    @overload
    def __getitem__(self, index: slice) -> list[CapturedBroadcast]: ...
    def __getitem__(self, index: int | slice) -> CapturedBroadcast | list[CapturedBroadcast]:
        self._commit()
        return self._recorded[index]

    def __len__(self) -> int:
        self._commit()
        return len(self._recorded)

    def __iter__(self) -> Iterator[CapturedBroadcast]:
        self._commit()
        return iter(list(self._recorded))

    def __eq__(self, other: object) -> bool:
        return list(self) == other

    def __repr__(self) -> str:
        return f"Broadcasts({list(self)!r})"


def _may_still_roll_back() -> bool:
    """Whether code runs inside an atomic block the test opened, not TestCase's."""
    return not all(
        opened_by_testcase(block)
        for connection in _in_atomic_blocks()
        for block in connection.atomic_blocks
    )


def _in_atomic_blocks() -> list[BaseDatabaseWrapper]:
    """This thread's connections in an atomic block (a ``TestCase`` holds each of its own)."""
    return [c for c in connections.all(initialized_only=True) if c.in_atomic_block]


def _check_count(
    recorded: Iterable[CapturedBroadcast], stream: object, count: int
) -> list[CapturedBroadcast]:
    """The broadcasts of ``recorded`` to ``stream``; :exc:`AssertionError` unless ``count``."""
    resolved = resolve_stream(stream)
    recorded = list(recorded)
    matching = [broadcast for broadcast in recorded if broadcast.group == resolved.group]
    if len(matching) != count:
        raise AssertionError(
            f"Expected {_broadcasts(count)} to {resolved}, got {len(matching)}. "
            f"{_listing(recorded)}"
        )
    return matching


def _check_none(recorded: Iterable[CapturedBroadcast], stream: object = None) -> None:
    """:exc:`AssertionError` if ``recorded`` has a broadcast to ``stream`` (any, if ``None``)."""
    recorded = list(recorded)
    if stream is None:
        if recorded:
            raise AssertionError(f"Expected no broadcasts. {_listing(recorded)}")
        return
    _check_count(recorded, stream, 0)


def _broadcasts(count: int) -> str:
    return f"{count} broadcast" if count == 1 else f"{count} broadcasts"


def _listing(recorded: list[CapturedBroadcast]) -> str:
    if not recorded:
        return "Nothing was broadcast."
    lines = (
        f"  {broadcast.stream}: {', '.join(map(_summary, broadcast.fragments))}"
        for broadcast in recorded
    )
    return "Broadcast:\n" + "\n".join(lines)


def _summary(fragment: Fragment) -> str:
    if fragment.targets is not None:
        return f"{fragment.action} targets={fragment.targets!r}"
    if fragment.target is not None:
        return f"{fragment.action} target={fragment.target!r}"
    return fragment.action
