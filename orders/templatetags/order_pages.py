"""Template filters of the order pages."""

from django import template

from reseller.core.money import money_text

register = template.Library()


@register.filter
def money(value) -> str:
    """A stored price as every page writes money (reseller.core.money)."""
    return money_text(value)
