from django.conf import settings
from django.db import models


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
