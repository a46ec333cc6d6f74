"""Template filters of the order pages."""

from decimal import Decimal, InvalidOperation

from django import template

from orders.services import money as money_text

register = template.Library()


@register.filter
def money(value) -> str:
    """A stored price as the supplier wrote it: 14.1800 → 14.18, 0.0125 stays 0.0125."""
    if value is None or value == "":
        return ""
    try:
        return str(money_text(Decimal(str(value))))
    except InvalidOperation:
        return str(value)
