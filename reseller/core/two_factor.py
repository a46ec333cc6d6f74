"""The second factor: an authenticator app and one-time recovery codes (devices of django-otp,
models.AuthenticatorApp and models.RecoveryCodes), their enrolment, checking a code, and their
removal.

Every enrolment, removal, reset and use of a recovery code is an audit event; a wrong code counts
as a failed sign-in for the sign-in lockout (django-axes, through Django's `user_login_failed`).
The secret and the recovery codes are shown to their owner once, at enrolment, and to no one else;
the secret is stored encrypted, the recovery codes only as digests.
"""

from base64 import b32encode
from dataclasses import dataclass

import segno
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db import transaction

from reseller.core.errors import ApplicationError
from reseller.core.models import (
    AuthenticatorApp,
    RecoveryCode,
    RecoveryCodes,
    recovery_code_digest,
    recovery_code_new,
)
from reseller.core.roles import role_of
from reseller.core.services import audit_record
from reseller.core.sessions import sessions_end

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
# What a refused code is told: the same words whether the code was wrong or came too soon after
# a wrong one (django-otp waits 1, 2, 4 ... seconds between tries of one device).
WRONG_CODE = "That code is not right. Check your authenticator app and try again."


class SecondFactorError(ApplicationError):
    """A second-factor step was refused (a wrong code, a factor one may not remove)."""


def second_factor_required(user) -> bool:
    """Whether the user's role must sign in with a second factor (TWO_FACTOR_REQUIRED_ROLES)."""
    role = role_of(user)
    return role is not None and role.name in settings.TWO_FACTOR_REQUIRED_ROLES


def authenticator_of(user) -> AuthenticatorApp | None:
    """The user's confirmed authenticator app, or None when they have not enrolled."""
    return AuthenticatorApp.objects.filter(user=user, confirmed=True).first()


def has_second_factor(user) -> bool:
    return AuthenticatorApp.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(device__user=user, device__confirmed=True).count()


@dataclass(frozen=True)
class Enrolment:
    """What a person needs to add the back-office to their authenticator app."""

    device: AuthenticatorApp
    qr_data_uri: str  # an SVG image as a data: URI (the page's policy allows no inline style)
    secret: str  # the same secret written out, in groups of four, for typing in by hand


def enrolment_start(*, user) -> Enrolment:
    """The enrolment in progress for `user`: a new, unconfirmed authenticator device, or the one
    already started (so reloading the page keeps the same QR code)."""
    device = AuthenticatorApp.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = AuthenticatorApp.objects.create(
            user=user, name=AUTHENTICATOR_NAME, confirmed=False
        )
    secret = b32encode(device.bin_key).decode()
    return Enrolment(
        device=device,
        qr_data_uri=segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    )


@transaction.atomic
def enrolment_confirm(*, user, code: str, request=None) -> list[str]:
    """Confirm the enrolment in progress with a code from the app; the new device replaces any
    earlier one, and a fresh set of recovery codes is returned, to be shown this once."""
    device = (
        AuthenticatorApp.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("-id")
        .first()
    )
    if device is None:
        raise SecondFactorError("This enrolment has expired. Scan the new QR code and try again.")
    if not device.verify_token(_digits(code)):
        raise SecondFactorError(WRONG_CODE)
    replaced = AuthenticatorApp.objects.filter(user=user).exclude(pk=device.pk).delete()[0] > 0
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _recovery_codes_issue(user)
    audit_record(
        action="two_factor.enrolled",
        actor=user,
        request=request,
        target=user,
        data={"replaced_earlier_app": replaced},
    )
    return codes


@transaction.atomic
def recovery_codes_renew(*, user, request=None) -> list[str]:
    """A new set of recovery codes for an enrolled user; the old set stops working."""
    if not has_second_factor(user):
        raise SecondFactorError("Set up an authenticator app first.")
    codes = _recovery_codes_issue(user)
    audit_record(action="two_factor.recovery_codes_renewed", actor=user, request=request)
    return codes


def _recovery_codes_issue(user) -> list[str]:
    RecoveryCodes.objects.filter(user=user).delete()
    device = RecoveryCodes.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [recovery_code_new() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, digest=recovery_code_digest(code)) for code in codes
    )
    return codes


def code_verify(*, user, code: str, request) -> bool:
    """Whether `code` is the current code of the user's authenticator app or one of their unused
    recovery codes (which it then uses up). A refused code counts as a failed sign-in."""
    if _code_matches(user, code, request):
        return True
    user_login_failed.send(
        sender=__name__,
        credentials={"username": user.get_username(), "step": "second factor"},
        request=request,
    )
    return False


def _code_matches(user, code: str, request) -> bool:
    with transaction.atomic():
        authenticator = (
            AuthenticatorApp.objects.select_for_update().filter(user=user, confirmed=True).first()
        )
        digits = _digits(code)
        if authenticator is not None and digits.isdigit():
            if authenticator.verify_token(digits):
                return True
        recovery = RecoveryCodes.objects.select_for_update().filter(user=user, confirmed=True)
        device = recovery.first()
        if device is None or not device.verify_token(code):
            return False
        audit_record(
            action="two_factor.recovery_code_used",
            actor=user,
            request=request,
            data={"recovery_codes_left": device.codes.count()},
        )
        return True


def _digits(code: str) -> str:
    return "".join(code.split())


@transaction.atomic
def second_factor_remove(*, user, request=None) -> None:
    """The person removes their own second factor (only when their role does not require one)."""
    if second_factor_required(user):
        raise SecondFactorError("Your role must sign in with a second factor; you can replace it.")
    _devices_delete(user)
    audit_record(action="two_factor.removed", actor=user, request=request, target=user)


@transaction.atomic
def second_factor_reset(*, user, by, request=None) -> None:
    """An admin removes a person's second factor (a lost phone) without ever seeing it; the
    person's sessions end, and they enrol again at their next sign-in."""
    if by is not None and by.pk == user.pk:
        raise SecondFactorError("Replace your own authenticator app from My account.")
    _devices_delete(user)
    audit_record(action="two_factor.reset", actor=by, request=request, target=user)
    sessions_end(user=user, reason="second factor reset", by=by, request=request)


def _devices_delete(user) -> None:
    AuthenticatorApp.objects.filter(user=user).delete()
    RecoveryCodes.objects.filter(user=user).delete()
