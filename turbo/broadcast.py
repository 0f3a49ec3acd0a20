"""Broadcasting fragments to a stream's subscribers: the entry points.

One broadcast is rendered once (by :func:`turbo.fragments.join`) and sent as
one ``group_send`` (:mod:`turbo.sending`). Sync callers inside a transaction
are deferred until it commits (:mod:`turbo.transactions`), and render then;
failures of the channel layer are logged, never raised into the caller (a
``save()`` must not fail because Redis is down).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async

from turbo import capture
from turbo.batches import open_batch
from turbo.fragments import join
from turbo.loops import note_loop_unless_one_runs, running_loop
from turbo.sending import apublish, destination, publish
from turbo.suppression import broadcasts_suppressed
from turbo.transactions import after_commit

if TYPE_CHECKING:
    from collections.abc import Sequence

    from turbo.fragments import Fragment
    from turbo.sending import Target


def check_sync(name: str, instead: str | None = None) -> None:
    """Raise if the sync method ``name`` is called where an event loop runs.

    The error says to call ``instead``, by default the async twin
    (``await stream.a<name>(...)``).
    """
    if running_loop() is None:
        return
    raise RuntimeError(
        f"{name}() was called from async code, where it would block the event "
        f"loop. Use '{instead or f'await stream.a{name}(...)'}' instead."
    )


def check_no_request(name: str, request: object) -> None:
    """Raise :exc:`TypeError` if the broadcast ``name`` was given a ``request``.

    A broadcast is rendered once for every subscriber, so it never renders
    with the request of the user who made the change: that user's
    ``{% csrf_token %}``, session and ``request.user`` would reach everyone.
    Every broadcast checks its fragments with it, and ``*_later`` its
    arguments; responses, which go to one user, take a request.
    """
    if request is not None:
        raise TypeError(
            f"{name}() takes no request=: a broadcast goes to every subscriber, so its "
            f"template never renders with a request (that user's {{% csrf_token %}}, session "
            f"and request.user would reach them all). Pass what the template needs in the "
            f"context; for output that differs per viewer, broadcast a refresh "
            f"(stream.refresh()), and each page reloads with its own request. A response "
            f"(TurboStreamResponse, turbo_stream) takes request=."
        )


def broadcast(target: Target, fragments: Sequence[Fragment], name: str = "broadcast") -> None:
    """Send ``fragments`` to ``target``'s group from sync code.

    Inside a transaction the send (and the render) waits until it commits and
    is dropped if it rolls back (:func:`turbo.transactions.after_commit`), and
    among commit callbacks it joins their batch. Template errors raise when
    the render is immediate; channel-layer errors are always logged. A
    fragment built with ``request=`` raises :exc:`TypeError` (:func:`check_no_request`),
    as a call from async code does (:func:`check_sync`), naming the method ``name``.
    """
    for fragment in fragments:
        check_no_request(name, fragment.request)
    check_sync(name)
    if broadcasts_suppressed(type(target)):
        return
    if after_commit(lambda: _send(target, fragments), "Broadcast to %s failed", target) is None:
        _send(target, fragments)


async def abroadcast(
    target: Target, fragments: Sequence[Fragment], name: str = "abroadcast"
) -> None:
    """Send ``fragments`` to ``target``'s group from async code, without blocking the loop.

    Templates render in Django's sync thread, since they may query the database.
    As in :func:`broadcast`, a fragment built with ``request=`` raises
    :exc:`TypeError`, naming the method ``name``.
    """
    for fragment in fragments:
        check_no_request(name, fragment.request)
    note_loop_unless_one_runs()
    if broadcasts_suppressed(type(target)):
        return
    render = sync_to_async(join)
    if capture.capturing():
        capture.record(target, await render(fragments), fragments)
        return
    layer = destination(target)
    if layer is not None:
        await apublish(layer, target, await render(fragments))


def _send(target: Target, fragments: Sequence[Fragment]) -> None:
    if capture.capturing():
        capture.record(target, join(fragments), fragments)
        return
    layer = destination(target)
    if layer is None:
        return
    html = join(fragments)
    batch = open_batch()
    if batch is not None:
        batch.add(layer, target, html)
    else:
        publish(layer, target, html)
