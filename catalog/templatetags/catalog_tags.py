from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_link(context, key: str, label: str):
    """A column heading that sorts by `key` (a second click reverses), keeping the filters."""
    current = context.get("sort", "")
    descending = current == key
    target = f"-{key}" if descending else key
    arrow = " ▲" if current == key else " ▼" if current == f"-{key}" else ""
    base = context.get("sort_query", "")
    href = f"?{base}&sort={target}" if base else f"?sort={target}"
    return format_html(
        '<a href="{}" hx-get="{}" hx-target="#results" hx-swap="outerHTML" hx-push-url="true">{}{}</a>',
        href,
        href,
        label,
        arrow,
    )
