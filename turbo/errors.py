"""The errors of hooks and deferred broadcasts, raised with :setting:`TURBO_RAISE_ERRORS`.

They are always logged (:func:`turbo.batches.call_logged`). With the setting
on, the first of a :class:`~turbo.batches.Batch` is raised too, once the
batch has sent its broadcasts: from the ``save()`` (or the broadcast) when no
transaction was under way, else from the commit, where Django runs the
batch's last callback, registered without ``robust``: ``atomic()``'s exit,
``captureOnCommitCallbacks(execute=True)``'s, or reading ``turbo_broadcasts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from turbo import conf

if TYPE_CHECKING:
    from turbo.batches import Batch


def failed(error: Exception, batch: Batch | None) -> None:
    """Raise ``error``, a logged one, now or when ``batch`` is sent, if the setting says so."""
    if not conf.raise_errors():
        return
    if batch is None:
        raise error
    batch.held.append(error)


def raise_held(batch: Batch) -> None:
    """Raise the first error held for ``batch``, which has just been sent."""
    if batch.held:
        raise batch.held[0]


def commit_robust() -> bool:
    """Whether the callback raising held errors at a commit is registered ``robust``.

    Robust, Django would log what it raises and carry on; without the setting,
    it raises nothing.
    """
    return not conf.raise_errors()
