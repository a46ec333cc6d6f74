"""Signed-in sessions: which ones a person has, ending them, and ending them when idle or too old.

Every sign-in records its database session (`SignedInSession`), so a person's sessions can be ended
from anywhere: an admin deactivating them or resetting their second factor, or the person's own
"Sign out everywhere". Deleting the `Session` row is what ends a session, on SQLite and PostgreSQL
alike; the bookkeeping row goes with it (on_delete=CASCADE).

Every signed-in session also carries when it began and when it was last used;
`SessionLifetimeMiddleware` ends one idle past SESSION_IDLE_TIMEOUT or older than
SESSION_ABSOLUTE_LIFETIME.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.sessions.models import Session
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from reseller.core.models import SignedInSession
from reseller.core.pages import current_page_path, redirect_page
from reseller.core.services import audit_record, client_address

SIGNED_IN_AT = "signed_in_at"
LAST_SEEN_AT = "last_seen_at"
# The last request's time is written at most this often, not on every request (a session write).
LAST_SEEN_RESOLUTION_SECONDS = 60


def session_signed_in(*, request, user) -> None:
    """Record the session `request` has just signed `user` into (called on `user_logged_in`)."""
    now = time.time()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN_AT] = now
    session_record(request=request, user=user)


def session_record(*, request, user) -> None:
    """Record the session of `request` as one `user` is signed in to: at sign-in, and again when
    the session's key changes while signed in (a password change cycles it)."""
    # A signed-in session must exist as a row to be found and ended later.
    if request.session.session_key is None:
        request.session.save()
    ip_address, user_agent = client_address(request)
    SignedInSession.objects.update_or_create(
        session_id=request.session.session_key,
        defaults={
            "user": user,
            "signed_in_at": timezone.now(),
            "ip_address": ip_address,
            "user_agent": user_agent,
        },
    )


def signed_in_session_list(*, user):
    return SignedInSession.objects.filter(user=user).order_by("-signed_in_at")


@transaction.atomic
def sessions_end(*, user, reason: str, by=None, request=None) -> int:
    """End every session `user` is signed in to; returns how many there were. Audited."""
    keys = list(SignedInSession.objects.filter(user=user).values_list("session_id", flat=True))
    ended, _ = Session.objects.filter(session_key__in=keys).delete()
    audit_record(
        action="auth.sessions_ended",
        actor=by,
        request=request,
        target=user,
        data={"reason": reason, "sessions": len(keys)},
    )
    return len(keys)


class SessionLifetimeMiddleware:
    """Signs out a session idle longer than SESSION_IDLE_TIMEOUT, or signed in longer ago than
    SESSION_ABSOLUTE_LIFETIME, and sends the person to the sign-in page with the reason."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if SIGNED_IN_AT not in request.session:
                # Signed in before sessions were recorded: recorded now, so it can be ended.
                session_signed_in(request=request, user=user)
            expired = self._expired(request)
            if expired:
                return self._sign_out(request, user, expired)
            self._touch(request)
        return self.get_response(request)

    @staticmethod
    def _expired(request) -> str:
        now = time.time()
        session = request.session
        signed_in_at = session[SIGNED_IN_AT]
        last_seen_at = session[LAST_SEEN_AT]
        if now - last_seen_at > settings.SESSION_IDLE_TIMEOUT.total_seconds():
            return "idle"
        if now - signed_in_at > settings.SESSION_ABSOLUTE_LIFETIME.total_seconds():
            return "lifetime"
        return ""

    @staticmethod
    def _touch(request) -> None:
        now = time.time()
        if now - request.session[LAST_SEEN_AT] >= LAST_SEEN_RESOLUTION_SECONDS:
            request.session[LAST_SEEN_AT] = now

    @staticmethod
    def _sign_out(request, user, reason: str):
        audit_record(
            action="auth.session_expired", actor=user, request=request, data={"reason": reason}
        )
        logout(request)
        if reason == "idle":
            minutes = int(settings.SESSION_IDLE_TIMEOUT.total_seconds() // 60)
            text = f"You were signed out after {minutes} minutes without activity."
        else:
            hours = settings.SESSION_ABSOLUTE_LIFETIME.total_seconds() / 3600
            text = f"You were signed out: a session lasts at most {hours:g} hours."
        messages.info(request, f"{text} Sign in again to continue.")
        next_page = urlencode({"next": current_page_path(request)})
        return redirect_page(request, f"{reverse('login')}?{next_page}")
