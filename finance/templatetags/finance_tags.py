"""Money, links and small lookups for the finance pages."""

from decimal import Decimal, InvalidOperation

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.filter
def usd(value, places: int = 2) -> str:
    """1234.5 -> "1,234.50"; None or "" -> "—". Negative amounts keep their sign."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{number:,.{int(places)}f}"


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
