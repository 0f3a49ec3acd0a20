"""Live components: rendered in place by ``{% turbo_component %}``, updated everywhere."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.template import Context, RequestContext, Template, TemplateSyntaxError
from django.test import RequestFactory, override_settings
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string
from playwright.async_api import expect

import turbo
from tests.conftest import layer_config, new_page
from tests.live import manage
from tests.testapp.streams import InboxCount, LobbyStream, ProgressComponent, TickerComponent
from turbo import signing
from turbo.components import BroadcastComponent, UserBroadcastComponent
from turbo.later import framework
from turbo.templatetags.turbo_streams import ELEMENT
from turbo.testing import capture_broadcasts

if TYPE_CHECKING:
    from tests.live import ServerProcess


def render(source: str, context: Context | None = None, **values: object) -> str:
    template = Template("{% load turbo_streams %}" + source)
    return template.render(context if context is not None else Context(values))


def update_markup(component: turbo.Component, content: str) -> str:
    return (
        f'<turbo-stream action="update" target="{component.dom_id}">'
        f"<template>{content}</template></turbo-stream>"
    )


def test_the_tag_renders_the_content_in_its_element_after_a_subscription_to_it():
    ticker = TickerComponent()

    html = render('{% turbo_component "testapp:TickerComponent" %}')

    [token] = re.findall(
        rf'<{ELEMENT} url="[^"]+" stream="{ticker.group}" token="([^"]+)"[^>]*>', html
    )
    assert signing.loads(token) == ticker
    assert html.endswith(f'<div id="{ticker.dom_id}"><b>ticker</b> 0\n</div>')
    assert html.index(ELEMENT) < html.index(ticker.dom_id)


def test_the_tag_takes_a_class_or_a_component_and_passes_arguments_on():
    by_name = render('{% turbo_component "testapp:ProgressComponent" 7 %}')
    by_keyword = render('{% turbo_component "testapp:ProgressComponent" job_id=7 %}')
    by_class = render("{% turbo_component cls 7 %}", cls=ProgressComponent)
    built = render("{% turbo_component job %}", job=ProgressComponent(7))

    element = f'<span id="{ProgressComponent(7).dom_id}">job 7: 0%\n</span>'
    for html in (by_name, by_keyword, by_class, built):
        assert html.endswith(element)


def test_components_of_one_class_have_stable_ids_distinct_by_their_arguments():
    first, again, second = ProgressComponent(1), ProgressComponent(job_id=1), ProgressComponent(2)

    assert first.dom_id == again.dom_id
    assert first.dom_id != second.dom_id
    assert re.fullmatch(r"testapp-progresscomponent-[0-9a-f]{16}", first.dom_id)
    html = render("{% turbo_component a %}{% turbo_component b %}", a=first, b=second)
    assert html.count(f'id="{first.dom_id}"') == html.count(f'id="{second.dom_id}"') == 1


@override_settings(
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
        }
    ]
)
def test_the_page_renders_with_its_request_and_a_broadcast_without():
    request = RequestFactory().get("/dashboard/")

    html = render('{% turbo_component "testapp:TickerComponent" %}', RequestContext(request))
    with capture_broadcasts() as broadcasts:
        TickerComponent().update(value=1)

    assert "<b>ticker</b> 0 at /dashboard/" in html
    assert broadcasts[0].fragments[0].content == "<b>ticker</b> 1\n"


@pytest.mark.parametrize(
    ("call", "content"),
    [
        (lambda job: job.update(percent=40), "job 3: 40%\n"),
        (lambda job: job.update({"percent": 40}), "job 3: 40%\n"),
        (lambda job: job.update({"percent": 40}, job=9), "job 9: 40%\n"),
        (lambda job: job.update(), "job 3: 0%\n"),
        (lambda job: job.render(percent=40), "job 3: 40%\n"),
        (lambda job: job.render({"percent": 40}), "job 3: 40%\n"),
    ],
)
def test_update_renders_get_context_with_the_given_context_for_every_subscriber(
    channel_layer, subscribe, call, content
):
    job = ProgressComponent(3)
    pages = [subscribe(job), subscribe(ProgressComponent(3))]
    other_job = subscribe(ProgressComponent(4))

    call(job)

    for page in pages:
        assert page.receive_html() == update_markup(job, content)
    other_job.assert_nothing_received()


def test_update_takes_keywords_or_one_dict():
    with pytest.raises(TypeError, match=r"update\(count=3\) or update\(\{'count': 3\}\)"):
        ProgressComponent(3).update("percent")


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_an_update_is_sent_once_it_commits_and_never_after_a_rollback(
    subscribe,
):
    page = subscribe(TickerComponent())

    with transaction.atomic():
        TickerComponent().update(value=1)
        page.assert_nothing_received()
    assert page.receive_html() == update_markup(TickerComponent(), "<b>ticker</b> 1\n")

    with pytest.raises(RuntimeError, match="rolled back"), transaction.atomic():
        TickerComponent().update(value=2)
        raise RuntimeError("rolled back")
    page.assert_nothing_received()


async def test_aupdate_is_the_async_twin():
    with capture_broadcasts() as broadcasts:
        await ProgressComponent(3).aupdate(percent=70)

    [broadcast] = broadcasts
    assert broadcast.group == ProgressComponent(3).group
    assert broadcast.html == update_markup(ProgressComponent(3), "job 3: 70%\n")


async def test_the_sync_update_from_async_code_names_the_async_twin():
    with pytest.raises(RuntimeError, match=r"await stream\.aupdate"):
        ProgressComponent(3).update(percent=70)


def test_update_later_renders_in_a_task():
    with capture_broadcasts() as broadcasts:
        ProgressComponent(3).update_later(percent=90)

    [broadcast] = broadcasts
    assert broadcast.html == update_markup(ProgressComponent(3), "job 3: 90%\n")


@pytest.mark.django_db
def test_update_later_of_a_user_component_travels_as_json_to_the_worker(
    django_capture_on_commit_callbacks,
):
    ada = User.objects.create_user("ada")
    dummy = f"{framework().__name__}.backends.dummy.DummyBackend"
    with override_settings(TASKS={"default": {"BACKEND": dummy}}):
        queue = framework().task_backends["default"]
        with django_capture_on_commit_callbacks(execute=True):  # enqueued on commit
            InboxCount(ada).update_later(count=2)
    [result] = queue.results

    assert result.args[:4] == ["testapp:InboxCount", [], {"user": ada.pk}, "update"]
    task = import_string(result.task.module_path)
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        task.call(*json.loads(json.dumps(result.args)))
    assert broadcasts[0].html == update_markup(InboxCount(ada), "ada: 2 unread\n")


# Per-user components.


@pytest.mark.django_db
def test_a_user_component_is_one_per_user_built_from_the_user_or_its_key():
    ada = User.objects.create_user("ada")
    bob = User.objects.create_user("bob")

    assert InboxCount(ada) == InboxCount(ada.pk) == InboxCount(user=ada.pk)
    assert InboxCount(ada) != InboxCount(bob)
    assert InboxCount(ada).identity() == ([], {"user": ada.pk})
    assert InboxCount(ada.pk).user == ada
    assert InboxCount(ada).user is ada


@pytest.mark.django_db
def test_only_its_own_user_may_subscribe_to_a_user_component():
    ada = User.objects.create_user("ada")
    bob = User.objects.create_user("bob")
    rebuilt = signing.loads(signing.dumps(InboxCount(ada)))

    assert rebuilt.user_passes_test(ada)
    assert not rebuilt.user_passes_test(bob)
    assert not rebuilt.user_passes_test(AnonymousUser())


def test_a_user_component_refuses_an_anonymous_user():
    for nobody in (AnonymousUser(), None):
        with pytest.raises(ValueError, match="build it with a signed-in user or a user's primary"):
            InboxCount(nobody)
    for unsaved in (User(username="unsaved"), ""):
        with pytest.raises(ValueError, match="saved user"):
            InboxCount(unsaved)


def test_for_an_anonymous_visitor_the_tag_renders_no_user_component():
    visitor = SimpleLazyObject(AnonymousUser)

    assert render('{% turbo_component "testapp:InboxCount" user %}', user=visitor) == ""
    assert render('{% turbo_component "testapp:InboxCount" user=None %}') == ""


def test_a_uuid_key_is_the_identity_a_token_carries():
    key = uuid.uuid4()

    assert InboxCount(key) == InboxCount(str(key))
    assert InboxCount(key).user_pk == str(key)


@pytest.mark.django_db
def test_the_tag_renders_the_users_own_component(
    channel_layer, subscribe, django_capture_on_commit_callbacks
):
    ada = User.objects.create_user("ada")
    page = subscribe(InboxCount(ada.pk))

    # As request.user is: a lazy object.
    html = render(
        '{% turbo_component "testapp:InboxCount" user %}', user=SimpleLazyObject(lambda: ada)
    )
    with django_capture_on_commit_callbacks(execute=True):
        InboxCount(ada).update(count=4)

    assert html.endswith(f'<div id="{InboxCount(ada).dom_id}">ada: 0 unread\n</div>')
    assert page.receive_html() == update_markup(InboxCount(ada), "ada: 4 unread\n")


# Errors.


def test_a_component_without_a_template_is_refused_where_it_is_declared():
    with pytest.raises(TypeError, match=r"Badge has no template_name: set one, e\.g\."):

        class Badge(turbo.Component):
            class Meta:
                app_label = "testapp"

    class AbstractBadge(turbo.Component):
        class Meta:
            abstract = True


@pytest.mark.parametrize(
    ("source", "values", "message"),
    [
        ('"testapp:Nope"', {}, r"No stream named 'testapp:Nope'; registered streams: .*"),
        ('"testapp:LobbyStream"', {}, r"not the stream 'testapp:LobbyStream'.*turbo_subscribe"),
        ("lobby", {"lobby": LobbyStream}, r"not <LobbyStream testapp:LobbyStream\(\)>"),
        ("missing", {}, r"got an empty value: is a context variable missing\?"),
        ('"testapp:TickerComponent" 1', {}, r"TickerComponent takes the arguments \(\)"),
        ('"testapp:ProgressComponent"', {}, r"ProgressComponent takes the arguments \(job_id\)"),
        ('"testapp:InboxCount" 1 2', {}, r"InboxCount takes the arguments \(user\)"),
        (
            "job 1",
            {"job": ProgressComponent(1)},
            r"component testapp:ProgressComponent\(job_id=1\)",
        ),
    ],
)
def test_the_tag_says_what_is_wrong(source, values, message):
    with pytest.raises(TemplateSyntaxError, match=message):
        render(f"{{% turbo_component {source} %}}", **values)


# turbo-django's names, as its users write them.


def test_turbo_djangos_components_work_as_written(register_late, subscribe):
    class AlertBroadcastComponent(BroadcastComponent):
        template_name = "components/ticker.html"

        class Meta:
            app_label = "testapp"

    class CartCountComponent(UserBroadcastComponent):
        template_name = "components/progress.html"

        class Meta:
            app_label = "testapp"

        def get_context(self):
            return {"job": "cart", "percent": 99}

    register_late(AlertBroadcastComponent)
    register_late(CartCountComponent)
    alert, cart = subscribe(AlertBroadcastComponent()), subscribe(CartCountComponent(5))

    AlertBroadcastComponent().render(label="warning", value="hi")
    CartCountComponent(5).render(percent=25)

    assert BroadcastComponent is turbo.Component
    assert UserBroadcastComponent is turbo.UserComponent
    assert "<b>warning</b> hi" in alert.receive_html()
    assert "job cart: 25%" in cart.receive_html()
    html = render(
        '{% turbo_component "testapp:AlertBroadcastComponent" %}'
        '{% turbo_component "testapp:CartCountComponent" 5 %}'
    )
    assert "<b></b> " in html  # no get_context(): the template's variables are empty
    assert "job cart: 99%" in html


# In a real browser: daphne serves the pages, another process updates.

ALL_CONNECTED = f"""() => {{
  const elements = document.querySelectorAll("{ELEMENT}");
  return elements.length > 0 && [...elements].every((e) => e.hasAttribute("connected"));
}}"""


async def components_page(browser: Any, server: ServerProcess, username: str) -> Any:
    """A window of its own, logged in as ``username``, on the page of components."""
    page = await new_page(browser)
    response = await page.request.post(server.origin + "/log-in/", form={"username": username})
    assert response.status == 204
    await page.goto(server.origin + "/components/")
    await page.wait_for_function(ALL_CONNECTED)
    return page


@pytest.mark.django_db(transaction=True)
async def test_an_update_from_another_process_reaches_every_page_and_a_users_only_theirs(
    chromium, servers
):
    layer = layer_config("redis-pubsub")
    server = await asyncio.to_thread(servers, layer)
    ada = await User.objects.acreate(username="ada")
    await User.objects.acreate(username="bob")
    ada_pages = [await components_page(chromium, server, "ada") for _ in range(2)]
    bob_page = await components_page(chromium, server, "bob")
    ticker, ada_inbox = TickerComponent(), InboxCount(ada.pk)
    job_1, job_2 = ProgressComponent(1), ProgressComponent(2)

    await asyncio.to_thread(
        manage,
        layer,
        "shell",
        "-c",
        "from tests.testapp.streams import InboxCount, ProgressComponent, TickerComponent; "
        f"TickerComponent().update(value=5); InboxCount({ada.pk}).update(count=3); "
        "ProgressComponent(2).update(percent=50)",
    )

    for page in [*ada_pages, bob_page]:
        await expect(page.locator(f"#{ticker.dom_id}")).to_have_text("ticker 5")
        await expect(page.locator(f"#{job_2.dom_id}")).to_have_text("job 2: 50%")
        await expect(page.locator(f"#{job_1.dom_id}")).to_have_text("job 1: 0%")
    for page in ada_pages:
        await expect(page.locator(f"#{ada_inbox.dom_id}")).to_have_text("ada: 3 unread")
    # Bob's page shows his own count, which nothing updated.
    bob_inbox = bob_page.locator("nav > div")
    await expect(bob_inbox).to_have_text("bob: 0 unread")
    assert await bob_inbox.get_attribute("id") != ada_inbox.dom_id

    # Ada's token, replayed in Bob's page: genuine, but not his.
    token = (
        await ada_pages[0].locator(f"{ELEMENT}[stream='{ada_inbox.group}']").get_attribute("token")
    )
    reason = await bob_page.evaluate(
        """([tag, stream, token]) => new Promise((resolve) => {
          document.addEventListener("turbo-channels:rejected", (e) => resolve(e.detail.reason));
          const element = document.createElement(tag);
          element.setAttribute("url", "/ws/turbo/");
          element.setAttribute("stream", stream);
          element.setAttribute("token", token);
          new MutationObserver(() => element.hasAttribute("connected") && resolve("subscribed"))
            .observe(element, {attributes: true});
          document.body.append(element);
        })""",
        [ELEMENT, ada_inbox.group, token],
    )
    assert reason == "forbidden"
