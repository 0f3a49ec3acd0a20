"""What a ``<turbo-stream>`` element may hold: action names, content, attributes.

The names Turbo understands as types, the rendering of a fragment's template,
the check that ``html=`` is markup marked safe, and the checks of the
attributes a fragment writes. :mod:`turbo.fragments` builds fragments with them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, get_args, runtime_checkable

import django
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from django.http import HttpRequest

Action = Literal["append", "prepend", "replace", "update", "remove", "before", "after", "refresh"]
"""The actions Turbo 8 understands; each has a builder in :mod:`turbo.fragments`,
and a sync, async, ``*_later`` and response method of the same name
(:class:`turbo.Stream`, :class:`turbo.TurboStreamResponse`)."""

ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

# turbo-django's names for the actions, exported by the package as turbo.APPEND...
APPEND: Final[Action] = "append"
PREPEND: Final[Action] = "prepend"
REPLACE: Final[Action] = "replace"
UPDATE: Final[Action] = "update"
REMOVE: Final[Action] = "remove"
BEFORE: Final[Action] = "before"
AFTER: Final[Action] = "after"

InsertAction = Literal["append", "prepend"]
"""The actions that add content to the end or start of a target."""

RefreshMethod = Literal["morph", "replace"]
"""How a page applies a refresh: morph into the new page, or replace the body."""

RefreshScroll = Literal["preserve", "reset"]
"""Where a refreshed page scrolls: stay put, or go to the top."""

#: Actions that accept ``method="morph"``.
MORPH_ACTIONS: Final = frozenset({"replace", "update"})

TemplateName = str | Sequence[str]

# A safe subset of HTML attribute names: they are written unescaped.
_ATTRIBUTE_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.-]*")
_RESERVED_ATTRIBUTES: Final = frozenset({"action", "target", "targets", "method"})


@runtime_checkable
class Markup(Protocol):
    """HTML that says it is safe, as Django reads it: an object with ``__html__()``.

    A :class:`~django.utils.safestring.SafeString` (from
    :func:`~django.utils.html.format_html`, :func:`~django.utils.safestring.mark_safe`
    or a rendered template) or a :class:`~turbo.fragments.Fragment` is one; a
    plain ``str`` is not.
    """

    def __html__(self) -> str:
        """The markup, to insert without escaping."""
        ...


def render_template(
    template: TemplateName,
    context: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> str:
    """Render ``template`` like :func:`~django.template.loader.render_to_string`.

    Names of the form ``"file.html#partial"`` render one ``{% partialdef %}`` of
    the file. Django 6.0 does this natively; on Django 5.2 it needs
    django-template-partials (``"template_partials"`` in ``INSTALLED_APPS``), and
    without it this raises a clear :exc:`~django.core.exceptions.ImproperlyConfigured`
    instead of a puzzling ``TemplateDoesNotExist``.
    """
    names = [template] if isinstance(template, str) else list(template)
    if (
        django.VERSION < (6, 0)
        and any("#" in name for name in names)
        and not apps.is_installed("template_partials")
    ):
        raise ImproperlyConfigured(
            f"Template partials such as {names[0]!r} need Django 6.0 or later, or "
            f"django-template-partials with 'template_partials' in INSTALLED_APPS "
            f"(this is Django {django.get_version()})."
        )
    return render_to_string(template, dict(context or {}), request)


def content_renderer(
    action: str,
    template: TemplateName | None,
    context: Mapping[str, Any] | None,
    text: str | None,
    html: Markup | None,
    request: HttpRequest | None,
) -> Callable[[], str]:
    """What renders a fragment's content: from exactly one of template, text or html.

    Checked now, in the caller; the template renders when the returned
    function is called.
    """
    if template is not None and text is None and html is None:
        return lambda: render_template(template, context, request)
    if context is not None and template is None:
        raise TypeError(f"{action}() got a context but no template to render it with.")
    given = [
        name
        for name, value in (("template", template), ("text=", text), ("html=", html))
        if value is not None
    ]
    if len(given) != 1:
        raise TypeError(
            f"{action}() takes exactly one of a template, text= or html= "
            f"(got {', '.join(given) or 'none'})."
        )
    if text is not None:
        escaped = escape(text)
        return lambda: escaped
    trusted = trusted_html(html, action)
    return lambda: trusted


def trusted_html(html: object, name: str) -> SafeString:
    """``html`` as markup to insert unescaped, if it is marked safe; else :exc:`TypeError`.

    What every ``html=`` goes through (``name`` is the caller's, for the
    error): Django's convention, where only a value with ``__html__()``
    (:class:`Markup`) is trusted. A plain ``str`` is refused rather than
    escaped, since ``text=`` already escapes: it is either user input, which
    must not become markup, or markup that would show as ``&lt;b&gt;``::

        fragments.update(html=format_html("<b>{}</b>", user.name), id="greeting")
    """
    if not isinstance(html, Markup):
        raise TypeError(
            f"{name}() takes html= only as markup marked safe, not a plain "
            f"{type(html).__name__}: build it with django.utils.html.format_html(), which "
            f"escapes the values it inserts, or mark_safe() markup that holds no outside "
            f"input; or pass text=, which escapes it all."
        )
    return mark_safe(html.__html__())


def check_target(action: str, id: str | None, selector: str | None) -> None:
    """Raise :exc:`TypeError` unless exactly one of ``id`` and ``selector`` is given."""
    if (id is None) == (selector is None):
        raise TypeError(f"{action}() takes exactly one of id= or selector=.")


def checked_attributes(action: str, attributes: Mapping[str, str]) -> Mapping[str, str]:
    """``attributes``, if none is one the fragment sets itself and every name is safe."""
    for name in attributes:
        if name in _RESERVED_ATTRIBUTES:
            raise ValueError(
                f"{action}() sets the {name!r} attribute itself; "
                f"pass it as an argument, not in attributes=."
            )
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid attribute name for {action}().")
    return attributes


def check_refresh_options(method: object, scroll: object) -> None:
    """Raise :exc:`ValueError` unless ``method`` and ``scroll`` are Turbo's (or ``None``)."""
    for name, value, kind in (("method", method, RefreshMethod), ("scroll", scroll, RefreshScroll)):
        if value is not None and value not in get_args(kind):
            raise ValueError(f"refresh {name} must be one of {get_args(kind)}, not {value!r}.")
