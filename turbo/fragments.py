"""Build ``<turbo-stream>`` markup: the actions Turbo applies to a page.

Every builder returns a :class:`Fragment`. Arguments are checked when the
fragment is built; its template is rendered the first time the markup is
needed, and only once, however many subscribers receive it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Literal,
    Protocol,
    TypedDict,
    TypeVar,
    Unpack,
    get_args,
    runtime_checkable,
)

import django
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from django.http import HttpRequest

Action = Literal["append", "prepend", "replace", "update", "remove", "before", "after", "refresh"]
"""The actions Turbo 8 understands."""

ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

InsertAction = Literal["append", "prepend"]
"""The actions that add content to the end or start of a target."""

RefreshMethod = Literal["morph", "replace"]
"""How a page applies a refresh: morph into the new page, or replace the body."""

RefreshScroll = Literal["preserve", "reset"]
"""Where a refreshed page scrolls: stay put, or go to the top."""

#: Actions that accept ``method="morph"``.
MORPH_ACTIONS: Final = frozenset({"replace", "update"})

# Names given to register_action(); read by fragment() on every call.
_custom_actions: set[str] = set()

_ACTION_NAME: Final = re.compile(r"[a-z][a-z0-9_-]*")
# A safe subset of HTML attribute names: they are written unescaped.
_ATTRIBUTE_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.-]*")
_RESERVED_ATTRIBUTES: Final = frozenset({"action", "target", "targets", "method"})

TemplateName = str | Sequence[str]


@runtime_checkable
class Markup(Protocol):
    """HTML that says it is safe, as Django reads it: an object with ``__html__()``.

    A :class:`~django.utils.safestring.SafeString` (from
    :func:`~django.utils.html.format_html`, :func:`~django.utils.safestring.mark_safe`
    or a rendered template) or a :class:`Fragment` is one; a plain ``str`` is not.
    """

    def __html__(self) -> str:
        """The markup, to insert without escaping."""
        ...


class ContentOptions(TypedDict, total=False):
    """Keyword arguments of the content actions (append, prepend, before, after)."""

    id: str
    selector: str
    text: str
    html: Markup
    request: HttpRequest | None


class MorphOptions(ContentOptions, total=False):
    """Keyword arguments of ``replace`` and ``update``: content options + method."""

    method: Literal["morph"] | None


class Fragment:
    """One ``<turbo-stream>`` element.

    Build fragments with the action functions of this module, e.g.
    ``append("chat/message.html", {"message": m}, id="messages")``. ``str()`` of
    a fragment is its markup; fragments can be concatenated into a response or
    broadcast together.
    """

    def __init__(
        self,
        action: str,
        *,
        target: str | None = None,
        targets: str | None = None,
        attributes: Mapping[str, str] | None = None,
        template: str | None = None,
        content: Callable[[], str] | None = None,
        request: HttpRequest | None = None,
    ) -> None:
        self.action = action
        self.target = target
        self.targets = targets
        self.attributes = dict(attributes or {})
        #: The template name the content comes from, for error messages.
        self.template = template
        self._render_content = content
        #: The request the content renders with, if any: a response's, since a
        #: broadcast refuses a fragment that has one.
        self.request = request

    @cached_property
    def content(self) -> str:
        """The HTML inside ``<template>``: rendered on first access, then cached."""
        return "" if self._render_content is None else self._render_content()

    @cached_property
    def markup(self) -> SafeString:
        """The full ``<turbo-stream>`` element, rendering its content if needed."""
        attributes = {"action": self.action}
        if self.target is not None:
            attributes["target"] = self.target
        if self.targets is not None:
            attributes["targets"] = self.targets
        attributes.update(self.attributes)
        opening = " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items())
        inner = "" if self._render_content is None else f"<template>{self.content}</template>"
        return mark_safe(f"<turbo-stream {opening}>{inner}</turbo-stream>")

    def __str__(self) -> str:
        return self.markup

    def __html__(self) -> SafeString:
        return self.markup

    def __repr__(self) -> str:
        where = self.target if self.targets is None else self.targets
        return f"<Fragment {self.action} {where!r}>"


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


def _content(
    action: str,
    template: TemplateName | None,
    context: Mapping[str, Any] | None,
    text: str | None,
    html: Markup | None,
    request: HttpRequest | None,
) -> Callable[[], str]:
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
    if template is not None:
        return lambda: render_template(template, context, request)
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


def _check_target(action: str, id: str | None, selector: str | None) -> None:
    if (id is None) == (selector is None):
        raise TypeError(f"{action}() takes exactly one of id= or selector=.")


def _checked_attributes(action: str, attributes: Mapping[str, str]) -> Mapping[str, str]:
    for name in attributes:
        if name in _RESERVED_ATTRIBUTES:
            raise ValueError(
                f"{action}() sets the {name!r} attribute itself; "
                f"pass it as an argument, not in attributes=."
            )
        if not _ATTRIBUTE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid attribute name for {action}().")
    return attributes


def register_action(name: str) -> None:
    """Let :func:`fragment` build the custom action ``name``.

    Turbo applies an action it does not know by calling the function of that
    name in ``Turbo.StreamActions``, which your JavaScript defines. Register the
    name once, at import time (e.g. in an app's ``streams.py``)::

        fragments.register_action("set_title")
        room.stream.broadcast(fragments.fragment("set_title", text="3 new messages"))

    Names are lower-case letters, digits, ``_`` and ``-``, starting with a
    letter; the built-in actions cannot be registered. Registering a name
    again does nothing.
    """
    if name in ACTIONS:
        raise ValueError(f"{name!r} is a built-in turbo-stream action; it needs no registering.")
    if not _ACTION_NAME.fullmatch(name):
        raise ValueError(
            f"Invalid turbo-stream action name {name!r}: use lower-case letters, digits, "
            f"'_' and '-', starting with a letter."
        )
    _custom_actions.add(name)


def fragment(
    action: Action | str,
    template: TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,
    selector: str | None = None,
    text: str | None = None,
    html: Markup | None = None,
    method: Literal["morph"] | None = None,
    attributes: Mapping[str, str] | None = None,
    request: HttpRequest | None = None,
) -> Fragment:
    """Build a fragment for any targeted action; the named builders call this.

    ``id=`` targets one element (``target``), ``selector=`` every element a CSS
    selector matches (``targets``). Content comes from exactly one of a template
    (name and context, rendered lazily), ``text=`` (escaped) or ``html=``
    (markup marked safe, inserted as is; a plain ``str`` raises
    :exc:`TypeError`, see :func:`trusted_html`). ``remove`` takes no content.
    ``attributes=`` adds attributes of your own (values are escaped).
    ``request=`` renders the template with that request (context processors,
    ``{% csrf_token %}``): for a response, which goes to one user; a broadcast
    refuses such a fragment. Example::

        fragment("append", "chat/message.html", {"message": m}, id="messages")

    A custom action (see :func:`register_action`) takes a target and content
    only if it uses them: ``fragment("set_title", text="3 new messages")``.
    """
    custom = action in _custom_actions
    if not custom and (action not in ACTIONS or action == "refresh"):
        raise ValueError(
            f"Unknown turbo-stream action {action!r}; expected one of "
            f"{', '.join(a for a in ACTIONS if a != 'refresh')} (or use refresh()). "
            f"For a custom action, call turbo.fragments.register_action({action!r}) "
            f"first, and define Turbo.StreamActions[{action!r}] in JavaScript."
        )
    if method is not None and (action not in MORPH_ACTIONS or method != "morph"):
        raise ValueError(
            f"method={method!r} is not valid for {action}(); "
            f'only replace and update take method="morph".'
        )
    if not custom:
        _check_target(action, id, selector)
    elif id is not None and selector is not None:
        raise TypeError(f"{action}() takes at most one of id= or selector=.")
    all_attributes: dict[str, str] = {"method": method} if method else {}
    all_attributes.update(_checked_attributes(action, attributes or {}))
    no_content = (template, context, text, html) == (None, None, None, None)
    if action == "remove" and not no_content:
        raise TypeError("remove() takes no content: pass only id= or selector=.")
    if action == "remove" or (custom and no_content):
        return Fragment(
            action, target=id, targets=selector, attributes=all_attributes, request=request
        )
    return Fragment(
        action,
        target=id,
        targets=selector,
        attributes=all_attributes,
        template=template if isinstance(template, str) else None,
        content=_content(action, template, context, text, html, request),
        request=request,
    )


def append(
    template: TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Unpack[ContentOptions],
) -> Fragment:
    """Append content to the target's children.

    ``append("chat/message.html", {"message": m}, id="messages")`` adds the
    rendered message at the end of ``#messages``. An element of the content whose
    id already exists in the target replaces it instead of being duplicated.
    """
    return fragment("append", template, context, **options)


def prepend(
    template: TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Unpack[ContentOptions],
) -> Fragment:
    """Prepend content to the target's children.

    ``prepend("feed/item.html", {"item": item}, id="feed")`` puts the newest
    item first.
    """
    return fragment("prepend", template, context, **options)


def replace(
    template: TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Unpack[MorphOptions],
) -> Fragment:
    """Replace the target element itself with the content.

    ``replace("chat/message.html", {"message": m}, id=f"message-{m.pk}")`` swaps
    an edited message in place; add ``method="morph"`` to morph instead, which
    keeps focus and unchanged DOM nodes.
    """
    return fragment("replace", template, context, **options)


def update(
    template: TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Unpack[MorphOptions],
) -> Fragment:
    """Replace the target's children, keeping the element itself.

    ``update(text=str(count), id="unread-count")`` sets a counter;
    ``method="morph"`` morphs the children instead of replacing them.
    """
    return fragment("update", template, context, **options)


def before(
    template: TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Unpack[ContentOptions],
) -> Fragment:
    """Insert content just before the target element, as its previous sibling.

    ``before("todo/item.html", {"item": item}, id="new-item-form")``.
    """
    return fragment("before", template, context, **options)


def after(
    template: TemplateName | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Unpack[ContentOptions],
) -> Fragment:
    """Insert content just after the target element, as its next sibling.

    ``after("todo/item.html", {"item": item}, id=f"item-{previous.pk}")``.
    """
    return fragment("after", template, context, **options)


def remove(*, id: str | None = None, selector: str | None = None) -> Fragment:
    """Remove the target element (or every element ``selector`` matches).

    ``remove(id=f"message-{m.pk}")`` takes a deleted message off the page.
    """
    return fragment("remove", id=id, selector=selector)


def refresh(
    *,
    request_id: str | None = None,
    method: RefreshMethod | None = None,
    scroll: RefreshScroll | None = None,
) -> Fragment:
    """Ask the page to reload itself from the server (Turbo 8).

    ``refresh(method="morph", scroll="preserve")`` morphs the page into its new
    version and keeps the scroll position. A page whose latest request carried
    ``request_id`` (Turbo's ``X-Turbo-Request-Id``) ignores the refresh, so the
    tab that caused a change does not reload for it.
    """
    attributes = {"request-id": request_id, "method": method, "scroll": scroll}
    check_refresh_options(method, scroll)
    return Fragment("refresh", attributes={k: v for k, v in attributes.items() if v is not None})


def check_refresh_options(method: object, scroll: object) -> None:
    """Raise :exc:`ValueError` unless ``method`` and ``scroll`` are Turbo's (or ``None``)."""
    for name, value, kind in (("method", method, RefreshMethod), ("scroll", scroll, RefreshScroll)):
        if value is not None and value not in get_args(kind):
            raise ValueError(f"refresh {name} must be one of {get_args(kind)}, not {value!r}.")


M = TypeVar("M", bound=Callable[..., Any])


def method_of(
    build: Callable[..., Fragment],
    method: M,
    *,
    name: str,
    doc: str,
    returns: str,
    takes_self: bool = True,
) -> M:
    """Name and document ``method``, which takes ``build``'s arguments, after ``self``.

    Stream and response methods mirror the fragment functions; they show
    ``build``'s parameters in help and in the API reference.
    ``functools.wraps`` would lose the first of them: on a bound method,
    ``inspect`` takes it for ``self``. A ``method`` already bound to its
    object (``takes_self=False``) shows them as they are.
    """
    signature = inspect.signature(build)
    parameters = list(signature.parameters.values())
    if takes_self:
        parameters.insert(0, inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD))
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=returns
    )
    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    return method


def join(fragments: Sequence[Fragment]) -> str:
    """Concatenate the markup of several fragments, rendering each once."""
    return "".join(f.markup for f in fragments)
