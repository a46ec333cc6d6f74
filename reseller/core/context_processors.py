"""What every page's layout needs: the navigation the user may follow, and their role."""

from django.urls import reverse

from reseller.core.roles import role_of

# (label, url name, permission needed or None for any signed-in user). Later apps add their pages here.
NAVIGATION = [
    ("Dashboard", "dashboard", None),
    ("Catalog", "catalog_browse", "catalog.view_offer"),
    ("Pricing", "pricing", "catalog.view_pricingrule"),
    ("Suppliers", "supplier_list", "suppliers.view_supplieraccount"),
    ("Staff", "staff_list", "auth.change_user"),
    ("Audit log", "audit_list", "core.view_auditevent"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    path = request.path
    items = []
    for label, url_name, permission in NAVIGATION:
        if permission is None or user.has_perm(permission):
            url = reverse(url_name)
            active = path == url if url == "/" else path.startswith(url)
            items.append({"label": label, "url": url, "active": active})
    return {"nav_items": items, "user_role": role_of(user)}
