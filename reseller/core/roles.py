"""The three staff roles and the permissions each one holds.

Roles are Django groups kept in step with the rules below after every `migrate`. Rules name whole
apps, so a permission a later app adds reaches the right role without touching this file; the
exceptions are listed by name.
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import Group, Permission


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    description: str
    # Every permission of these apps.
    full_apps: tuple[str, ...] = ()
    # Only the view_* permissions of these apps.
    read_apps: tuple[str, ...] = ()
    # Single permissions as "app_label.codename".
    extra: tuple[str, ...] = ()
    # Permissions of full_apps this role must not hold, as "app_label.codename".
    withheld: tuple[str, ...] = ()
    is_staff: bool = False
    all_permissions: bool = field(default=False)


#: Spend controls: approving an order or batch above the approval threshold (a second pair of
#: eyes, never the person who ordered) and setting the spending limits. Admins hold them; an admin
#: may give the approve permission to one other person on the Staff page ("May approve spending").
APPROVE_PERMISSION = "orders.approve_spend"
SPEND_LIMIT_PERMISSIONS = tuple(f"orders.{verb}_spendlimit" for verb in ("add", "change", "delete"))

#: Changing what the shop charges and sells: pricing rules, currency rates, products and their
#: routes. An admin holds them; an admin may also give them to one person on the Staff page
#: ("May change pricing").
PRICING_PERMISSIONS = tuple(
    f"catalog.{verb}_{model}"
    for model in ("pricingrule", "currencyrate", "product", "productroute")
    for verb in ("add", "change", "delete")
)

OPERATOR = Role(
    name="operator",
    label="Operator",
    description="Browses the catalog and places and follows orders.",
    full_apps=("catalog", "orders"),
    read_apps=("suppliers",),
    withheld=(
        # Operators hand keys to customers one at a time; exporting a whole batch of keys is for
        # admins.
        "orders.export_keys",
        # Retail prices and the rates behind them are set by an admin; operators read them.
        *PRICING_PERMISSIONS,
        # Ordering is not approving: the second pair of eyes, and the limits, are an admin's.
        APPROVE_PERMISSION,
        *SPEND_LIMIT_PERMISSIONS,
        # The day's counters are written only by ordering.
        "orders.add_spendusage",
        "orders.change_spendusage",
        "orders.delete_spendusage",
        # Gift sales made outside the order pages are recorded by finance or an admin.
        "orders.add_giftreport",
    ),
)
FINANCE = Role(
    name="finance",
    label="Finance",
    description="Watches balances, syncs the supplier ledger and reconciles it against orders.",
    full_apps=("finance",),
    read_apps=("orders", "catalog", "suppliers"),
    # Records the gift sales made outside the order pages, for Telegram.
    extra=("orders.add_giftreport",),
)
ADMIN = Role(
    name="admin",
    label="Admin",
    description="Manages supplier accounts and staff; may do everything.",
    all_permissions=True,
    is_staff=True,
)

ROLES: dict[str, Role] = {role.name: role for role in (OPERATOR, FINANCE, ADMIN)}


def permissions_for(role: Role, *, using: str = "default"):
    perms = Permission.objects.using(using).select_related("content_type")
    if role.all_permissions:
        return list(perms)
    chosen = []
    for perm in perms:
        app, codename = perm.content_type.app_label, perm.codename
        key = f"{app}.{codename}"
        if key in role.withheld:
            continue
        if (
            app in role.full_apps
            or (app in role.read_apps and codename.startswith("view_"))
            or key in role.extra
        ):
            chosen.append(perm)
    return chosen


def sync_role_groups(*, using: str = "default") -> None:
    for role in ROLES.values():
        group, _ = Group.objects.using(using).get_or_create(name=role.name)
        group.permissions.set(permissions_for(role, using=using))


def role_of(user) -> Role | None:
    """The user's role (users hold one), or None for a user outside the three roles."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    for role in (ADMIN, FINANCE, OPERATOR):
        if role.name in names:
            return role
    return None


def pricing_permissions(*, using: str = "default"):
    apps_codenames = [name.split(".", 1) for name in PRICING_PERMISSIONS]
    return Permission.objects.using(using).filter(
        content_type__app_label="catalog", codename__in=[codename for _, codename in apps_codenames]
    )


def pricing_granted(user) -> bool:
    """Whether the user was given the pricing permissions beyond the role's own."""
    return user.user_permissions.filter(pk__in=pricing_permissions().values("pk")).count() == len(
        PRICING_PERMISSIONS
    )


def approve_permission(*, using: str = "default"):
    app, codename = APPROVE_PERMISSION.split(".", 1)
    return Permission.objects.using(using).filter(content_type__app_label=app, codename=codename)


def approve_granted(user) -> bool:
    """Whether the user was given the approve permission beyond the role's own."""
    return user.user_permissions.filter(pk__in=approve_permission().values("pk")).exists()
