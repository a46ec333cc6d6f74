"""The dashboard: what needs a person's attention now, in each app the user may see."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from finance.selectors import dashboard_finance, finance_accounts
from finance.services import balance_snapshot_request
from orders.selectors import (
    account_queues_on_hold,
    orders_dashboard_counts,
    spend_approvals_waiting,
)
from orders.states import ORDER_AGAIN_STATUSES
from reseller.core import selectors


@require_GET
def dashboard(request):
    context: dict[str, object] = {"worker": selectors.worker_status()}
    if request.user.has_perm("orders.view_order"):
        context["order_counts"] = orders_dashboard_counts()
        context["not_served_statuses"] = sorted(ORDER_AGAIN_STATUSES)
        context["held_queues"] = list(account_queues_on_hold())
    if request.user.has_perm("orders.approve_spend"):
        context["approvals_waiting"] = list(spend_approvals_waiting()[:20])
    if request.user.has_perm("finance.view_balancesnapshot"):
        # An old balance is refreshed in the background (the page does not wait for it).
        for account in finance_accounts():
            balance_snapshot_request(account=account)
        context["finance_accounts"] = dashboard_finance()
    if request.user.has_perm("core.view_auditevent"):
        context["recent_events"] = selectors.audit_event_list()[:8]
    return render(request, "dashboard/dashboard.html", context)
