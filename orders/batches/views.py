"""Batch pages: upload a CSV/XLSX, look at its preview, confirm it, and watch its orders run.

The upload stores the file and answers at once; the batch page says "reading" (a part that re-polls
itself) until a worker has read the file into the preview, then shows the preview, or why the file
was refused. One page per batch: while the batch is in PREVIEW it shows the file's rows and their problems with
Confirm / Discard; once confirmed, a progress bar, the sending rate with the estimated finish
(while the batch is being sent) and counts per status (a partial that re-polls
itself while an order is not final) and the order rows (a partial that re-polls itself, on the
page and filter the operator is looking at); how often: reseller.core.pages.POLL_SECONDS.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from orders import selectors as order_selectors
from orders import services
from orders.batches import reading, selectors
from orders.batches import template as file_template
from orders.batches.failed_rows import batch_fix_rows_xlsx, batch_retry_failed
from orders.batches.forms import BatchUploadForm
from orders.batches.parsing import MAX_QUANTITY
from orders.batches.preview import PREVIEW_ACTIONS, BatchFileRefused
from orders.batches.uploads import batch_upload_store
from orders.batches.validation import units_over_limit
from orders.models import Batch, Order, OrderStatus
from reseller.core.errors import ApplicationError
from reseller.core.pages import Page
from reseller.core.querystrings import without_empty
from reseller.core.signin import fresh_proof_required
from reseller.core.spreadsheets import csv_download, csv_lines
from reseller.core.uploads import CappedUploads, cap_uploads

LIST_PAGE_SIZE = 25
ORDERS_PAGE_SIZE = 50
PREVIEW_PAGE_SIZE = 100
SKIPPED_SHOWN = 200

#: Every action the batch page may post: the engine's whitelist, with the preview's own
#: "confirm" (create the orders, then confirm) and "discard" in place.
ACTIONS = {**services.BATCH_ACTIONS, **PREVIEW_ACTIONS}


@permission_required("orders.view_batch", raise_exception=True)
@require_GET
def batch_list(request):
    page = Paginator(selectors.batch_list(), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    progress = selectors.batch_progress_by_id([batch.pk for batch in page])
    failed = (OrderStatus.FAILED, OrderStatus.CANCELED, OrderStatus.REJECTED)
    rows = [
        (batch, progress[batch.pk], sum(progress[batch.pk].counts[status] for status in failed))
        for batch in page
    ]
    return render(request, "orders/batch_list.html", {"page": page, "rows": rows})


@csrf_exempt  # checked by csrf_protect below, once the upload cap is in place
@permission_required("orders.add_batch", raise_exception=True)
@require_http_methods(["GET", "POST"])
def batch_upload(request):
    """The upload stores the file (a worker reads it) and shows the batch's page at once. A file
    past the size limit is not even kept while the request arrives."""
    cap = cap_uploads(request, limit=reading.MAX_BYTES)
    return _batch_upload(request, cap)


@csrf_protect
def _batch_upload(request, cap: CappedUploads):
    form = BatchUploadForm(request.POST or None, request.FILES or None)
    if "file" in cap.too_big:  # skipped as it arrived: say why, not "no file"
        form.is_valid()
        form.errors["file"] = form.error_class([reading.too_big_message()])
    elif request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = batch_upload_store(
                account=form.cleaned_data["account"],
                uploaded_file=upload,
                filename=upload.name,
                name=form.cleaned_data["name"],
                check_players=form.cleaned_data["check_players"],
                by=request.user,
                request=request,
            )
        except BatchFileRefused as refusal:
            form.add_error("file", refusal.message)
        else:
            return redirect("orders:batch_detail", batch_pk=batch.pk)
    context = {
        "form": form,
        "has_accounts": form.accounts.exists(),
        "columns": file_template.TEMPLATE_HEADER,
        "max_quantity": MAX_QUANTITY,
    }
    return render(request, "orders/batch_upload.html", context)


@permission_required("orders.view_batch", raise_exception=True)
@require_GET
def batch_template_csv(request):
    response = HttpResponse(
        file_template.batch_template_csv(), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="batch-template.csv"'
    return response


@permission_required("orders.view_batch", raise_exception=True)
@require_GET
def batch_template_xlsx(request):
    response = HttpResponse(
        file_template.batch_template_xlsx(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = 'attachment; filename="batch-template.xlsx"'
    return response


@permission_required("orders.view_batch", raise_exception=True)
@require_GET
def batch_detail(request, batch_pk: int):
    batch = get_object_or_404(
        Batch.objects.select_related("account", "created_by", "confirmed_by"), pk=batch_pk
    )
    reading = Page(request, "orders/batch_reading.html", partials=["reading"])
    if batch.status in (Batch.Status.READING, Batch.Status.REFUSED) or reading.partial:
        return _reading_page(reading, batch)
    preview = Page(request, "orders/batch_preview.html", partials=["confirming", "rows"])
    if preview.partial == "confirming":
        if batch.status != Batch.Status.CONFIRMING:
            # Its orders exist now (or it is back in preview): the whole page changes.
            return HttpResponseClientRefresh()
        return preview.render({"batch": batch})
    if batch.status in (
        Batch.Status.PREVIEW,
        Batch.Status.CONFIRMING,
        Batch.Status.AWAITING,
        Batch.Status.REJECTED,
    ):
        return _preview_page(request, preview, batch)
    return _batch_page(request, batch)


def _reading_page(page: Page, batch: Batch):
    """The file is being read (a part that re-polls itself), or was refused saying why."""
    request = page.request
    if page.partial == "reading" and batch.status != Batch.Status.READING:
        return HttpResponseClientRefresh()  # read: the preview (or the refusal) is a new page
    context = {
        "batch": batch,
        "reading": batch.status == Batch.Status.READING,
        "read_error": batch.preview_summary.get("read_error", ""),
        "upload_size": selectors.batch_upload_size(batch=batch),
        "retried_from": selectors.batch_retried_from(batch=batch),
        "can_discard": request.user.has_perm(ACTIONS["discard"].permission),
        "can_upload": request.user.has_perm("orders.add_batch"),
    }
    return page.render(context)


def _preview_page(request, preview: Page, batch: Batch):
    summary = batch.preview_summary
    default = "problems" if summary.get("rows_with_problems") else "all"
    show = (
        request.GET.get("show") if request.GET.get("show") in selectors.PREVIEW_VIEWS else default
    )
    rows = selectors.batch_preview_rows(batch=batch, show=show)
    page = Paginator(rows, PREVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page:
        row.unit_price_text = services.money(row.unit_price)
        row.max_unit_price_text = services.money(row.max_unit_price)
    views = [
        (key, label, _preview_count(summary, key), key == show)
        for key, label in selectors.PREVIEW_VIEWS.items()
    ]
    approval = order_selectors.spend_approval_list().filter(batch=batch).first()
    context = {
        "batch": batch,
        "summary": summary,
        "balance_checked_at": selectors.balance_checked_at(batch),
        "page": page,
        "show": show,
        "views": views,
        "query": without_empty(request.GET, drop=("page",)),
        "confirming": batch.status == Batch.Status.CONFIRMING,
        "too_many_units": bool(units_over_limit(summary.get("units_ok", 0))),
        "retried_from": selectors.batch_retried_from(batch=batch),
        "can_confirm": request.user.has_perm(ACTIONS["confirm"].permission),
        "can_discard": request.user.has_perm(ACTIONS["discard"].permission),
        # Above the approval threshold: waiting for a second person, or decided by one.
        "decided_elsewhere": batch.status in (Batch.Status.AWAITING, Batch.Status.REJECTED),
        "approval": approval,
        "approval_rows": [approval] if approval is not None else [],
        "allowance": (
            order_selectors.spend_allowance(user=request.user, account=batch.account)
            if batch.status == Batch.Status.PREVIEW and batch.account is not None
            else None
        ),
    }
    return preview.render(context)


def _preview_count(summary: dict, key: str) -> int:
    if key == "problems":
        return summary.get("rows_with_problems", 0)
    if key == "warnings":
        return summary.get("rows_with_warnings", 0)
    return summary.get("rows_total", 0)


def _batch_page(request, batch: Batch):
    detail = Page(request, "orders/batch_detail.html", partials=["progress", "orders"])
    progress = selectors.batch_progress(batch=batch)
    active = progress.finished < progress.total
    context = {"batch": batch, "progress": progress, "active": active}
    if detail.partial != "orders":
        context.update(
            counts=[
                (status, OrderStatus(status).label, n) for status, n in progress.counts.items() if n
            ],
            keys=selectors.batch_key_count(batch=batch),
            actions=_available_actions(request.user, batch),
            rate=selectors.batch_rate(batch=batch, progress=progress),
        )
    if detail.partial == "progress":
        return detail.render(context)
    status = request.GET.get("status", "")
    if status not in OrderStatus.values:
        status = ""
    orders = selectors.batch_orders(batch=batch, status=status)
    page = Paginator(orders, ORDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    context.update(
        page=page,
        order_rows=[(order, _price(order)) for order in page],
        status=status,
        status_label=OrderStatus(status).label if status else "",
        query=without_empty(request.GET, drop=("page",)),
        page_query=without_empty(request.GET),
    )
    if detail.partial == "orders":
        return detail.render(context)
    skipped = selectors.batch_skipped_rows(batch=batch)
    context.update(
        skipped=skipped[:SKIPPED_SHOWN],
        skipped_count=skipped.count(),
        failed_to_retry=selectors.batch_failed_orders(batch=batch).count(),
        retries=selectors.batch_retries(batch=batch),
        retried_from=selectors.batch_retried_from(batch=batch),
    )
    return detail.render(context)


def _price(order: Order):
    return services.money(order.price_sent if order.price_sent is not None else order.quoted_price)


def _available_actions(user, batch: Batch) -> list[tuple[str, str]]:
    wanted = selectors.batch_actions_available(batch=batch)
    return [
        (name, ACTIONS[name].label) for name in wanted if user.has_perm(ACTIONS[name].permission)
    ]


def batch_action(request, batch_pk: int, action: str):
    """Every POST action on a batch, looked up in the whitelist (the permission is its own)."""
    entry = ACTIONS.get(action)
    if entry is None:
        raise Http404("No such batch action.")
    if not request.user.has_perm(entry.permission):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    batch = get_object_or_404(Batch, pk=batch_pk)
    try:
        moved = entry.service(batch=batch, by=request.user, request=request)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("orders:batch_detail", batch_pk=batch.pk)
    batch = moved if isinstance(moved, Batch) else batch
    if action == "discard":
        messages.success(request, f"Preview “{batch.name}” discarded: nothing was ordered.")
        return redirect("orders:batch_list")
    messages.success(request, _done_message(action, batch))
    return redirect("orders:batch_detail", batch_pk=batch.pk)


def _done_message(action: str, batch: Batch) -> str:
    if action == "confirm" and batch.status == Batch.Status.AWAITING:
        spend = batch.preview_summary.get("spend_usd", "")
        return (
            f"Above the approval threshold ({spend} USD): the batch waits for a second person "
            "to approve it. Nothing is ordered before that."
        )
    if action == "confirm":
        units = batch.preview_summary.get("units_ok", 0)
        skipped = batch.preview_summary.get("rows_with_problems", 0)
        text = (
            f"Batch confirmed: its {units} order{'s' if units != 1 else ''} are being created, "
            "then sent."
        )
        if skipped:
            text += f" {skipped} row{'s' if skipped != 1 else ''} with problems skipped."
        return text
    if action == "pause":
        return "Batch paused: its queued orders wait; orders already sent are still followed."
    if action == "resume":
        return "Batch resumed: its queued orders are being sent."
    return f"{ACTIONS[action].label}: done."


@permission_required("orders.add_batch", raise_exception=True)
@require_POST
def batch_retry(request, batch_pk: int):
    """ "Retry the failed rows": a new batch in preview, to be checked and confirmed as usual."""
    batch = get_object_or_404(Batch, pk=batch_pk)
    try:
        retry = batch_retry_failed(batch=batch, by=request.user, request=request)
    except ApplicationError as error:  # nothing to retry, or a file the preview refused
        messages.error(request, error.message)
        return redirect("orders:batch_detail", batch_pk=batch.pk)
    messages.success(
        request,
        "The failed rows are a new batch: check its preview (prices are as of now) and confirm.",
    )
    return redirect("orders:batch_detail", batch_pk=retry.pk)


@permission_required("orders.view_batch", raise_exception=True)
@require_GET
def batch_fix_rows(request, batch_pk: int):
    """The rows the preview refused, as a workbook to correct and upload as a new batch."""
    batch = get_object_or_404(Batch, pk=batch_pk)
    response = HttpResponse(
        batch_fix_rows_xlsx(batch=batch),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-rows-to-fix.xlsx"'
    return response


RESULTS_HEADER = [
    "row", "order_id", "transaction_id", "status", "supplier_order_id", "supplier_status",
    "customer_reference", "offer_id", "product", "offer", "player_id", "server_id", "email",
    "telegram_username", "currency", "max_unit_price", "unit_price", "units", "units_delivered",
    "message", "created_at", "final_at",
]  # fmt: skip


@permission_required("orders.view_batch", raise_exception=True)
@require_GET
def batch_results(request, batch_pk: int):
    """One row per order of the batch: what happened to it. Never a key."""
    batch = get_object_or_404(Batch, pk=batch_pk)
    orders = selectors.batch_orders(batch=batch)

    def rows():
        for order in orders.iterator(chunk_size=2000):
            price = order.price_sent if order.price_sent is not None else order.quoted_price
            yield [
                order.row_number,
                order.pk,
                order.transaction_id,
                order.status,
                order.supplier_order_id,
                order.supplier_status,
                order.customer_reference,
                order.offer.offer_id,
                order.offer.product_name,
                order.offer.offer_name,
                order.game_user_id,
                order.game_server_id,
                order.email,
                order.telegram_username,
                order.currency,
                services.money(order.max_unit_price),
                services.money(price),
                order.units,
                order.units_delivered,
                order.supplier_message or order.last_error,
                order.created_at,
                order.final_at,
            ]

    return csv_download(RESULTS_HEADER, rows(), name=f"batch-{batch.pk}-results")


KEYS_HEADER = [
    "row", "order_id", "transaction_id", "customer_reference", "product", "offer", "unit", "key",
]  # fmt: skip


@permission_required("orders.view_batch", raise_exception=True)
@require_POST
@fresh_proof_required
def batch_keys_export(request, batch_pk: int):
    """The batch's keys in clear, for `orders.export_keys` only; every attempt is audited by the
    service, a refused one too (then the 403 page). POST only: a link, a prefetch or another
    site's page must not export keys (nor write an audit event) without the CSRF token."""
    batch = get_object_or_404(Batch, pk=batch_pk)
    rows = services.batch_keys_export(batch=batch, user=request.user, request=request)
    lines = csv_lines(
        KEYS_HEADER,
        (
            [
                row["row_number"],
                row["order_id"],
                row["transaction_id"],
                row["customer_reference"],
                row["product"],
                row["offer"],
                row["unit"],
                row["key"],
            ]
            for row in rows
        ),
    )
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-keys.csv"'
    response["Cache-Control"] = "no-store"
    return response
