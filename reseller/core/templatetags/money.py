from django import template

from reseller.core.money import money_text, usd_text

register = template.Library()


@register.filter
def money(value) -> str:
    """An amount as every page writes money (reseller.core.money)."""
    return money_text(value)


@register.filter
def usd(value, places: int = 2) -> str:
    """A USD figure as every page writes one: "1,234.50", "—" for none (reseller.core.money)."""
    return usd_text(value, places)
