"""The pytest plugin installed with django-turbo-streams.

It gives the ``turbo_broadcasts`` fixture, and turns
:setting:`TURBO_RAISE_ERRORS` on in every test, so that a hook's error fails
the test that caused it, unless the settings set it, the ``turbo_raise_errors``
ini option is false, or the test is marked ``@pytest.mark.turbo_raise_errors(False)``.
pytest loads it through the package's ``pytest11`` entry point; disable it
with ``-p no:turbo_streams``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, cast

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from turbo.testing import Broadcasts


#: The ini option and the marker that say whether a test raises hook errors.
RAISE_ERRORS: Final = "turbo_raise_errors"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``turbo_raise_errors`` ini option (default true)."""
    parser.addini(
        RAISE_ERRORS,
        type="bool",
        default=True,
        help="django-turbo-streams: turn TURBO_RAISE_ERRORS on in tests, "
        "unless the settings set it (default: true)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``turbo_raise_errors`` marker."""
    config.addinivalue_line(
        "markers",
        f"{RAISE_ERRORS}(value=True): set TURBO_RAISE_ERRORS for this test (django-turbo-streams)",
    )


@pytest.fixture(autouse=True)
def _turbo_raise_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Set :setting:`TURBO_RAISE_ERRORS` for the test, as the marker or the ini option says.

    Without the marker, a value the settings give is kept.
    """
    # Imported on use, as turbo.testing is below.
    from django.conf import settings
    from django.test import override_settings

    marker = request.node.get_closest_marker(RAISE_ERRORS)
    if marker is not None:
        value = bool(marker.args[0] if marker.args else marker.kwargs.get("value", True))
    elif request.config.getini(RAISE_ERRORS) and settings.configured:
        value = getattr(settings, "TURBO_RAISE_ERRORS", True)
    else:
        yield
        return
    with override_settings(TURBO_RAISE_ERRORS=value):
        yield


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
