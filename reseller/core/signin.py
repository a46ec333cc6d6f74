"""Signing in, step by step, and fresh proof before sensitive actions.

After the password a person is not signed in yet: the session holds them as *pending* while the
steps their account needs are taken, in this order:

1. ``code``: a code from their authenticator app (or a recovery code), when they have enrolled;
2. ``password``: their own password in place of one an admin handed over;
3. ``enrol``: setting up an authenticator app, when their role requires one and they have none.

Only then does Django's `login` run, so nothing else of the back-office (which needs a signed-in
user, LoginRequiredMiddleware) is reachable halfway, the sign-in lockout is reset only after the
last step, and the "auth.login" audit event means a complete sign-in.

Signing in is also the first *proof*. A sensitive action (`fresh_proof_required`) asks for the code
again, or the password from someone without a second factor, when the last proof is older than
FRESH_PROOF_MAX_AGE.
"""

import functools
import time

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.messages import info
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from reseller.core.models import HandedOverPassword
from reseller.core.pages import current_page_path, redirect_page
from reseller.core.two_factor import has_second_factor, second_factor_required

PENDING_USER = "signin_pending_user"
PENDING_SINCE = "signin_pending_since"
PENDING_CODE_GIVEN = "signin_pending_code_given"
PENDING_NEXT = "signin_pending_next"
PROVED_AT = "proved_at"
# A password accepted this long ago without the remaining steps taken has to be given again.
PENDING_MAX_SECONDS = 10 * 60
# The backend that signs a pending person in: the password was checked through axes' and this one.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

STEP_URLS = {
    "code": "core:sign_in_code",
    "password": "core:sign_in_password",
    "enrol": "core:two_factor_enrol",
}


def sign_in_begin(request, *, user, next_url: str) -> str:
    """The password of `user` was right: hold them as pending and return the address of the next
    step, or sign them in and return `next_url` when their account needs no other step."""
    request.session.cycle_key()
    request.session[PENDING_USER] = user.pk
    request.session[PENDING_SINCE] = time.time()
    request.session[PENDING_CODE_GIVEN] = False
    request.session[PENDING_NEXT] = next_url
    return sign_in_continue(request, user=user)


def pending_user(request):
    """The person half-way through signing in on this session, or None (none, or it expired)."""
    user_id = request.session.get(PENDING_USER)
    since = request.session.get(PENDING_SINCE, 0)
    if user_id is None or time.time() - since > PENDING_MAX_SECONDS:
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def pending_step(request, user) -> str | None:
    """The next step `user` must take before they are signed in, or None."""
    if has_second_factor(user):
        if not request.session.get(PENDING_CODE_GIVEN):
            return "code"
    if HandedOverPassword.objects.filter(user=user).exists():
        return "password"
    if not has_second_factor(user) and second_factor_required(user):
        return "enrol"
    return None


def pending_code_given(request) -> None:
    request.session[PENDING_CODE_GIVEN] = True


def sign_in_continue(request, *, user) -> str:
    """The address of the next step, or (none left) sign the person in and return where to go."""
    step = pending_step(request, user)
    if step is not None:
        return reverse(STEP_URLS[step])
    return sign_in_finish(request, user=user)


def sign_in_finish(request, *, user) -> str:
    """Sign the pending person in (`user_logged_in` follows: the audit event, the session's
    bookkeeping, the first proof); return where they were going."""
    next_url = request.session.get(PENDING_NEXT) or reverse(settings.LOGIN_REDIRECT_URL)
    sign_in_abandon(request)
    login(request, user, backend=MODEL_BACKEND)
    return next_url


def sign_in_abandon(request) -> None:
    for key in (PENDING_USER, PENDING_SINCE, PENDING_CODE_GIVEN, PENDING_NEXT):
        request.session.pop(key, None)


def proof_record(request) -> None:
    """The person has just proved who they are (signed in, or answered the fresh-proof prompt)."""
    request.session[PROVED_AT] = time.time()


def proof_is_fresh(request) -> bool:
    proved_at = request.session.get(PROVED_AT)
    return (
        proved_at is not None
        and time.time() - proved_at <= settings.FRESH_PROOF_MAX_AGE.total_seconds()
    )


def safe_next(request, url: str | None, *, fallback: str) -> str:
    """`url` when it is an address of this site, otherwise `fallback`."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return fallback


def fresh_proof_required(view):
    """A sensitive action: it runs only when the person proved who they are within
    FRESH_PROOF_MAX_AGE; otherwise they are asked again (`core:confirm_identity`).

    A GET then continues to the page it asked for. A POST is not replayed (its form may be stale,
    and replaying it blindly would act twice): the person returns to the page they were on and
    repeats the action themselves.
    """

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if proof_is_fresh(request):
            return view(request, *args, **kwargs)
        if request.method in ("GET", "HEAD"):
            back_to = current_page_path(request)
        else:
            back_to = safe_next(
                request,
                request.headers.get("Referer"),
                fallback=reverse(settings.LOGIN_REDIRECT_URL),
            )
            info(request, "Confirm it is you, then repeat what you were doing.")
        query = urlencode({"next": back_to})
        return redirect_page(request, f"{reverse('core:confirm_identity')}?{query}")

    return wrapper
