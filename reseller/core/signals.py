"""Sign-ins, sign-outs and failed sign-ins are audit events; a sign-in also records its session
(to end it later) and counts as the first proof for sensitive actions."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from reseller.core.services import audit_record
from reseller.core.sessions import session_signed_in
from reseller.core.signin import proof_record


@receiver(user_logged_in, dispatch_uid="core.audit_login")
def _audit_login(sender, request, user, **kwargs):
    audit_record(action="auth.login", actor=user, request=request)
    session_signed_in(request=request, user=user)
    proof_record(request)


@receiver(user_logged_out, dispatch_uid="core.audit_logout")
def _audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action="auth.logout", actor=user, request=request)


@receiver(user_login_failed, dispatch_uid="core.audit_login_failed")
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the username is kept, and
    # which step refused (the password, or a second-factor code).
    data = {"username": str(credentials.get("username", ""))[:150]}
    if credentials.get("step"):
        data["step"] = str(credentials["step"])
    audit_record(action="auth.login_failed", request=request, data=data)
