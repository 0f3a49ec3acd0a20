"""The Turbo that ``npm run build`` vendors is the one package.json pins (docs/vendoring.rst)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
STATIC_PATH = "turbo/vendor/turbo.es2017-esm.js"
MINIMUM = (8, 0, 21)  # refresh streams' ``method`` and ``scroll`` exist from 8.0.21.
BUILD = "run `npm ci && npm run build`"


def read_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / name).read_text(encoding="utf-8"))
    return data


def pinned_version() -> str:
    version: str = read_json("package.json")["dependencies"]["@hotwired/turbo"]
    return version


def vendored_file(static_path: str) -> Path:
    """``static_path`` as Django would serve it; fails, never skips, when it is missing."""
    if apps.is_installed("django.contrib.staticfiles"):
        from django.contrib.staticfiles import finders

        found = finders.find(static_path)
        path = Path(found) if isinstance(found, str) else None
    else:
        # The test settings may not install staticfiles: the app's own static directory.
        path = Path(str(resources.files("turbo").joinpath("static", static_path)))
    if path is None or not path.is_file():
        pytest.fail(f"{static_path} is not vendored: {BUILD}", pytrace=False)
    return path


def test_pin_is_exact_locked_and_recent_enough() -> None:
    pinned = pinned_version()
    lock = read_json("package-lock.json")["packages"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"not an exact version: {pinned!r}"
    assert lock[""]["dependencies"]["@hotwired/turbo"] == pinned
    assert lock["node_modules/@hotwired/turbo"]["version"] == pinned
    assert tuple(int(part) for part in pinned.split(".")) >= MINIMUM


def test_vendored_turbo_is_the_pinned_version() -> None:
    script = vendored_file(STATIC_PATH)
    version = vendored_file("turbo/vendor/turbo-version.txt").read_text(encoding="utf-8")
    assert version.strip() == pinned_version(), f"the vendored Turbo is stale: {BUILD}"
    # The bundle's own banner, so a hand-edited version file cannot hide a stale copy.
    assert f"Turbo {pinned_version()}\n" in script.read_text(encoding="utf-8")[:200]


def test_vendored_turbo_keeps_its_license() -> None:
    license_text = vendored_file("turbo/vendor/turbo-LICENSE").read_text(encoding="utf-8")
    assert "Permission is hereby granted" in license_text
