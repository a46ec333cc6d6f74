"""The webhook receiver of each supplier account: no session, no CSRF token; the signature on
the raw body is the only proof of who sent it (orders.webhooks). And the admins' page of the
events received, with replay of one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from orders import selectors, webhooks
from orders.forms import WebhookEventFilter
from orders.models import WebhookEvent
from reseller.core.pages import render_page
from reseller.core.querystrings import without_empty
from suppliers.models import SupplierAccount


@csrf_exempt
@login_not_required
@require_POST
def supplier_webhook(request, account_id: int):
    account = get_object_or_404(SupplierAccount, pk=account_id, enabled=True)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > webhooks.MAX_BODY_BYTES:
        return HttpResponse("Body too large.", status=413, content_type="text/plain")
    receipt = webhooks.webhook_receive(
        account=account, body=request.body, headers=dict(request.headers)
    )
    return JsonResponse(
        {"ok": receipt.status < 300, "message": receipt.text}, status=receipt.status
    )


@permission_required("suppliers.change_supplieraccount", raise_exception=True)
@require_GET
def webhook_event_list(request):
    filterset = WebhookEventFilter(request.GET or None, queryset=selectors.webhook_event_list())
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "query": without_empty(request.GET, drop=("page",)),
    }
    return render_page(
        request, "orders/webhook_event_list.html", context, partials=["results"], push_url=True
    )


@permission_required("suppliers.change_supplieraccount", raise_exception=True)
@require_POST
def webhook_event_replay(request, event_pk: int):
    event = get_object_or_404(WebhookEvent, pk=event_pk)
    try:
        webhooks.webhook_replay(event=event, by=request.user, request=request)
    except webhooks.NotReplayable as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Event {event.webhook_id} will be processed again.")
    return redirect(f"{reverse('orders:webhook_event_list')}?account={event.account_id}")
