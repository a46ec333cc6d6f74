from django import template

from reseller.core.audit import action_label

register = template.Library()


@register.filter
def audit_action(code: str) -> str:
    """An audit event's action code in words ("staff.updated" → "Staff member changed")."""
    return action_label(code)
