"""Finance pages: the overview (balances, chart, spend, runway, alerts), the ledger and its
syncs, reconciliation runs with their reports and downloads, and plain period exports.

Every page is an ordinary page first; htmx only makes the progress bars and the bucket tabs quick.
Operators hold no finance permission, so none of these pages opens for them.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from finance import charts, exports, selectors, services
from finance.errors import FinanceError, JobAlreadyRunning
from finance.forms import (
    DAY_CHOICES,
    AlertRuleForm,
    BalanceEntryForm,
    ExplainForm,
    ExportForm,
    LedgerFilterForm,
    PeriodForm,
    ReconciliationForm,
    day_start,
    default_period,
    today,
)
from finance.models import LedgerEntry, LedgerSync, ReconciliationItem, ReconciliationRun
from finance.products import product_costs
from finance.reconciliation import (
    BUCKET_LABELS,
    LEDGER_BUCKETS,
    ORDER_BUCKETS,
    REFUND_BUCKETS,
    Bucket,
    storing,
)
from orders import selectors as order_selectors
from reseller.core.ids import typed_id
from reseller.core.pages import Page, render_page
from reseller.core.querystrings import without_empty
from reseller.core.services import audit_record
from reseller.core.spreadsheets import csv_download, download_name
from suppliers.chooser import AccountChooser

ITEMS_PER_PAGE = 50
LEDGER_PER_PAGE = 50
#: Buckets whose items want a look (the tab shows a warning colour when it holds any).
SERIOUS = {
    Bucket.UNEXPECTED_CHARGE,
    Bucket.CHAIN_BREAK,
    Bucket.UNEXPECTED_REFUND,
    Bucket.REFUND_MISSING,
    Bucket.NOT_CHARGED,
    Bucket.MATCHED_WITH_VARIANCE,
}
#: Finance's pages show one supplier account at a time, chosen among the enabled ones.
ACCOUNTS = AccountChooser(selectors.finance_accounts)


def _overview_url(account) -> str:
    return f"{reverse('finance:finance_overview')}?account={account.pk}"


# --- overview ------------------------------------------------------------------------------------


@permission_required("finance.view_balancesnapshot", raise_exception=True)
@require_GET
def finance_overview(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        return render(request, "finance/empty.html")
    days = request.GET.get("days", "30")
    if days not in dict(DAY_CHOICES):
        days = "30"
    first_day = today() - dt.timedelta(days=int(days) - 1)
    start, end = day_start(first_day), day_start(today() + dt.timedelta(days=1))
    if "refreshed" not in request.GET:
        # An old balance is refreshed in the background; the page is drawn at once with what
        # there is, and polls itself until the fresh one is in.
        for each in selectors.finance_accounts():
            services.balance_snapshot_request(account=each)
    summary = selectors.account_finance(account)
    rule = summary.rule
    spend_warnings: list[str] = []
    if selectors.has_ledger(account):
        spend = selectors.spend_per_day(account, start=start, end=end)
    else:
        spend, spend_warnings = selectors.spend_per_day_from_orders(account, start=start, end=end)
    context = {
        "account": account,
        "accounts": accounts,
        "summaries": [
            summary if other.pk == account.pk else selectors.account_finance(other)
            for other in accounts
        ],
        "summary": summary,
        "days": days,
        "day_choices": DAY_CHOICES,
        "chart": charts.balance_chart(
            selectors.balance_history(account, start=start, end=end),
            start=start,
            end=end,
            threshold=rule.threshold_usd if rule else None,
        ),
        "spend": spend,
        "spend_warnings": spend_warnings,
        "has_ledger": selectors.has_ledger(account),
        "balance_entry_form": BalanceEntryForm(),
        "spend_chart": charts.spend_chart(spend),
        "spend_rows": charts.fold_quiet_days(spend),
        "spend_total": sum((day.net for day in spend), start=0),
        "rule_form": AlertRuleForm(
            initial={
                "threshold_usd": rule.threshold_usd if rule else None,
                "runway_days": rule.runway_days if rule else None,
            }
        ),
        "alert_history": selectors.alert_list(account),
        "active_ledger_sync": selectors.active_ledger_sync(account),
        "window_days": selectors.spend_window().days,
        "refresh_query": f"account={account.pk}&days={days}&refreshed=1",
    }
    context["refreshing_any"] = any(each.refreshing for each in context["summaries"])
    return render(request, "finance/overview.html", context)


@permission_required("finance.add_balancesnapshot", raise_exception=True)
@require_POST
def finance_snapshot_take(request):
    account = ACCOUNTS.required(request)
    try:
        snapshot = services.balance_snapshot_take(account=account, by=request.user)
    except FinanceError as error:
        messages.error(request, error.message)
    else:
        kind = "postpaid" if snapshot.is_postpaid else "prepaid"
        messages.success(
            request, f"Balance of {account}: {snapshot.balance:.2f} {snapshot.currency} ({kind})."
        )
    return redirect(_overview_url(account))


@permission_required("finance.add_balancesnapshot", raise_exception=True)
@require_POST
def finance_balance_enter(request):
    """A balance typed in by finance, for an account whose supplier has no balance endpoint."""
    account = ACCOUNTS.required(request)
    form = BalanceEntryForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A balance is an amount in USD, such as 250.00.")
        return redirect(_overview_url(account))
    try:
        snapshot = services.balance_entry_record(
            account=account,
            balance=form.cleaned_data["balance"],
            note=form.cleaned_data["note"],
            by=request.user,
            request=request,
        )
    except FinanceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Balance of {account}: {snapshot.balance:.2f} USD, recorded.")
    return redirect(_overview_url(account))


@permission_required("finance.change_balancealertrule", raise_exception=True)
@require_POST
def finance_alert_rule_save(request):
    account = ACCOUNTS.required(request)
    form = AlertRuleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A threshold and a number of days are positive numbers (or blank).")
        return redirect(_overview_url(account))
    try:
        services.balance_alert_rule_save(
            account=account,
            threshold_usd=form.cleaned_data["threshold_usd"],
            runway_days=form.cleaned_data["runway_days"],
            by=request.user,
            request=request,
        )
    except FinanceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Low-balance alert of {account} saved.")
    return redirect(_overview_url(account))


# --- ledger --------------------------------------------------------------------------------------


@permission_required("finance.view_ledgerentry", raise_exception=True)
@require_GET
def ledger_list(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        return render(request, "finance/empty.html")
    form = LedgerFilterForm(request.GET or None)
    rows = selectors.ledger_entry_list(account=account, **form.filters())
    page = Paginator(rows, LEDGER_PER_PAGE).get_page(request.GET.get("page"))
    filters = form.filters()
    # The downloads cover the period shown (the last 30 days when none is chosen).
    period = default_period(30)
    first = filters.get("start") or day_start(period["start"])
    after = filters.get("end") or day_start(period["end"] + dt.timedelta(days=1))
    export_query = (
        f"account={account.pk}&start={first:%Y-%m-%d}&end={(after - dt.timedelta(days=1)):%Y-%m-%d}"
    )
    context = {
        "account": account,
        "accounts": accounts,
        "form": form,
        "export_query": export_query,
        "page": page,
        "query": without_empty(request.GET, drop=("page",)),
        "last_sync": selectors.last_ledger_sync(account),
        "active_sync": selectors.active_ledger_sync(account),
        "has_credential": bool(account.management_token),
    }
    return render_page(
        request, "finance/ledger_list.html", context, partials=["ledger-rows"], push_url=True
    )


@permission_required("finance.view_ledgerentry", raise_exception=True)
@require_GET
def ledger_entry_detail(request, entry_pk: int):
    entry = get_object_or_404(LedgerEntry.objects.select_related("account", "sync"), pk=entry_pk)
    context = {"entry": entry, "items": selectors.ledger_entry_items(entry)[:20]}
    return render(request, "finance/ledger_entry.html", context)


@permission_required("finance.add_ledgersync", raise_exception=True)
@require_POST
def ledger_sync_start(request):
    account = ACCOUNTS.required(request)
    try:
        job = services.ledger_sync_start(account=account, by=request.user)
    except JobAlreadyRunning as error:
        messages.info(request, error.message)
        active = selectors.active_ledger_sync(account)
        if active is None:  # it finished in the meantime
            return redirect("finance:ledger_sync_list")
        job = active
    except FinanceError as error:
        messages.error(request, error.message)
        return redirect(f"{reverse('finance:ledger_list')}?account={account.pk}")
    return redirect("finance:ledger_sync_detail", job_pk=job.pk)


@permission_required("finance.view_ledgersync", raise_exception=True)
@require_GET
def ledger_sync_list(request):
    jobs = Paginator(selectors.ledger_sync_list(), 25).get_page(request.GET.get("page"))
    return render_page(request, "finance/ledger_sync_list.html", {"page": jobs}, partials=["syncs"])


@permission_required("finance.view_ledgersync", raise_exception=True)
@require_GET
def ledger_sync_detail(request, job_pk: int):
    job = get_object_or_404(LedgerSync.objects.select_related("account", "started_by"), pk=job_pk)
    return render_page(
        request, "finance/ledger_sync_detail.html", {"job": job}, htmx_partial="progress"
    )


# --- reconciliation ------------------------------------------------------------------------------


def _run_list_context(request, account, accounts, form=None) -> dict:
    runs = selectors.reconciliation_run_list(account)
    return {
        "account": account,
        "accounts": accounts,
        "page": Paginator(runs, 25).get_page(request.GET.get("page")),
        "query": f"account={account.pk}",  # the next page is of the same account
        "form": form or ReconciliationForm(initial={"account": account, **default_period(7)}),
        "export_form": ExportForm(initial={"account": account, **default_period(30)}),
        "last_sync": selectors.last_successful_ledger_sync(account),
        "active_run": selectors.active_reconciliation(account),
    }


@permission_required("finance.view_reconciliationrun", raise_exception=True)
@require_GET
def reconciliation_list(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        return render(request, "finance/empty.html")
    context = _run_list_context(request, account, accounts)
    return render_page(request, "finance/reconciliation_list.html", context, partials=["runs"])


@permission_required("finance.add_reconciliationrun", raise_exception=True)
@require_POST
def reconciliation_start(request):
    account, accounts = ACCOUNTS.chosen(request)
    if account is None:
        raise Http404("No supplier account.")
    form = ReconciliationForm(request.POST)
    if form.is_valid():
        try:
            run = services.reconciliation_start(
                **form.engine_arguments(), by=request.user, request=request
            )
        except JobAlreadyRunning as error:
            messages.info(request, error.message)
            active = selectors.active_reconciliation(form.cleaned_data["account"])
            if active is None:  # it finished in the meantime
                return redirect(f"{reverse('finance:reconciliation_list')}?account={account.pk}")
            return redirect("finance:reconciliation_detail", run_pk=active.pk)
        except FinanceError as error:
            form.add_error(None, error.message)
        else:
            return redirect("finance:reconciliation_detail", run_pk=run.pk)
    context = _run_list_context(request, account, accounts, form=form)
    return render(request, "finance/reconciliation_list.html", context, status=400)


class _StoredCountPaginator(Paginator):
    """Pages of a bucket whose size the run stored with its items (in the same transaction),
    so opening a page of a large bucket does not count it again."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._stored_count = count

    @cached_property
    def count(self) -> int:
        return self._stored_count


