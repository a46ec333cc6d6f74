"""The Telegram reports page: completed sales reported to Telegram, by state, with retry for the
ones that need attention and a CSV or XLSX of a period."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders import gift_reports, selectors
from orders import gift_sale_import as gift_sale_import_rules
from orders.forms import GiftReportFilter, GiftSaleForm
from orders.models import GiftReport, GiftReportStatus
from reseller.core.pages import render_page
from reseller.core.querystrings import without_empty
from reseller.core.spreadsheets import csv_download, xlsx_download
from reseller.core.uploads import CappedUploads, cap_uploads

PAGE_SIZE = 50


def _filter(request) -> GiftReportFilter:
    return GiftReportFilter(request.GET or None, queryset=selectors.gift_report_list())


@permission_required("orders.view_giftreport", raise_exception=True)
@require_GET
def gift_report_list(request):
    filterset = _filter(request)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = selectors.gift_report_counts()
    context = {
        "filter": filterset,
        "page": page,
        "states": [
            (status, label, counts.get(status, 0)) for status, label in GiftReportStatus.choices
        ],
        "query": without_empty(request.GET, drop=("page",)),
    }
    return render_page(
        request, "orders/gift_report_list.html", context, partials=["results"], push_url=True
    )


EXPORT_HEADER = [
    "transaction_id", "sold_at_utc", "state", "order_id", "product", "offer", "amount",
    "currency", "amount_smallest_unit", "gift", "buyer_id", "attempts", "reported_at_utc",
    "refunded_at_utc", "problem",
]  # fmt: skip


def _export_rows(request):
    """The rows of the page's current filter (a period: Sold from / to), one per report."""
    for report in _filter(request).qs.iterator(chunk_size=2000):
        parameters = report.parameters
        offer = report.order.offer if report.order else None
        yield [
            report.transaction_id,
            report.transaction_at,
            report.get_status_display(),
            report.order_id,
            offer.product_name if offer else "",
            offer.offer_name if offer else "",
            report.amount_display.split(" ")[0] if report.amount_display else "",
            parameters.get("currency", ""),
            parameters.get("amount"),
            parameters.get("gift_name") or ", ".join(parameters.get("gift_names") or []),
            parameters.get("buyer_id"),
            report.attempts,
            report.sent_at,
            report.refunded_at,
            report.last_error,
        ]


@permission_required("orders.view_giftreport", raise_exception=True)
@require_GET
def gift_report_export(request):
    """The page's current filter as CSV."""
    return csv_download(EXPORT_HEADER, _export_rows(request), name="telegram-reports")


@permission_required("orders.view_giftreport", raise_exception=True)
@require_GET
def gift_report_export_xlsx(request):
    """The page's current filter as XLSX: amounts as numbers, times as UTC dates."""
    return xlsx_download(
        EXPORT_HEADER, _export_rows(request), name="telegram-reports", sheet="Telegram reports"
    )


@permission_required("orders.change_giftreport", raise_exception=True)
@require_POST
def gift_report_retry(request, report_pk: int):
    report = get_object_or_404(GiftReport, pk=report_pk)
    try:
        report = gift_reports.gift_report_retry(report=report, by=request.user, request=request)
    except gift_reports.GiftReportNotRetryable as error:
        messages.error(request, str(error))
    else:
        if report.status == GiftReportStatus.PENDING:
            messages.success(request, f"Report {report.transaction_id} will be sent again.")
        else:
            messages.error(request, f"Not sent: {report.last_error}")
    if request.POST.get("back") == "order" and report.order_id:
        return redirect("orders:order_detail", order_pk=report.order_id)
    return redirect(reverse("orders:gift_report_list"))


@permission_required("orders.add_giftreport", raise_exception=True)
@require_http_methods(["GET", "POST"])
def gift_sale_create(request):
    """Record a gift sale made elsewhere; it is reported like an order's."""
    form = GiftSaleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = gift_reports.gift_sale_record(
                **form.cleaned_data, by=request.user, request=request
            )
        except gift_reports.GiftSaleRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request, f"Sale {report.transaction_id} recorded; it is reported to Telegram now."
            )
            return redirect(f"{reverse('orders:gift_report_list')}?q={report.transaction_id}")
    return render(request, "orders/gift_sale_form.html", {"form": form})


@csrf_exempt  # checked by csrf_protect below, once the upload cap is in place
@permission_required("orders.add_giftreport", raise_exception=True)
@require_http_methods(["GET", "POST"])
def gift_sale_import(request):
    """A CSV of gift sales made elsewhere: preview first, then confirm (nothing is written
    before)."""
    cap = cap_uploads(request, limit=gift_sale_import_rules.MAX_BYTES)
    return _gift_sale_import(request, cap)


@csrf_protect
def _gift_sale_import(request, cap: CappedUploads):
    context: dict = {"columns": gift_sale_import_rules.COLUMNS}
    if "file" in cap.too_big:
        context["problem"] = "The file is larger than 1 MB."
    elif request.method == "POST" and "token" in request.POST:
        try:
            count = gift_sale_import_rules.gift_sales_confirm(
                token=request.POST["token"], by=request.user, request=request
            )
        except gift_sale_import_rules.ImportRefused as refusal:
            context["problem"] = str(refusal)
        else:
            messages.success(request, f"{count} sale{'s' if count != 1 else ''} recorded.")
            return redirect("orders:gift_report_list")
    elif request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["problem"] = "Choose a CSV file."
        else:
            try:
                rows = gift_sale_import_rules.gift_sales_read(upload.read())
            except gift_sale_import_rules.ImportRefused as refusal:
                context["problem"] = str(refusal)
            else:
                context["rows"] = rows
                context["good"] = sum(1 for row in rows if not row.problems)
                context["token"] = gift_sale_import_rules.preview_token(rows)
    return render(request, "orders/gift_sale_import.html", context)
