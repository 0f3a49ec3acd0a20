"""turbo-django's response shortcuts: content first, then its action, then ``.response``.

turbo-django's views wrote::

    frame = render_frame(request, "reminders/item.html", {"reminder": r})
    return frame.append(id="reminders").response

:func:`render_frame` and :func:`render_frame_string` give a :class:`FrameContent`
(content waiting for its action); its action methods, and :func:`remove_frame`,
give a :class:`Frame`: a :class:`~turbo.fragments.Fragment` that is also its
own response (``.response``) and can be broadcast (``.stream_to(stream)``).
New code writes the same with :data:`turbo.turbo_stream`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from django.utils.safestring import SafeString

from turbo import fragments
from turbo.fragments import Fragment
from turbo.http import TurboStreamResponse
from turbo.positional import names_targets, names_targets_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from django.http import HttpRequest

    from turbo.markup import Action, TemplateName
    from turbo.streams import Stream


class Frame(Fragment):
    """A fragment built by the shortcuts, with turbo-django's ``response`` and ``stream_to``.

    It is a :class:`~turbo.fragments.Fragment` in every other way: add it to a
    :class:`~turbo.TurboStreamResponse`, or broadcast it::

        frame = remove_frame(selector="#reminders li")
        return frame.response
    """

    def __init__(self, fragment: Fragment) -> None:
        super().__init__(
            fragment.action,
            target=fragment.target,
            targets=fragment.targets,
            attributes=fragment.attributes,
            request=fragment.request,
        )
        self.fragment = fragment

    @cached_property
    def content(self) -> str:
        """The HTML inside ``<template>``, as the fragment renders it."""
        return self.fragment.content

    @cached_property
    def markup(self) -> SafeString:
        """The ``<turbo-stream>`` element, as the fragment renders it."""
        return self.fragment.markup

    @property
    def rendered_template(self) -> SafeString:
        """The markup (turbo-django's name for it): ``str(frame)`` gives the same."""
        return self.markup

    @property
    def response(self) -> TurboStreamResponse:
        """A :class:`~turbo.TurboStreamResponse` of this frame alone, ready to return."""
        return TurboStreamResponse(self)

    def stream_to(self, stream: Stream) -> None:
        """Broadcast the frame to ``stream``'s subscribers: ``stream.broadcast(frame)``.

        A frame of :func:`render_frame` renders with the request, which a
        broadcast refuses (:exc:`TypeError`): build it with
        :func:`render_frame_string`, or call the stream's action method.
        """
        stream.broadcast(self)


@names_targets_of  # turbo-django's positional selector raises, saying what to write
class FrameContent:
    """Content waiting for the action that places it; each action method gives a :class:`Frame`.

    ``render_frame(request, "chat/form.html", {"form": form}).replace(id="form")``.
    Each action takes exactly one of ``id=`` and ``selector=``; ``replace``
    and ``update`` also ``method="morph"``. The template renders once, when
    the frame's markup is first needed.
    """

    def __init__(
        self,
        template: TemplateName | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        text: str | None = None,
        html: SafeString | None = None,
        request: HttpRequest | None = None,
    ) -> None:
        self.template = template
        self.context = context
        self.text = text
        self.html = html
        self.request = request

    def _frame(
        self,
        action: Action,
        id: str | None,
        selector: str | None,
        method: Literal["morph"] | None = None,
    ) -> Frame:
        fragment = fragments.fragment(
            action,
            self.template,
            self.context,
            id=id,
            selector=selector,
            text=self.text,
            html=self.html,
            method=method,
            request=self.request,
        )
        return Frame(fragment)

    def append(self, *, id: str | None = None, selector: str | None = None) -> Frame:
        """The content appended to the target's children: ``.append(id="reminders")``."""
        return self._frame("append", id, selector)

    def prepend(self, *, id: str | None = None, selector: str | None = None) -> Frame:
        """The content prepended to the target's children: ``.prepend(id="feed")``."""
        return self._frame("prepend", id, selector)

    def replace(
        self,
        *,
        id: str | None = None,
        selector: str | None = None,
        method: Literal["morph"] | None = None,
    ) -> Frame:
        """The content replacing the target element: ``.replace(id="reminders")``."""
        return self._frame("replace", id, selector, method)

    def update(
        self,
        *,
        id: str | None = None,
        selector: str | None = None,
        method: Literal["morph"] | None = None,
    ) -> Frame:
        """The content replacing the target's children: ``.update(id="count")``."""
        return self._frame("update", id, selector, method)

    def before(self, *, id: str | None = None, selector: str | None = None) -> Frame:
        """The content inserted before the target element: ``.before(id="new-item")``."""
        return self._frame("before", id, selector)

    def after(self, *, id: str | None = None, selector: str | None = None) -> Frame:
        """The content inserted after the target element: ``.after(id="item-4")``."""
        return self._frame("after", id, selector)

    def remove(self, *, id: str | None = None, selector: str | None = None) -> Frame:
        """A frame removing the target, whatever the content: as :func:`remove_frame`."""
        return remove_frame(id=id, selector=selector)


def render_frame(
    request: HttpRequest | None,
    template_name: TemplateName,
    context: Mapping[str, Any] | None = None,
) -> FrameContent:
    """``template_name`` rendered with ``context`` and ``request``, waiting for its action.

    As :func:`~django.shortcuts.render` takes them; then pick the action::

        return render_frame(request, "reminders/item.html", {"reminder": r}).append(
            id="reminders"
        ).response

    The same as ``turbo_stream.append("reminders/item.html", {...}, id="reminders",
    request=request)``.
    """
    return FrameContent(template_name, context, request=request)


def render_frame_string(text: str) -> FrameContent:
    """``text`` waiting for its action: escaped, unless it is marked safe.

    ``render_frame_string("3 online").update(id="count").response``; as a
    template variable would, a :class:`~django.utils.safestring.SafeString`
    (``format_html()``) goes in as markup.
    """
    if isinstance(text, SafeString):
        return FrameContent(html=text)
    return FrameContent(text=text)


@names_targets
def remove_frame(*, id: str | None = None, selector: str | None = None) -> Frame:
    """A frame removing the target element, or every element ``selector`` matches.

    ``return remove_frame(selector="#reminders li").response``
    """
    return Frame(fragments.remove(id=id, selector=selector))
