"""Pages of the core app: staff management, the audit log, and the health check."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from reseller.core import audit, selectors, services, two_factor
from reseller.core.errors import ApplicationError
from reseller.core.filters import AuditEventFilter
from reseller.core.forms import StaffCreateForm, StaffUpdateForm
from reseller.core.pages import render_page
from reseller.core.querystrings import without_empty
from reseller.core.roles import approve_granted, pricing_granted, role_of
from reseller.core.signin import fresh_proof_required
from reseller.core.spreadsheets import csv_download

AUDIT_PAGE_SIZE = 50
AUDIT_EXPORT_CHUNK = 1000


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """For load balancers and docker-compose: the web process answers and the database does too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@permission_required("auth.change_user", raise_exception=True)
@require_http_methods(["GET", "POST"])
@fresh_proof_required
def staff_list(request):
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, password = services.staff_create(
                **form.cleaned_data, by=request.user, request=request
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            # Shown once, in this response only: the password is not stored anywhere readable.
            return render(
                request,
                "core/staff_password.html",
                {"staff_user": user, "password": password, "created": True},
            )
    users = [(user, role_of(user)) for user in selectors.staff_list()]
    return render(request, "core/staff_list.html", {"form": form, "users": users})


@permission_required("auth.change_user", raise_exception=True)
@require_http_methods(["GET", "POST"])
@fresh_proof_required
def staff_detail(request, user_id: int):
    staff_user = get_object_or_404(get_user_model(), pk=user_id)
    role = role_of(staff_user)
    initial = {
        "role": role.name if role else "operator",
        "is_active": staff_user.is_active,
        "may_change_pricing": pricing_granted(staff_user),
        "may_approve_spending": approve_granted(staff_user),
    }
    form = StaffUpdateForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if "reset_password" in request.POST:
            password = services.staff_reset_password(
                user=staff_user, by=request.user, request=request
            )
            return render(
                request,
                "core/staff_password.html",
                {"staff_user": staff_user, "password": password, "created": False},
            )
        if "reset_second_factor" in request.POST:
            try:
                two_factor.second_factor_reset(user=staff_user, by=request.user, request=request)
            except ApplicationError as error:
                messages.error(request, error.message)
                return redirect("core:staff_detail", user_id=staff_user.pk)
            messages.success(
                request,
                f"{staff_user.username}'s second factor was removed and their sessions ended; "
                "they set up a new authenticator app at their next sign-in.",
            )
            return redirect("core:staff_detail", user_id=staff_user.pk)
        if form.is_valid():
            try:
                services.staff_update(
                    user=staff_user, **form.cleaned_data, by=request.user, request=request
                )
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"{staff_user.username} updated.")
                return redirect("core:staff_list")
    events = selectors.audit_event_list().filter(
        target_type="auth.user", target_id=str(staff_user.pk)
    )[:20]
    context = {
        "staff_user": staff_user,
        "form": form,
        "events": audit.event_lines(events),
        "has_second_factor": two_factor.has_second_factor(staff_user),
        "second_factor_required": two_factor.second_factor_required(staff_user),
    }
    return render(request, "core/staff_detail.html", context)


@permission_required("core.view_auditevent", raise_exception=True)
@require_GET
def audit_list(request):
    filterset = AuditEventFilter(request.GET or None, queryset=selectors.audit_event_list())
    page = Paginator(filterset.qs, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "lines": audit.event_lines(page),
        "query": without_empty(request.GET, drop=("page",)),
    }
    return render_page(
        request, "core/audit_list.html", context, htmx_partial="results", push_url=True
    )


@permission_required("core.view_auditevent", raise_exception=True)
@require_GET
def audit_export(request):
    """The log as filtered, as CSV, in the same words as the page."""
    events = AuditEventFilter(request.GET or None, queryset=selectors.audit_event_list()).qs

    def rows():
        # A page of events at a time: names are looked up once per page, not per event.
        chunk: list = []
        for event in events.iterator(chunk_size=AUDIT_EXPORT_CHUNK):
            chunk.append(event)
            if len(chunk) == AUDIT_EXPORT_CHUNK:
                yield from (audit.event_csv_row(line) for line in audit.event_lines(chunk))
                chunk = []
        yield from (audit.event_csv_row(line) for line in audit.event_lines(chunk))

    return csv_download(audit.CSV_HEADER, rows(), name="audit-log")
