"""``<turbo-stream>`` markup written by hand, checked to be nothing else.

turbo-django's ``stream.stream_raw(text)`` sent any string. Ours sends a
string only if it is made of ``<turbo-stream>`` elements, each with an
action, and nothing but whitespace between them: a template rendered by
mistake, plain text, or an element left open is refused with the place of
the problem, rather than applied by Turbo as something else or not at all.
What the elements hold is sent as written: like ``mark_safe()``, the caller
vouches that no outside input is in it unescaped.
"""

from __future__ import annotations

import re
from functools import cached_property
from html.parser import HTMLParser
from typing import Final

from django.utils.safestring import SafeString, mark_safe

from turbo.fragments import Fragment

_TAG: Final = "turbo-stream"
_TEMPLATE: Final = re.compile(r"<template\b[^>]*>(.*)</template\s*>", re.DOTALL | re.IGNORECASE)


class RawFragment(Fragment):
    """One ``<turbo-stream>`` element of hand-written markup, sent exactly as written.

    Its ``action``, ``target``, ``targets`` and other ``attributes`` are read
    from the element, for tests (:func:`turbo.testing.capture_broadcasts`).
    """

    def __init__(self, source: str, attributes: dict[str, str]) -> None:
        super().__init__(
            attributes.pop("action"),
            target=attributes.pop("target", None),
            targets=attributes.pop("targets", None),
            attributes=attributes,
        )
        self.source = source

    @cached_property
    def content(self) -> str:
        """What the element's ``<template>`` holds, as written ("" without one)."""
        found = _TEMPLATE.search(self.source)
        return found.group(1) if found else ""

    @cached_property
    def markup(self) -> SafeString:
        """The element as written."""
        return mark_safe(self.source)


def parse(markup: object, name: str) -> tuple[RawFragment, ...]:
    """The ``<turbo-stream>`` elements ``markup`` is made of, or :exc:`ValueError`.

    ``name`` is the caller's, for the error, which says where the problem is
    and what to write instead::

        parse('<turbo-stream action="remove" target="draft"></turbo-stream>', "stream_raw")
    """
    if not isinstance(markup, str):
        raise TypeError(f"{name}() takes markup as a str, not {type(markup).__name__}.")
    parser = _Elements(markup)
    parser.feed(markup)
    parser.close()
    problem = parser.problem
    if problem is None and parser.depth:
        problem = "a <turbo-stream> is not closed", parser.opened_at
    if problem is None and not parser.found:
        problem = "there is no <turbo-stream> element", 0
    if problem is not None:
        what, offset = problem
        line = markup.count("\n", 0, offset) + 1
        column = offset - (markup.rfind("\n", 0, offset) + 1) + 1
        raise ValueError(
            f"{name}() takes markup made of <turbo-stream> elements only, each with an "
            f"action: {what} (line {line}, column {column}). To send content, call an "
            f"action instead: stream.update(text=..., id=...), or html= with markup "
            f"marked safe."
        )
    return tuple(parser.found)


class _Elements(HTMLParser):
    """Finds the top-level ``<turbo-stream>`` elements, and the first thing that is not one."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=False)
        self.markup = markup
        self.line_starts = [0] + [i + 1 for i, c in enumerate(markup) if c == "\n"]
        self.depth = 0
        self.opened_at = 0
        self.opened_with: dict[str, str] = {}
        self.found: list[RawFragment] = []
        self.problem: tuple[str, int] | None = None

    def position(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def refuse(self, what: str) -> None:
        if self.problem is None:
            self.problem = what, self.position()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == _TAG:
            if self.depth == 0:
                self.opened_at, self.opened_with = self.position(), {k: v or "" for k, v in attrs}
                if not self.opened_with.get("action"):
                    self.refuse("a <turbo-stream> has no action")
            self.depth += 1
        elif self.depth == 0:
            self.refuse(f"<{tag}> is outside any <turbo-stream>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth == 0:
            self.refuse(f"<{tag}/> is self-closing; write <{tag} ...></{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == _TAG and self.depth:
            self.depth -= 1
            if self.depth == 0 and self.problem is None:
                end = self.markup.index(">", self.position()) + 1
                source = self.markup[self.opened_at : end]
                self.found.append(RawFragment(source, dict(self.opened_with)))
        elif self.depth == 0:
            self.refuse(f"</{tag}> closes no <turbo-stream>")

    def handle_data(self, data: str) -> None:
        if self.depth == 0 and data.strip():
            self.refuse(f"text {data.strip()[:30]!r} is outside any <turbo-stream>")

    def handle_entityref(self, name: str) -> None:
        self.handle_data(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.handle_data(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.handle_data(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.handle_data(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.handle_data(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.handle_data(f"<![{data}]>")
