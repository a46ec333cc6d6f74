"""Pages that htmx makes quick: one template per page, with named partials (convention 10).

A view builds its context once and answers with the whole page or with the one partial htmx
asked for, decided here and nowhere else:

- ``partials`` are the parts htmx asks for by target: each is named after the element it
  replaces, whose id htmx sends as ``HX-Target``.
- ``htmx_partial`` is the part any other htmx request gets (a page that htmx only ever asks
  for one part of: an offer's server list, a job's progress).
- Everything else, a plain link or a form without JavaScript, gets the whole page.

A list's answer to htmx can also put the list's tidy address in the address bar (``push_url``),
so a filtered view can be shared and reloaded; a part that re-polls itself (its ``HX-Trigger`` is
its own target) leaves the address as it is, or every poll would add a history entry.

How often a part re-polls is said by purpose in ``POLL_SECONDS`` and written into the template by
``{% poll %}`` (reseller/core/templatetags/polling.py).
"""

from collections.abc import Iterable
from functools import cached_property

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.http import push_url as push_url_header
from django_htmx.middleware import HtmxDetails

from reseller.core.querystrings import without_empty

#: Seconds between two polls of a part that is still moving, by what the part shows.
POLL_SECONDS = {
    "progress": 1,  # a job's or a batch's progress bar: someone is watching it move
    "reading": 1,  # an uploaded file being read into its preview: someone is waiting for it
    "confirming": 2,  # a batch preview waiting for its orders to be created
    "order": 2,  # one order's status while it is in flight
    "rows": 2,  # a batch's order rows while any of them is in flight
    "list": 3,  # a page of the order list while an order on it moves (the heaviest read)
    "balance": 3,  # a balance while a fresh snapshot is being taken in the background
}


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware hands it on: with `htmx` (its details, falsy when
    htmx did not send it). For the type checker; views are given the request Django made."""

    htmx: HtmxDetails


class Page:
    """A page template and the partials of it that htmx asks for (see the module)."""

    def __init__(
        self,
        request: HtmxHttpRequest,
        template: str,
        *,
        partials: Iterable[str] = (),
        htmx_partial: str | None = None,
    ):
        if isinstance(partials, str):
            raise TypeError("partials is a collection of names, not one name")
        self.request = request
        self.template = template
        self.partials = frozenset(partials)
        self.htmx_partial = htmx_partial

    @cached_property
    def partial(self) -> str | None:
        """The partial this request asks for, or None for the whole page."""
        htmx = self.request.htmx
        if not htmx:
            return None
        return htmx.target if htmx.target in self.partials else self.htmx_partial

    @property
    def polls_itself(self) -> bool:
        """Whether this request is a part re-polling itself."""
        htmx = self.request.htmx
        return bool(htmx and htmx.trigger and htmx.trigger == htmx.target)

    def render(
        self, context: dict, *, status: int | None = None, push_url: bool = False
    ) -> HttpResponse:
        """The page, or the partial asked for, rendered with `context`; with `push_url`, an
        htmx answer (but a poll's) sets the address bar to the page's address without the
        query's empty values."""
        template = f"{self.template}#{self.partial}" if self.partial else self.template
        response = render(self.request, template, context, status=status)
        if push_url and self.request.htmx and not self.polls_itself:
            query = without_empty(self.request.GET)
            push_url_header(
                response, f"{self.request.path}?{query}" if query else self.request.path
            )
        return response


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict,
    *,
    partials: Iterable[str] = (),
    htmx_partial: str | None = None,
    status: int | None = None,
    push_url: bool = False,
) -> HttpResponse:
    """`Page(request, template, ...).render(context, ...)`, for a view that need not know
    beforehand which part it renders."""
    page = Page(request, template, partials=partials, htmx_partial=htmx_partial)
    return page.render(context, status=status, push_url=push_url)


def redirect_page(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Send the browser to another page: a redirect, or for htmx (which would otherwise swap the
    page it was sent to into the part it asked for) a whole-page visit (`HX-Redirect`)."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def current_page_path(request: HtmxHttpRequest) -> str:
    """The address of the page the person is on: for htmx, the page that sent the request (not
    the part's own address), otherwise the request's."""
    htmx = request.htmx
    if htmx and htmx.current_url_abs_path:
        return htmx.current_url_abs_path
    return request.get_full_path()
