"""`{% poll %}`: the htmx attributes of a part that asks for itself again while it moves, at the
interval its purpose has in reseller.core.pages.POLL_SECONDS (the one place they are set)."""

from django import template
from django.utils.html import format_html

from reseller.core.pages import POLL_SECONDS

register = template.Library()


@register.simple_tag
def poll(
    url: str,
    purpose: str,
    *,
    query: str = "",
    target: str = "this",
    indicator: str = "",
    select: str = "",
) -> str:
    """`hx-get` of `url` (with `query`, if any) every so often (by `purpose`), its answer (or
    the element `select` of it) replacing `target` (the polling element itself unless told
    otherwise). Write it inside the
    element's tag, under the condition that the part is still moving: a part that has stopped
    moving is drawn without it, and so stops polling."""
    attributes = format_html(
        'hx-get="{}" hx-trigger="every {}s" hx-target="{}" hx-swap="outerHTML"',
        f"{url}?{query}" if query else url,
        POLL_SECONDS[purpose],
        target,
    )
    if indicator:
        attributes += format_html(' hx-indicator="{}"', indicator)
    if select:
        # The part is cut out of the whole page the URL answers with.
        attributes += format_html(' hx-select="{}"', select)
    return attributes


@register.simple_tag
def poll_interval(purpose: str) -> str:
    """The interval of `purpose` for a sentence: "second" or "3 seconds" (after "every")."""
    seconds = POLL_SECONDS[purpose]
    return "second" if seconds == 1 else f"{seconds} seconds"