def _bucket_tabs(run: ReconciliationRun) -> list[dict]:
    counts = run.counts or {}
    return [
        {
            "value": bucket.value,
            "label": bucket.label,
            "count": counts.get(bucket.value, 0),
            "serious": bucket in SERIOUS and counts.get(bucket.value, 0) > 0,
        }
        for bucket in Bucket
    ]


def _chosen_bucket(request, run: ReconciliationRun) -> str:
    wanted = request.GET.get("bucket", "")
    if wanted in Bucket.__members__:
        return wanted
    counts = run.counts or {}
    for bucket in Bucket:  # the most serious bucket that holds anything
        if counts.get(bucket.value):
            return bucket.value
    return Bucket.MATCHED.value


@permission_required("finance.view_reconciliationrun", raise_exception=True)
@require_GET
def reconciliation_detail(request, run_pk: int):
    run = get_object_or_404(
        ReconciliationRun.objects.select_related("account", "started_by"), pk=run_pk
    )
    context: dict = {"run": run, "settings_rows": _settings_rows(run)}
    if run.status == "succeeded":
        bucket = _chosen_bucket(request, run)
        paginator = _StoredCountPaginator(
            selectors.run_items(run, bucket), ITEMS_PER_PAGE, count=run.counts.get(bucket, 0)
        )
        page = paginator.get_page(request.GET.get("page"))
        items = list(page)
        explanations = selectors.run_explanations(run, keys=[item.item_key for item in items])
        totals = storing.run_totals(run)
        context.update(
            {
                "bucket": bucket,
                "bucket_label": BUCKET_LABELS[Bucket(bucket)],
                "tabs": _bucket_tabs(run),
                "page": page,
                "rows": [(item, explanations.get(item.item_key)) for item in items],
                "query": f"bucket={bucket}",
                "totals": totals,
                "explained": selectors.explained_count(run),
                "counts": {
                    "ledger": [(b.label, run.counts.get(b.value, 0)) for b in LEDGER_BUCKETS],
                    "orders": [(b.label, run.counts.get(b.value, 0)) for b in ORDER_BUCKETS],
                    "refunds": [(b.label, run.counts.get(b.value, 0)) for b in REFUND_BUCKETS],
                },
            }
        )
    detail = Page(request, "finance/reconciliation_detail.html", partials=["items", "run-body"])
    # A bucket tab is an address to share; the run's progress polling keeps the address as it is.
    return detail.render(context, push_url=detail.partial == "items")


