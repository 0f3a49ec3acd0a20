"""Sphinx configuration for django-turbo-streams."""

from __future__ import annotations

import os
import sys

import django

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

project = "django-turbo-streams"
author = "django-turbo-streams developers"
copyright = "2026, django-turbo-streams developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
html_theme = "furo"
html_title = "django-turbo-streams"
html_static_path = ["_static"]
html_css_files = ["tables.css"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
# No intersphinx: CI machines have no internet to fetch inventories.
nitpicky = False


def setup(app: object) -> None:
    # ":setting:`TURBO_X`" roles and ".. setting:: TURBO_X" targets, as in Django's docs.
    app.add_crossref_type(  # type: ignore[attr-defined]
        "setting", "setting", indextemplate="pair: %s; setting"
    )
