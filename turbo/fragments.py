"""Build ``<turbo-stream>`` markup: the actions Turbo applies to a page.

Every builder returns a :class:`Fragment`. Arguments are checked when the
fragment is built; its template is rendered the first time the markup is
needed, and only once, however many subscribers receive it.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, Unpack

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from turbo.markup import (
    ACTIONS,
    MORPH_ACTIONS,
    Action,
    InsertAction,
    Markup,
    RefreshMethod,
    RefreshScroll,
    TemplateName,
    check_refresh_options,
    check_target,
    checked_attributes,
    content_renderer,
    render_template,
    trusted_html,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from django.http import HttpRequest

# Re-exported: the names a builder's arguments are typed with, and the checks
# other modules run on them, have been reached through this module.
__all__ = [
    "ACTIONS",
    "MORPH_ACTIONS",
    "Action",
    "ContentOptions",
    "Fragment",
    "InsertAction",
    "Markup",
    "MorphOptions",
    "RefreshMethod",
    "RefreshScroll",
    "TemplateName",
    "after",
    "append",
    "before",
    "check_refresh_options",
    "fragment",
    "join",
    "prepend",
    "refresh",
    "register_action",
    "remove",
    "render_template",
    "replace",
    "trusted_html",
    "update",
]

# Names given to register_action(); read by fragment() on every call.
_custom_actions: set[str] = set()

_ACTION_NAME: Final = re.compile(r"[a-z][a-z0-9_-]*")


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
        content: Callable[[], str] | None = None,
        request: HttpRequest | None = None,
    ) -> None:
        self.action = action
        self.target = target
        self.targets = targets
        self.attributes = dict(attributes) if attributes else {}
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
        check_target(action, id, selector)
    elif id is not None and selector is not None:
        raise TypeError(f"{action}() takes at most one of id= or selector=.")
    all_attributes: dict[str, str] = {"method": method} if method else {}
    if attributes:
        all_attributes.update(checked_attributes(action, attributes))
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
        content=content_renderer(action, template, context, text, html, request),
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


def join(fragments: Sequence[Fragment]) -> str:
    """Concatenate the markup of several fragments, rendering each once."""
    return "".join(f.markup for f in fragments)
