"""The docs document every public name, and their examples run."""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path

import pytest

import turbo
from turbo import fragments

DOCS = Path(__file__).resolve().parent.parent / "docs"


def public_names():
    yield from (f"turbo.{name}" for name in turbo.__all__ if name not in {"fragments"})
    for name, value in vars(fragments).items():
        if not name.startswith("_") and getattr(value, "__module__", None) == fragments.__name__:
            yield name
    for name, _ in inspect.getmembers(turbo.Stream, inspect.isfunction):
        if not name.startswith("_"):
            yield name


@pytest.mark.parametrize("name", sorted(set(public_names())))
def test_public_name_is_in_the_api_reference(name):
    reference = (DOCS / "api.rst").read_text()
    assert name.rpartition(".")[2] in reference


@pytest.mark.parametrize("page", ["fragments.rst"])
def test_examples_run(page):
    parser = doctest.DocTestParser()
    test = parser.get_doctest((DOCS / page).read_text(), {}, page, page, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0
    assert runner.tries >= 3


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.rst")))
def test_included_files_exist(page):
    text = (DOCS / page).read_text()
    for included in re.findall(r"^\.\. literalinclude:: (\S+)", text, re.MULTILINE):
        assert (DOCS / included).is_file(), f"{page} includes {included}, which is missing"


TEST_REFERENCE = re.compile(r"``(test_\w+\.py)::(test_\w+)``")


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.rst")))
def test_the_tests_a_page_names_exist(page):
    # A promise's test that is renamed or removed would leave the page's
    # "promise → test" table pointing at nothing.
    tests = DOCS.parent / "tests"
    for module, name in TEST_REFERENCE.findall((DOCS / page).read_text()):
        source = (tests / module).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), (
            f"{page} names {module}::{name}, which does not exist"
        )
