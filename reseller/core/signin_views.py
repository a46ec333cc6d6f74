"""Pages of signing in and of one's own account: the steps after the password (code, own password,
enrolment), the fresh-proof prompt, and "My account" (second factor, recovery codes, password,
sessions). The rules are in signin.py, two_factor.py and sessions.py; these pages only ask."""

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from reseller.core import services, signin, two_factor
from reseller.core.forms import CodeForm, PasswordConfirmForm
from reseller.core.sessions import session_record, sessions_end, signed_in_session_list


class SignInView(LoginView):
    """The password step. A right password does not sign in yet: signin.py says what follows."""

    def form_valid(self, form):
        user = form.get_user()
        return redirect(
            signin.sign_in_begin(self.request, user=user, next_url=self.get_success_url())
        )


def _pending_at(request, step: str):
    """The pending person if `step` is the one they are at (steps are taken in order: no one
    changes the password or the app of an account whose code they have not given), else None."""
    user = signin.pending_user(request)
    if user is not None and signin.pending_step(request, user) == step:
        return user
    if user is None and signin.PENDING_USER in request.session:
        messages.info(request, "Sign in again: too long passed since your password was accepted.")
    signin.sign_in_abandon(request)
    return None


def _locked_out(request, user) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": user.get_username()})


@login_not_required
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def sign_in_code(request):
    user = _pending_at(request, "code")
    if user is None:
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _locked_out(request, user):
            signin.sign_in_abandon(request)
            return get_lockout_response(request, None, {"username": user.get_username()})
        if two_factor.code_verify(user=user, code=form.cleaned_data["code"], request=request):
            signin.pending_code_given(request)
            return redirect(signin.sign_in_continue(request, user=user))
        form.add_error("code", two_factor.WRONG_CODE)
    return render(request, "core/sign_in_code.html", {"form": form, "pending": user})


@login_not_required
@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def sign_in_password(request):
    """A password an admin handed over is replaced by one of the person's own before they go on."""
    user = _pending_at(request, "password")
    if user is None:
        return redirect("login")
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        if user.check_password(form.cleaned_data["new_password1"]):
            form.add_error("new_password1", "Choose a password other than the one handed to you.")
        else:
            services.password_change(
                user=user, password=form.cleaned_data["new_password1"], request=request
            )
            return redirect(signin.sign_in_continue(request, user=user))
    return render(request, "core/sign_in_password.html", {"form": form, "pending": user})


def _enrolling_user(request):
    if request.user.is_authenticated:
        return request.user
    return _pending_at(request, "enrol")


@login_not_required
@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def two_factor_enrol(request):
    """Set up an authenticator app: while signing in (required and not yet enrolled), or from My
    account (a first app, or a new phone; replacing one needs fresh proof)."""
    user = _enrolling_user(request)
    if user is None:
        return redirect("login")
    if request.user.is_authenticated and two_factor.has_second_factor(user):
        if not signin.proof_is_fresh(request):
            return _confirm_first(request, reverse("core:two_factor_enrol"))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = two_factor.enrolment_confirm(
                user=user, code=form.cleaned_data["code"], request=request
            )
        except two_factor.SecondFactorError as error:
            form.add_error("code", error.message)
        else:
            return _recovery_codes_page(request, user, codes)
    enrolment = two_factor.enrolment_start(user=user)
    context = {
        "form": form,
        "enrolment": enrolment,
        "signing_in": not request.user.is_authenticated,
    }
    return render(request, "core/two_factor_enrol.html", context)


def _recovery_codes_page(request, user, codes: list[str]):
    """The recovery codes, in this response only. Someone enrolling while signing in is signed in
    now (the codes page is their first page)."""
    if request.user.is_authenticated:
        signin.proof_record(request)
        next_url = reverse("core:account")
    else:
        # The code that confirmed the new app proves the second factor for this sign-in.
        signin.pending_code_given(request)
        next_url = signin.sign_in_continue(request, user=user)
    return render(request, "core/recovery_codes.html", {"codes": codes, "next_url": next_url})


def _confirm_first(request, back_to: str):
    return redirect(f"{reverse('core:confirm_identity')}?{urlencode({'next': back_to})}")


@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def confirm_identity(request):
    """The fresh-proof prompt: the code again (or the password, for someone without a second
    factor); then on to the page the person was on."""
    user = request.user
    next_url = signin.safe_next(
        request,
        request.POST.get("next") or request.GET.get("next"),
        fallback=reverse(settings.LOGIN_REDIRECT_URL),
    )
    with_code = two_factor.has_second_factor(user)
    form = (CodeForm if with_code else PasswordConfirmForm)(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _locked_out(request, user):
            logout(request)
            return get_lockout_response(request, None, {"username": user.get_username()})
        if _proof_given(request, user, form.cleaned_data, with_code=with_code):
            signin.proof_record(request)
            services.audit_record(action="auth.identity_confirmed", request=request)
            return redirect(next_url)
        field = "code" if with_code else "password"
        form.add_error(field, two_factor.WRONG_CODE if with_code else "That password is not right.")
    context = {"form": form, "with_code": with_code, "next_url": next_url}
    return render(request, "core/confirm_identity.html", context)


def _proof_given(request, user, data: dict, *, with_code: bool) -> bool:
    if with_code:
        return two_factor.code_verify(user=user, code=data["code"], request=request)
    # Through the authentication backends, so a wrong password counts for the lockout too.
    return authenticate(request, username=user.get_username(), password=data["password"]) == user


@never_cache
@require_http_methods(["GET"])
def account(request):
    user = request.user
    context = {
        "has_second_factor": two_factor.has_second_factor(user),
        "second_factor_required": two_factor.second_factor_required(user),
        "recovery_codes_left": two_factor.recovery_codes_left(user),
        "sessions": signed_in_session_list(user=user),
        "current_session": request.session.session_key,
    }
    return render(request, "core/account.html", context)


@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def password_change(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.password_change(
            user=request.user, password=form.cleaned_data["new_password1"], request=request
        )
        # This session goes on, under a new key; the person's other sessions end (Django checks
        # the password).
        update_session_auth_hash(request, request.user)
        session_record(request=request, user=request.user)
        messages.success(request, "Your password was changed.")
        return redirect("core:account")
    return render(request, "core/password_change.html", {"form": form})


@require_POST
@never_cache
@signin.fresh_proof_required
def recovery_codes_renew(request):
    try:
        codes = two_factor.recovery_codes_renew(user=request.user, request=request)
    except two_factor.SecondFactorError as error:
        messages.error(request, error.message)
        return redirect("core:account")
    return _recovery_codes_page(request, request.user, codes)


@require_POST
@signin.fresh_proof_required
def two_factor_remove(request):
    try:
        two_factor.second_factor_remove(user=request.user, request=request)
    except two_factor.SecondFactorError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Your authenticator app and recovery codes were removed.")
    return redirect("core:account")


@require_POST
def sign_out_everywhere(request):
    """End every session of the person, this one included."""
    sessions_end(user=request.user, reason="signed out everywhere", request=request)
    logout(request)
    messages.success(request, "You were signed out everywhere.")
    return redirect("login")
