"""Writes of the core app: audit events, staff accounts and passwords."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from reseller.core.errors import ApplicationError
from reseller.core.models import AuditEvent, HandedOverPassword, Heartbeat
from reseller.core.roles import (
    ADMIN,
    ROLES,
    approve_granted,
    approve_permission,
    pricing_granted,
    pricing_permissions,
)

User = get_user_model()


def client_address(request) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    # Behind a proxy, REMOTE_ADDR is the proxy; production settings tell axes how many hops to
    # trust, and we record the same address axes throttles on.
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None, request.META.get("HTTP_USER_AGENT", "")[:300]


def audit_record(
    *,
    action: str,
    actor=None,
    request=None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Record one audit event. `data` must never hold a secret (a token, a key, a password)."""
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    ip_address, user_agent = client_address(request)
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=getattr(actor, "username", "") or "",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        ip_address=ip_address,
        user_agent=user_agent,
        data=data or {},
    )


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def _set_role(user, role_name: str) -> None:
    if role_name not in ROLES:
        raise ApplicationError(f"Unknown role {role_name!r}.")
    role = ROLES[role_name]
    user.groups.set([Group.objects.get(name=role_name)])
    user.is_staff = role.is_staff
    user.save(update_fields=["is_staff"])


@transaction.atomic
def staff_create(
    *, username: str, email: str, role: str, by=None, request=None, handed_over: bool = True
) -> tuple[AbstractUser, str]:
    """Create a staff user with a random password, returned once to be handed over; the person
    replaces it at their first sign-in (unless `handed_over` is False: `make run`'s demo users)."""
    if User.objects.filter(username__iexact=username).exists():
        raise ApplicationError(f"A user named {username!r} already exists.")
    password = generate_password()
    user = User.objects.create_user(username=username, email=email, password=password)
    _set_role(user, role)
    if handed_over:
        HandedOverPassword.objects.create(user=user)
    audit_record(
        action="staff.created", actor=by, request=request, target=user, data={"role": role}
    )
    return user, password


@transaction.atomic
def staff_update(
    *,
    user,
    role: str,
    is_active: bool,
    may_change_pricing: bool = False,
    may_approve_spending: bool = False,
    by=None,
    request=None,
) -> None:
    """Set a person's role and access. `may_change_pricing` gives someone who is not an admin
    the named permissions to change pricing rules and currency rates; `may_approve_spending` the
    permission to approve orders and batches above the approval threshold (never their own)."""
    if by is not None and user.pk == by.pk and (not is_active or role != "admin"):
        raise ApplicationError("You cannot demote or deactivate your own account.")
    # Here, not at the top: these modules record their events through this one.
    from reseller.core.sessions import sessions_end
    from reseller.core.two_factor import has_second_factor, second_factor_required

    before = {
        "role": getattr(user.groups.first(), "name", ""),
        "is_active": user.is_active,
        "may_change_pricing": pricing_granted(user),
        "may_approve_spending": approve_granted(user),
    }
    _set_role(user, role)
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    granted = may_change_pricing and role != ADMIN.name  # an admin holds them by the role
    if granted:
        user.user_permissions.add(*pricing_permissions())
    else:
        user.user_permissions.remove(*pricing_permissions())
    approver = may_approve_spending and role != ADMIN.name  # an admin approves by the role
    if approver:
        user.user_permissions.add(*approve_permission())
    else:
        user.user_permissions.remove(*approve_permission())
    after = {
        "role": role,
        "is_active": is_active,
        "may_change_pricing": granted,
        "may_approve_spending": approver,
    }
    audit_record(
        action="staff.updated",
        actor=by,
        request=request,
        target=user,
        data={"before": before, "after": after},
    )
    if before["is_active"] and not is_active:
        sessions_end(user=user, reason="deactivated", by=by, request=request)
    elif second_factor_required(user) and not has_second_factor(user):
        # Moved into a role that must have a second factor: they enrol at their next sign-in
        # rather than go on with the new role on a password alone.
        sessions_end(user=user, reason="role requires a second factor", by=by, request=request)


@transaction.atomic
def staff_reset_password(*, user, by=None, request=None) -> str:
    """A new random password, returned once to be handed over; the person replaces it at their
    next sign-in. Their sessions end (Django's session check follows the password)."""
    password = generate_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    HandedOverPassword.objects.update_or_create(user=user)
    audit_record(action="staff.password_reset", actor=by, request=request, target=user)
    return password


@transaction.atomic
def password_change(*, user, password: str, request=None) -> None:
    """The person sets their own password (already checked by Django's validators); a handed-over
    one no longer needs replacing."""
    user.set_password(password)
    user.save(update_fields=["password"])
    HandedOverPassword.objects.filter(user=user).delete()
    audit_record(action="auth.password_changed", actor=user, request=request, target=user)


def heartbeat_record(*, name: str, worker: str) -> Heartbeat:
    beat, _ = Heartbeat.objects.update_or_create(
        name=name, defaults={"beat_at": timezone.now(), "worker": worker[:200]}
    )
    return beat
