"""``{% load turbo_streams %}``: subscribe a page to streams, and load the client."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Final

from channels.layers import get_channel_layer
from django import template
from django.db.models import Model, QuerySet
from django.templatetags.static import static
from django.urls import get_script_prefix
from django.utils.functional import LazyObject, empty
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from turbo import conf, history, signing
from turbo.components import Component, UserComponent, is_anonymous
from turbo.declarative import dom_id
from turbo.markup import check_refresh_options
from turbo.page_sessions import note_subscribing_page
from turbo.registry import registry
from turbo.streams import Stream

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.utils.safestring import SafeString

register = template.Library()

#: The custom element the client script defines.
ELEMENT: Final = "turbo-channels-stream-source"
#: Static paths of the bundled Turbo and of the client module.
TURBO_SCRIPT: Final = "turbo/vendor/turbo.es2017-esm.js"
CLIENT_SCRIPT: Final = "turbo/turbo_streams.js"


def resolve_stream(source: object) -> Stream:
    """The stream ``{% turbo_subscribe %}`` means by ``source``.

    A model instance gives its stream, a queryset or a model class its
    model's :meth:`~turbo.ModelStream.collection`, a :class:`~turbo.Stream`
    itself, and a stream class or an ``"app_label:StreamName"`` string the
    stream built without arguments. A lazy object (``request.user``) means
    what it stands for.
    """
    source = _unwrapped(source)
    if isinstance(source, Stream):
        return source
    if isinstance(source, Model | QuerySet) or (
        isinstance(source, type) and issubclass(source, Model)
    ):
        model = source.model if isinstance(source, QuerySet) else source
        model_stream = registry.for_model(model if isinstance(model, type) else type(model))
        if model_stream is None:
            raise template.TemplateSyntaxError(
                f"turbo_subscribe: {model._meta.object_name} has no stream; declare a "
                f"ModelStream for it in its app's streams.py."
            )
        return model_stream(source) if isinstance(source, Model) else model_stream.collection()
    stream_class = _class_named(source, "turbo_subscribe")
    if not (isinstance(stream_class, type) and issubclass(stream_class, Stream)):
        raise template.TemplateSyntaxError(
            f"turbo_subscribe takes model instances, streams and 'app_label:StreamName' "
            f"strings, not {source!r}."
        )
    try:
        return stream_class()
    except TypeError as error:
        raise template.TemplateSyntaxError(
            f"turbo_subscribe: {stream_class.stream_name()} needs arguments ({error}); "
            f"pass a stream object from the view instead, e.g. "
            f"{stream_class.__name__}(...) in the context."
        ) from None


def _class_named(source: object, tag: str) -> object:
    """``source``, or the stream class an ``"app_label:Name"`` string names.

    An empty value, a context variable gone missing, raises for ``tag``, as
    does a name nothing registered.
    """
    if source == "":
        raise template.TemplateSyntaxError(
            f"{tag} got an empty value: is a context variable missing?"
        )
    if isinstance(source, str):
        try:
            return registry.get(source)
        except LookupError as error:
            raise template.TemplateSyntaxError(f"{tag}: {error.args[0]}") from None
    return source


def _unwrapped(source: object) -> object:
    # request.user is a SimpleLazyObject (Channels' scope["user"] a
    # UserLazyObject): it passes isinstance() checks for the user model, but
    # its type() is the wrapper's, which has no stream.
    if isinstance(source, LazyObject):
        if source._wrapped is empty:
            source._setup()
        return source._wrapped
    return source


@register.simple_tag
def turbo_subscribe(*sources: object) -> SafeString:
    """Subscribe the page to each stream given: instances, streams or names.

    ``{% turbo_subscribe room %}`` renders one invisible element per stream,
    carrying a signed token and, with a history, the position the page was
    rendered at; the client script subscribes while it is in the page.
    ``{% turbo_subscribe room request.user.notifications "chat:Lobby" %}``
    subscribes to three.

    After them, it loads the client script (:func:`client_script`), which
    ``{% turbo_head %}`` has loaded already on a page set up as it should.
    """
    if not sources:
        raise template.TemplateSyntaxError("turbo_subscribe needs at least one stream.")
    return subscription([resolve_stream(source) for source in sources])


def subscription(streams: Sequence[Stream]) -> SafeString:
    """The elements subscribing the page to ``streams``, and the client's script.

    What ``{% turbo_subscribe %}`` and ``{% turbo_component %}`` render.
    """
    note_subscribing_page()
    url = get_script_prefix() + conf.websocket_path()
    layer = get_channel_layer()
    position = history.page_position(layer)
    history.mark_watched_soon(layer, [stream.group for stream in streams])
    attributes = format_html(' position="{}"', position) if position is not None else ""
    elements = format_html_join(
        "",
        '<{0} url="{1}" stream="{2}" token="{3}"{4}></{0}>',
        ((ELEMENT, url, stream.group, signing.dumps(stream), attributes) for stream in streams),
    )
    return elements + client_script()


def client_script() -> SafeString:
    """The client's ``<script>`` tag, which ``{% turbo_subscribe %}`` renders after its elements.

    On a page without ``{% turbo_head %}``, nothing would run the elements and
    nothing would say why; so the tag loads the client too. A module runs once
    per page however many tags load it, so this costs nothing where
    ``{% turbo_head %}`` loaded it; and an external script passes a
    Content-Security-Policy that admits ``'self'``, where an inline check
    would not. Loaded so, the client finds no Turbo unless the page's own
    bundle loads it, and says in the console to add ``{% turbo_head %}``.
    """
    return format_html('<script type="module" src="{}"></script>', static(CLIENT_SCRIPT))


@register.simple_tag(takes_context=True)
def turbo_component(
    context: template.Context, component: object, *args: object, **kwargs: object
) -> SafeString:
    """Render a :class:`~turbo.Component` in place, and subscribe the page to it.

    ``{% turbo_component "chat:OnlineCount" %}`` names a component class,
    ``{% turbo_component "chat:UnreadCount" request.user %}`` builds it with
    arguments (a class from the context works as the name does), and
    ``{% turbo_component progress %}`` takes a component the view built.
    The content renders with the page's request; every
    :meth:`~turbo.Component.update` replaces it. A
    :class:`~turbo.UserComponent` given an anonymous visitor renders nothing.
    """
    built = resolve_component(component, args, kwargs)
    if built is None:
        return mark_safe("")
    # Subscribed first: the page's position is read before the component's
    # state is, so an update committed in between reaches the page.
    elements = subscription([built])
    return elements + built.render_element(context.get("request"))


def resolve_component(
    source: object, args: Sequence[object], kwargs: dict[str, object]
) -> Component | None:
    """The component ``{% turbo_component source *args **kwargs %}`` means.

    ``None`` for a :class:`~turbo.UserComponent` of an anonymous visitor, who
    has none: the tag then renders nothing.
    """
    source = _unwrapped(source)
    if isinstance(source, Component):
        if args or kwargs:
            raise template.TemplateSyntaxError(
                f"turbo_component got the component {source} and arguments too: give "
                f"either a component, or its class or name followed by its arguments."
            )
        return source
    component_class = _class_named(source, "turbo_component")
    if not (isinstance(component_class, type) and issubclass(component_class, Component)):
        shown = f"the stream {source!r}" if isinstance(component_class, type) else repr(source)
        raise template.TemplateSyntaxError(
            f"turbo_component takes a component, a component class or an "
            f"'app_label:ComponentName' string, not {shown}; subscribe to a stream "
            f"with {{% turbo_subscribe %}}."
        )
    # Without an __init__ of its own, a class takes no arguments (though
    # object.__init__'s signature reads as if it took any).
    no_init = component_class.__init__ is object.__init__
    signature = inspect.Signature() if no_init else component_class._meta.init_signature
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise template.TemplateSyntaxError(
            f"turbo_component: {component_class.stream_name()} takes the arguments "
            f"{_without_annotations(signature)} ({error})."
        ) from None
    args = [_unwrapped(arg) for arg in args]
    user = args[0] if args else kwargs.get("user")
    if issubclass(component_class, UserComponent) and is_anonymous(user):
        return None
    return component_class(*args, **kwargs)


def _without_annotations(signature: inspect.Signature) -> inspect.Signature:
    return signature.replace(
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=signature.empty,
    )


@register.simple_tag
def turbo_head(*, turbo: bool = True) -> SafeString:
    """The ``<script>`` tags of the bundled Turbo and of the client, for ``<head>``.

    ``{% turbo_head %}`` loads both; a page whose own bundle already imports
    ``@hotwired/turbo`` uses ``{% turbo_head turbo=False %}`` for the client only.
    """
    scripts = [TURBO_SCRIPT, CLIENT_SCRIPT] if turbo else [CLIENT_SCRIPT]
    return format_html_join(
        "\n", '<script type="module" src="{}"></script>', ((static(s),) for s in scripts)
    )


@register.simple_tag
def turbo_refreshes_with(*, method: str = "replace", scroll: str = "reset") -> SafeString:
    """The ``<meta>`` tags telling Turbo how this page applies refreshes, for ``<head>``.

    ``{% turbo_refreshes_with method="morph" scroll="preserve" %}`` morphs the
    page into its new version and keeps the scroll position, both when a
    stream broadcasts a refresh and when a form redirects back to the page.
    The defaults are Turbo's own.
    """
    check_refresh_options(method, scroll)
    return format_html_join(
        "\n",
        '<meta name="turbo-refresh-{}" content="{}">',
        (("method", method), ("scroll", scroll)),
    )


register.filter("dom_id", dom_id)
