"""Links and small lookups for the finance pages (money: the core's `money` library)."""

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.filter
def order_url(order_pk) -> str:
    """The order's page (/orders/<pk>/), by name when the orders app names it."""
    for name in ("orders:order_detail",):
        try:
            return reverse(name, args=[order_pk])
        except NoReverseMatch:
            continue
    return f"/orders/{order_pk}/"


@register.filter
def lookup(mapping, key):
    if not mapping:
        return None
    return mapping.get(key)