def _settings_rows(run: ReconciliationRun) -> list[tuple[str, str]]:
    values = run.engine_settings or {}
    rows = []
    if values.get("fx_tolerance") is not None:
        rows.append(("FX tolerance", f"{Decimal(values['fx_tolerance']) * 100:.2f} %"))
    if values.get("abs_tolerance") is not None:
        rows.append(("or", f"{Decimal(values['abs_tolerance']):.2f} USD"))
    if values.get("window_slack_seconds") is not None:
        minutes = Decimal(values["window_slack_seconds"]) / 60
        rows.append(("window slack", f"{minutes.normalize():f} min"))
    opening = values.get("opening_balance")
    if run.status == "succeeded":
        text = f"{Decimal(opening):,.2f} USD" if opening is not None else "from the first row"
        rows.append(("opening balance", text))
    return rows


@permission_required("finance.view_reconciliationrun", raise_exception=True)
@require_http_methods(["GET", "POST"])
def reconciliation_item_explain(request, run_pk: int, item_pk: int):
    item = get_object_or_404(
        ReconciliationItem.objects.select_related(
            "run", "run__account", "ledger_entry", "previous_entry"
        ),
        pk=item_pk,
        run_id=run_pk,
    )
    explanation = selectors.run_explanations(item.run, keys=[item.item_key]).get(item.item_key)
    explain = Page(request, "finance/item_explain.html", htmx_partial="item-row")
    may_explain = request.user.has_perm("finance.add_itemexplanation")
    form = ExplainForm(
        request.POST or None, initial={"comment": explanation.comment if explanation else ""}
    )
    if request.method == "POST":
        if not may_explain:
            raise PermissionDenied
        if form.is_valid():
            try:
                explanation = services.item_explain(
                    item=item,
                    comment=form.cleaned_data["comment"],
                    by=request.user,
                    request=request,
                )
            except FinanceError as error:
                form.add_error("comment", error.message)
            else:
                if explain.partial:
                    return explain.render(
                        {"run": item.run, "item": item, "explanation": explanation}
                    )
                messages.success(request, f"Item {item.item_key} explained.")
                url = reverse("finance:reconciliation_detail", args=[run_pk])
                return redirect(f"{url}?bucket={item.bucket}#item-{item.pk}")
    context: dict[str, object] = {"run": item.run, "item": item, "explanation": explanation}
    if may_explain and not request.GET.get("cancel"):
        context["form"] = form
    return explain.render(context)


