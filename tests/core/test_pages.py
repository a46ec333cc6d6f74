"""The one choice between a page and one of its partials (reseller/core/pages.py), the address a
list's htmx answer puts in the address bar, and the polling attributes written by `{% poll %}`."""

import pathlib

import pytest
from django.conf import settings
from django.template import Context, Template
from django.test import RequestFactory
from django_htmx.middleware import HtmxDetails

from reseller.core.pages import POLL_SECONDS, Page, render_page

TEMPLATE = "testapp/list_page.html"  # tests/testapp/templates: partials "results" and "live"
CONTEXT = {"things": ["a", "b"], "live": "moving"}


def request(
    query: dict | None = None,
    *,
    target: str | None = None,
    trigger: str | None = None,
    htmx: bool = True,
):
    headers = {}
    if htmx:
        headers["HX-Request"] = "true"
    if target:
        headers["HX-Target"] = target
    if trigger:
        headers["HX-Trigger"] = trigger
    made = RequestFactory().get("/things/", query or {}, headers=headers)
    made.htmx = HtmxDetails(made)
    return made


def test_a_plain_request_gets_the_whole_page_and_keeps_its_address():
    response = render_page(
        request(htmx=False), TEMPLATE, CONTEXT, partials=["results"], push_url=True
    )
    text = response.content.decode()
    assert "<title>Things</title>" in text and '<section id="results">a, b</section>' in text
    assert "HX-Push-Url" not in response


def test_an_htmx_request_aimed_at_a_partial_gets_that_partial_alone():
    response = render_page(request(target="results"), TEMPLATE, CONTEXT, partials=["results"])
    assert response.content.decode() == '<section id="results">a, b</section>'
    assert "HX-Push-Url" not in response  # only a list asks for that


@pytest.mark.parametrize("target", [None, "body", "filters", "thing-live"])
def test_an_htmx_request_aimed_at_no_partial_of_the_page_gets_the_whole_page(target):
    page = Page(request(target=target), TEMPLATE, partials=["results"])
    assert page.partial is None
    assert "<title>Things</title>" in page.render(CONTEXT).content.decode()


@pytest.mark.parametrize("target", [None, "servers", "thing-live"])
def test_a_page_htmx_asks_for_one_part_only_answers_any_htmx_request_with_it(target):
    page = Page(request(target=target), TEMPLATE, htmx_partial="thing-live")
    assert page.partial == "thing-live"
    assert page.render(CONTEXT).content.decode() == '<div id="thing-live">moving</div>'
    assert Page(request(htmx=False), TEMPLATE, htmx_partial="thing-live").partial is None
    # A partial named by the target comes first.
    both = Page(
        request(target="results"), TEMPLATE, partials=["results"], htmx_partial="thing-live"
    )
    assert both.partial == "results"


def test_a_list_answering_htmx_puts_its_tidy_address_in_the_address_bar():
    query = {"q": "", "status": ["QUEUED", "FAILED"], "page": "2"}
    filtered = request(query, target="results", trigger="filters")
    response = render_page(filtered, TEMPLATE, CONTEXT, partials=["results"], push_url=True)
    assert response["HX-Push-Url"] == "/things/?status=QUEUED&status=FAILED&page=2"
    unfiltered = request({"q": ""}, target="results")
    response = render_page(unfiltered, TEMPLATE, CONTEXT, partials=["results"], push_url=True)
    assert response["HX-Push-Url"] == "/things/"
    # An htmx request for the whole page (another target) pushes it too.
    whole = render_page(
        request(target="body"), TEMPLATE, CONTEXT, partials=["results"], push_url=True
    )
    assert "<title>" in whole.content.decode() and whole["HX-Push-Url"] == "/things/"


def test_a_partial_polling_itself_leaves_the_address_as_it_is():
    poll = request({"status": "QUEUED"}, target="results", trigger="results")
    page = Page(poll, TEMPLATE, partials=["results"])
    response = page.render(CONTEXT, push_url=True)
    assert page.polls_itself and "HX-Push-Url" not in response
    assert response.content.decode() == '<section id="results">a, b</section>'


def test_the_status_is_the_views():
    response = render_page(request(htmx=False), TEMPLATE, CONTEXT, status=403)
    assert response.status_code == 403


# --- polling ----------------------------------------------------------------------------------


def render(source: str, **context) -> str:
    return Template("{% load polling %}" + source).render(Context(context))


def test_poll_writes_the_interval_of_its_purpose():
    assert render('{% poll url "progress" %}', url="/jobs/1/") == (
        'hx-get="/jobs/1/" hx-trigger="every 1s" hx-target="this" hx-swap="outerHTML"'
    )
    written = render(
        '{% poll url "list" query=query target="#run-body" indicator="#live" %}',
        url="/orders/",
        query="status=QUEUED&page=2",
    )
    assert written == (
        'hx-get="/orders/?status=QUEUED&amp;page=2" hx-trigger="every 3s" hx-target="#run-body"'
        ' hx-swap="outerHTML" hx-indicator="#live"'
    )


def test_the_intervals_are_todays_and_sentences_say_them():
    assert POLL_SECONDS == {
        "progress": 1, "reading": 1, "confirming": 2, "order": 2, "rows": 2, "list": 3,
        "balance": 3,
    }  # fmt: skip
    assert render('every {% poll_interval "progress" %}') == "every second"
    assert render('every {% poll_interval "list" %}') == "every 3 seconds"


def test_a_poll_may_cut_its_part_out_of_the_whole_page():
    html = render('<div {% poll "/finance/" "balance" query="refreshed=1" select="#card" %}>')
    assert 'hx-get="/finance/?refreshed=1" hx-trigger="every 3s"' in html
    assert 'hx-select="#card"' in html


def test_no_template_writes_a_polling_interval_of_its_own():
    templates = [
        path
        for path in pathlib.Path(settings.BASE_DIR).glob("**/templates/**/*.html")
        if ".venv" not in path.parts
    ]
    assert len(templates) > 40
    for path in templates:
        assert 'hx-trigger="every' not in path.read_text(), path


def test_no_view_decides_between_page_and_partial_by_itself():
    root = pathlib.Path(settings.BASE_DIR)
    apps = ["reseller", "suppliers", "catalog", "orders", "finance", "dashboard"]
    modules = [path for app in apps for path in (root / app).glob("**/*.py")]
    assert len(modules) > 50
    deciding = [
        path.relative_to(root)
        for path in modules
        if "request.htmx" in path.read_text() and path != root / "reseller" / "core" / "pages.py"
    ]
    assert deciding == []
