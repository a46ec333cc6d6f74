"""The base layout's `alerts` banner: open low-balance alerts, for staff who may see finance."""

from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from finance.selectors import open_alerts as query


def alerts(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("finance.view_balancealert"):
        return {}

    def open_alerts() -> list[dict]:
        overview = reverse("finance:finance_overview")
        return [
            {
                "level": alert.level,
                "text": alert.message,
                "url": f"{overview}?account={alert.account_id}",
            }
            for alert in query()
        ]

    # Evaluated only when a template shows it (htmx partials never do).
    return {"alerts": SimpleLazyObject(open_alerts)}