def _run_for_download(run_pk: int) -> ReconciliationRun:
    run = get_object_or_404(
        ReconciliationRun.objects.select_related("account", "started_by"), pk=run_pk
    )
    if run.status != "succeeded":
        raise Http404("This run has no report (it has not finished).")
    return run


def _stamp(run: ReconciliationRun) -> str:
    return download_name(f"reconciliation-{run.pk}-{run.account.name}-{run.period_start:%Y%m%d}")


@permission_required("finance.view_reconciliationrun", raise_exception=True)
@require_GET
def reconciliation_report_csv(request, run_pk: int):
    """The whole run (every column, the bucket first), or one bucket with ?bucket=."""
    run = _run_for_download(run_pk)
    bucket = request.GET.get("bucket", "")
    chosen = Bucket(bucket) if bucket in Bucket.__members__ else None
    result = selectors.run_result(run)
    lines = exports.iter_reconciliation_csv(
        result, chosen, explanations=selectors.run_explanation_texts(run)
    )
    audit_record(
        action="reconciliation.exported",
        request=request,
        target=run,
        data={"format": "csv", "bucket": bucket},
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = _stamp(run) + (f"-{chosen.value.lower()}" if chosen else "")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@permission_required("finance.view_reconciliationrun", raise_exception=True)
@require_GET
def reconciliation_report_xlsx(request, run_pk: int):
    """A summary sheet and one sheet per bucket (the engine's XLSX export, streamed to disk)."""
    run = _run_for_download(run_pk)
    result = selectors.run_result(run)
    explanations = selectors.run_explanation_texts(run)
    meta = {
        "Account": run.account.name,
        "Run": f"#{run.pk}",
        "Run by": str(run.started_by or "schedule"),
        "Run at (UTC)": run.finished_at,
        "Ledger last synced (UTC)": run.ledger_synced_at or "never",
        # Explained as they are now; one written before an item moved shows but does not count.
        "Explained items": selectors.explained_count(run),
        "Exported at (UTC)": timezone.now(),
    }
    for number, warning in enumerate(run.warnings or [], start=1):
        meta[f"Warning {number}"] = warning
    stream = tempfile.TemporaryFile()
    exports.write_reconciliation_xlsx(result, stream, meta=meta, explanations=explanations)
    stream.seek(0)
    audit_record(
        action="reconciliation.exported", request=request, target=run, data={"format": "xlsx"}
    )
    return FileResponse(
        stream,
        as_attachment=True,
        filename=f"{_stamp(run)}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


# --- plain exports -------------------------------------------------------------------------------


def _export_period(request):
    """(account, start, end) of the export form; without a form, the last 30 days. A period
    that is not understood gives a redirect back to the form with the reason instead: a file
    of another period than the one asked for would be worse than none."""
    if not request.GET:
        account = ACCOUNTS.required(request)
        period = default_period(30)
        return account, day_start(period["start"]), day_start(period["end"] + dt.timedelta(days=1))
    form = ExportForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(
            # An ErrorList yields its messages as text; django-stubs says ValidationError | str.
            f"{form.fields[name].label if name in form.fields else 'Period'}: {' '.join(errors)}"  # type: ignore[arg-type]
            for name, errors in form.errors.items()
        )
        messages.error(request, f"Nothing was exported. {problems}")
        account = request.GET.get("account", "")
        query = f"?account={account}" if typed_id(account) is not None else ""
        return redirect(reverse("finance:reconciliation_list") + query)
    start, end = form.period
    return form.cleaned_data["account"], start, end


def _csv_response(lines, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{download_name(name)}.csv"'
    return response


@permission_required("finance.view_ledgerentry", raise_exception=True)
@require_GET
def finance_export_ledger(request):
    """The ledger rows of a period as they came (CSV, UTF-8 with BOM)."""
    period = _export_period(request)
    if isinstance(period, HttpResponseRedirect):
        return period
    account, start, end = period
    entries = selectors.period_ledger_export(account, start=start, end=end)
    last_day = end - dt.timedelta(days=1)  # the period ends before `end`
    name = f"ledger-{account.name}-{start:%Y%m%d}-{last_day:%Y%m%d}"
    return _csv_response(
        exports.iter_csv(exports.ledger_rows(entries), exports.LEDGER_HEADER), name
    )


@permission_required("finance.view_ledgerentry", raise_exception=True)
@require_GET
def finance_export_ledger_xlsx(request):
    """The ledger rows of a period as one XLSX sheet (numbers as numbers, signs explained)."""
    period = _export_period(request)
    if isinstance(period, HttpResponseRedirect):
        return period
    account, start, end = period
    entries = selectors.period_ledger_export(account, start=start, end=end)
    last_day = end - dt.timedelta(days=1)  # the period ends before `end`
    name = f"ledger-{account.name}-{start:%Y%m%d}-{last_day:%Y%m%d}"
    stream = tempfile.TemporaryFile()
    exports.write_ledger_xlsx(
        entries, stream, title=f"Ledger {start:%Y-%m-%d} to {last_day:%Y-%m-%d}"
    )
    stream.seek(0)
    return FileResponse(
        stream,
        as_attachment=True,
        filename=f"{download_name(name)}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@permission_required(["finance.view_reconciliationrun", "orders.view_order"], raise_exception=True)
@require_GET
def finance_export_orders(request):
    """Our orders submitted in a period with what reconciliation expects of each (CSV)."""
    period = _export_period(request)
    if isinstance(period, HttpResponseRedirect):
        return period
    account, start, end = period
    orders, _warnings = selectors.period_local_orders(account, start=start, end=end)
    last_day = end - dt.timedelta(days=1)  # the period ends before `end`
    name = f"orders-{account.name}-{start:%Y%m%d}-{last_day:%Y%m%d}"
    return _csv_response(exports.iter_csv(exports.order_rows(orders), exports.ORDER_HEADER), name)


# --- spending against the limits -----------------------------------------------------------------


SPEND_HEADER = ["day", "who", "kind", "used_usd", "daily_limit_usd_now"]


def _period(request) -> tuple[PeriodForm, dt.date, dt.date]:
    """The period a report page asks for: the form's, or the last 30 days."""
    form = PeriodForm(request.GET or None, initial=default_period(30))
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["start"], form.cleaned_data["end"]
    period = default_period(30)
    return form, period["start"], period["end"]


@permission_required("finance.view_ledgerentry", raise_exception=True)
@require_GET
def spend_report(request):
    """Each person's and each supplier account's spending per day over a period, beside their
    daily limit, and the limits in force."""
    form, start, end = _period(request)
    rows = order_selectors.spend_usage_report(start=start, end=end)
    totals: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        totals[(row.scope, row.who)] = totals.get((row.scope, row.who), Decimal(0)) + row.used_usd
    context = {
        "form": form,
        "start": start,
        "end": end,
        "rows": rows,
        "totals": sorted(totals.items()),
        "limits": order_selectors.spend_limit_list(),
    }
    return render_page(request, "finance/spend_report.html", context)


@permission_required("finance.view_ledgerentry", raise_exception=True)
@require_GET
def spend_report_csv(request):
    _, start, end = _period(request)
    rows = order_selectors.spend_usage_report(start=start, end=end)
    return csv_download(
        SPEND_HEADER,
        ([row.day, row.who, row.scope, row.used_usd, row.daily_limit] for row in rows),
        name=f"spending-{start:%Y%m%d}-{end:%Y%m%d}",
    )


@permission_required(["finance.view_reconciliationrun", "orders.view_order"], raise_exception=True)
@require_GET
def product_report(request):
    """Per product and period: cost by route and the orders that failed over."""
    form, start, end = _period(request)
    rows = product_costs(start=day_start(start), end=day_start(end + dt.timedelta(days=1)))
    context = {"form": form, "rows": rows, "here": "products"}
    return render(request, "finance/product_report.html", context)
