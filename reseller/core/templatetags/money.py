from django import template

from reseller.core.money import money_text

register = template.Library()


@register.filter
def money(value) -> str:
    """An amount as every page writes money (reseller.core.money)."""
    return money_text(value)
