"""The pytest plugin installed with django-turbo-streams: the ``turbo_broadcasts`` fixture.

pytest loads it through the package's ``pytest11`` entry point; disable it
with ``-p no:turbo_streams``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

    from turbo.testing import Broadcasts


@pytest.fixture
def turbo_broadcasts() -> Broadcasts:
    """What the test function broadcasts, recorded instead of sent, hooks included.

    A :class:`turbo.testing.Broadcasts`: a hook's broadcast is there right
    after the save, even in a ``TestCase`` transaction. What other fixtures
    did counts as committed before the test, and is not recorded::

        @pytest.mark.django_db
        def test_a_deleted_message_is_removed(turbo_broadcasts, message):
            message.delete()
            [broadcast] = turbo_broadcasts.assert_count(message.room, 1)
            assert broadcast.fragments[0].action == "remove"
    """
    # Imported on use: pytest loads plugins before pytest-django sets Django up.
    from turbo.testing import Broadcasts

    return Broadcasts()


# Old-style (hookwrapper): the new style needs pluggy 1.2, which an older
# pytest may lack, and installing this package must not break it.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, None]:
    """Record the test function, not its fixtures, with the ``turbo_broadcasts`` fixture.

    Fixtures set up after ``turbo_broadcasts`` would otherwise be recorded,
    and their changes would coalesce with the test's.
    """
    if isinstance(item, pytest.Function) and "turbo_broadcasts" in item.funcargs:
        with cast("Broadcasts", item.funcargs["turbo_broadcasts"]):
            yield
    else:
        yield
