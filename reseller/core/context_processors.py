"""What every page's layout needs: the navigation the user may follow, and their role."""

from typing import Any

from django.urls import reverse

from reseller.core.roles import role_of

# (label, url name, permission needed or None for any signed-in user). Later apps add their pages here.
NAVIGATION = [
    ("Dashboard", "dashboard:dashboard", None),
    ("Catalog", "catalog:catalog_browse", "catalog.view_offer"),
    ("Pricing", "catalog:pricing", "catalog.view_pricingrule"),
    ("Products", "catalog:product_list", "catalog.view_product"),
    ("Orders", "orders:order_list", "orders.view_order"),
    ("Batches", "orders:batch_list", "orders.view_batch"),
    ("Spending", "orders:spend_limits", "orders.view_spendlimit"),
    ("Telegram reports", "orders:gift_report_list", "orders.view_giftreport"),
    ("Finance", "finance:finance_overview", "finance.view_balancesnapshot"),
    ("Suppliers", "suppliers:supplier_list", "suppliers.view_supplieraccount"),
    ("Staff", "core:staff_list", "auth.change_user"),
    ("Audit log", "core:audit_list", "core.view_auditevent"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    path = request.path
    items: list[dict[str, Any]] = []
    for label, url_name, permission in NAVIGATION:
        if permission is None or user.has_perm(permission):
            items.append({"label": label, "url": reverse(url_name), "active": False})
    # The page belongs to the link whose address is the longest prefix of its own
    # (/orders/batches/3/ is under Batches, not Orders).
    matches = [
        item
        for item in items
        if path == item["url"] or (item["url"] != "/" and path.startswith(item["url"]))
    ]
    if matches:
        max(matches, key=lambda item: len(item["url"]))["active"] = True
    return {"nav_items": items, "user_role": role_of(user)}
