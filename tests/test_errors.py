"""TURBO_RAISE_ERRORS: where a hook's or a deferred broadcast's error surfaces.

The pytest plugin turns it on for this suite; tests marked
``turbo_raise_errors(False)`` see the production behaviour.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import transaction
from django.template import TemplateDoesNotExist

from tests.testapp.models import Message, Room
from tests.testapp.streams import MessageStream
from turbo import conf


@pytest.fixture
def room(transactional_db):
    return Room.objects.create(name="lobby")


@pytest.fixture
def broken_hook(monkeypatch):
    """MessageStream.on_save renders a template that does not exist."""

    def on_save(self, message, created, *args, **kwargs):
        message.room.stream.append("chat/missing.html", {}, id="messages")

    monkeypatch.setattr(MessageStream, "on_save", on_save)


def turbo_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "turbo" and r.levelno >= logging.ERROR]


def test_the_plugin_turns_the_setting_on():
    assert conf.raise_errors() is True


@pytest.mark.turbo_raise_errors(False)
def test_the_marker_turns_it_off():
    assert conf.raise_errors() is False


def test_outside_a_transaction_the_save_raises_once_the_row_is_saved(
    room, subscribe, broken_hook, caplog
):
    subscribe(room.stream)  # nothing is rendered for a stream nobody listens to

    with pytest.raises(TemplateDoesNotExist, match=r"chat/missing\.html"):
        Message.objects.create(room=room, text="x")

    assert Message.objects.filter(text="x").exists()
    [record] = turbo_errors(caplog)
    assert record.getMessage() == "MessageStream.on_save(<Message: x>) failed"


def test_in_a_transaction_the_commit_raises_after_sending_the_other_broadcasts(
    room, subscribe, broken_hook, caplog
):
    page = subscribe(room.stream)

    with pytest.raises(TemplateDoesNotExist), transaction.atomic():
        room.stream.update(text="sent anyway", id="title")
        Message.objects.create(room=room, text="x")

    assert Message.objects.filter(text="x").exists()
    assert "sent anyway" in page.receive_html()
    page.assert_nothing_received()
    assert len(turbo_errors(caplog)) == 1


def test_a_deferred_direct_broadcast_raises_from_the_commit(room, subscribe):
    subscribe(room.stream)

    with pytest.raises(TemplateDoesNotExist), transaction.atomic():
        room.stream.append("chat/missing.html", {}, id="messages")


@pytest.mark.turbo_raise_errors(False)
def test_a_direct_broadcast_outside_a_transaction_raises_whatever_the_setting(room, subscribe):
    subscribe(room.stream)

    with pytest.raises(TemplateDoesNotExist):
        room.stream.append("chat/missing.html", {}, id="messages")


@pytest.mark.turbo_raise_errors(False)
def test_without_the_setting_the_commit_succeeds_and_the_error_is_logged_once(
    room, subscribe, broken_hook, caplog
):
    page = subscribe(room.stream)

    with transaction.atomic():
        room.stream.update(text="sent", id="title")
        Message.objects.create(room=room, text="x")

    assert "sent" in page.receive_html()
    [record] = turbo_errors(caplog)
    assert "chat/missing.html" in str(record.exc_info[1])


@pytest.mark.django_db
def test_in_a_test_transaction_the_captured_callbacks_raise(
    subscribe, broken_hook, django_capture_on_commit_callbacks
):
    room = Room.objects.create(name="lobby")
    subscribe(room.stream)

    with pytest.raises(TemplateDoesNotExist), django_capture_on_commit_callbacks(execute=True):
        Message.objects.create(room=room, text="x")


@pytest.mark.django_db
def test_in_a_test_transaction_reading_turbo_broadcasts_raises(broken_hook, turbo_broadcasts):
    Message.objects.create(room=Room.objects.create(name="lobby"), text="x")

    with pytest.raises(TemplateDoesNotExist):
        len(turbo_broadcasts)


ON_UNLESS_MARKED = """
    import pytest
    from turbo import conf

    def test_on():
        assert conf.raise_errors() is True

    @pytest.mark.turbo_raise_errors(False)
    def test_marked_off():
        assert conf.raise_errors() is False
"""

OFF = """
    from turbo import conf

    def test_off():
        assert conf.raise_errors() is False
"""


def run_pytest(tmp_path: Path, tests: str, ini: str = "", settings: str = "") -> str:
    """Run ``tests`` in a pytest of their own, with this suite's settings and ``settings``.

    Its summary line.
    """
    (tmp_path / "test_plugin_user.py").write_text(textwrap.dedent(tests))
    (tmp_path / "user_settings.py").write_text(f"from tests.settings import *\n{settings}")
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\nDJANGO_SETTINGS_MODULE = user_settings\n"
        f"asyncio_default_fixture_loop_scope = function\n{ini}"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers"],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).parent.parent}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout.strip().splitlines()[-1]


def test_a_project_using_the_plugin_has_it_on_unless_a_test_is_marked(tmp_path):
    assert run_pytest(tmp_path, ON_UNLESS_MARKED).startswith("2 passed")


def test_the_ini_option_turns_it_off(tmp_path):
    assert run_pytest(tmp_path, OFF, ini="turbo_raise_errors = false\n").startswith("1 passed")


def test_the_projects_setting_is_kept(tmp_path):
    assert run_pytest(tmp_path, OFF, settings="TURBO_RAISE_ERRORS = False\n").startswith("1 passed")


def test_without_the_plugin_the_default_is_off(tmp_path):
    result = run_pytest(tmp_path, OFF, ini="addopts = -p no:turbo_streams\n")
    assert result.startswith("1 passed")
