import hmac
from base64 import b32encode
from secrets import token_bytes

from django.conf import settings
from django.db import models
from django.utils.crypto import salted_hmac
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from reseller.core.fields import EncryptedTextField


class AuditEvent(models.Model):
    """Who did what, when, and from where. Written only through `services.audit_record`."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The username at the time, kept even if the user is later renamed or deleted.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"


class Heartbeat(models.Model):
    """The last time the worker ran the beat-scheduled heartbeat: proof that worker and beat are alive."""

    name = models.CharField(max_length=40, unique=True)
    beat_at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%H:%M:%S}"


class SignedInSession(models.Model):
    """A database session in which a person is signed in: how their sessions are found to end them
    (deactivation, a reset of their second factor, "Sign out everywhere"). Deleting the session
    deletes this row, so `clearsessions` and signing out keep the table tidy."""

    session = models.OneToOneField(
        "sessions.Session", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in_sessions"
    )
    signed_in_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} since {self.signed_in_at:%Y-%m-%d %H:%M}"


class HandedOverPassword(models.Model):
    """The person's password was handed over by an admin (a new account or a reset): they must
    choose their own before they can do anything else. The row goes when they do."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    handed_over_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} handed over {self.handed_over_at:%Y-%m-%d %H:%M}"


class AuthenticatorApp(TimestampMixin, ThrottlingMixin, Device):
    """A person's authenticator app (TOTP, RFC 6238), a device of django-otp.

    django-otp's own TOTPDevice keeps its secret in the clear; this one keeps it encrypted at rest
    (and so in `rotate_encryption_keys`). Codes are checked by TOTPDevice's own methods, which read
    only `bin_key` and the fields below: one copy of the algorithm, django-otp's. A wrong code
    makes the device wait 1, 2, 4 ... seconds before it checks another (ThrottlingMixin)."""

    # The fields TOTPDevice's methods read (django-otp's defaults). Annotated for mypy, which sees
    # django-otp's Device as untyped and so does not take this for a model.
    secret = EncryptedTextField(default=random_hex)  # 20 random bytes, written in hex
    # Seconds a code lasts.
    step: models.PositiveSmallIntegerField = models.PositiveSmallIntegerField(default=30)
    t0: models.BigIntegerField = models.BigIntegerField(default=0)
    digits: models.PositiveSmallIntegerField = models.PositiveSmallIntegerField(default=6)
    # Time steps early or late still accepted.
    tolerance: models.PositiveSmallIntegerField = models.PositiveSmallIntegerField(default=1)
    # Time steps the app's clock is known to be off.
    drift: models.SmallIntegerField = models.SmallIntegerField(default=0)
    # The time step of the last code accepted: a code is never accepted twice.
    last_t: models.BigIntegerField = models.BigIntegerField(default=-1)

    verify_token = TOTPDevice.verify_token
    get_throttle_factor = TOTPDevice.get_throttle_factor
    config_url = TOTPDevice.config_url  # the otpauth:// URL the QR code holds
    _read_str_from_settings = TOTPDevice._read_str_from_settings

    @property
    def bin_key(self) -> bytes:
        return bytes.fromhex(self.secret)


def recovery_code_new() -> str:
    """Ten characters of base32 (50 random bits), lower case: easy to copy from a printout."""
    return b32encode(token_bytes(5)).decode().lower()


def recovery_code_digest(code: str, secret: str | None = None) -> str:
    """What is stored of a recovery code: an HMAC-SHA256 keyed from SECRET_KEY.

    Not a password hash (make_password): a code is 50 random bits, not a guessable word, so slow
    hashing buys nothing and would make each sign-in try hash every stored code with its own salt.
    The key keeps a copy of the table alone from telling anyone a code. Spaces and case, as people
    type them, do not count."""
    normalised = "".join(code.split()).lower()
    return salted_hmac(
        "reseller.core.RecoveryCode", normalised, secret=secret, algorithm="sha256"
    ).hexdigest()


class RecoveryCodes(TimestampMixin, ThrottlingMixin, Device):
    """A person's set of one-time recovery codes, a device of django-otp: shown once when issued,
    kept only as digests (`recovery_code_digest`), each accepted once."""

    class Meta:
        verbose_name_plural = "recovery codes"

    def get_throttle_factor(self) -> int:
        return 1

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        # Codes issued before a SECRET_KEY rotation still work while the old key is a fallback.
        candidates = [
            recovery_code_digest(token, secret)
            for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
        ]
        match = None
        for code in self.codes.all():  # every code compared, in constant time
            if any(hmac.compare_digest(code.digest, digest) for digest in candidates):
                match = code
        if match is None:
            self.throttle_increment()
            return False
        match.delete()
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True


class RecoveryCode(models.Model):
    """One unused recovery code of a set, as its digest; it is deleted when used."""

    device = models.ForeignKey(RecoveryCodes, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"recovery code of device {self.device_id}"
