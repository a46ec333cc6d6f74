"""Signed webhooks from supplier accounts (Standard Webhooks: ``webhook-id``,
``webhook-timestamp``, ``webhook-signature``, HMAC-SHA256), received and then processed by a task.

Receiving (`webhook_receive`, called by the receiver view with the raw body):

- The raw body is verified before anything parses it, with the `standardwebhooks` library: the
  signature over ``id.timestamp.body`` compared in constant time, and a timestamp within 5
  minutes of now either way (an old event replayed is refused). The account's current secret and,
  while it is rotated, its previous one are both accepted.
- A verified event is stored once per ``webhook-id`` (a database constraint): the supplier's
  retries and duplicates are dropped. It is answered at once; a task processes it.
- A rejected one is stored with the reason (for the events page), its body cut short.

Processing (`webhook_process`): the event's ``data`` has the order-status shape. It moves the
order through the same guarded path as a poll answer (`apply_answer`, under the order's lock):

- what we know already (the same status), or less (a PROCESSING event after COMPLETED: events
  arrive out of order) changes nothing;
- an event that contradicts what we know (another final status, an order we never sent, an
  UNKNOWN order) is not believed: order-status is asked;
- a completed order whose keys the event does not carry is completed by order-status, which
  fetches them.

Polling stays the safety net: an event lost or refused leaves the order to its polls. While an
account's webhooks are healthy (a verified event in the last 10 minutes) its polls back off
longer (`orders.schedule.next_pending_poll`).

Event types (the gift-card guide): order.created, order.fulfilled, order.failed, order.refunded;
the status inside ``data`` decides, the type is only recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError
from standardwebhooks.webhooks import EmptyWebhookSecretError

from orders import schedule
from orders.dispatch import enqueue_after_commit, send_tasks
from orders.models import Order, OrderStatus, WebhookEvent
from orders.states import FINAL_STATUSES, SUPPLIER_FINAL, SUPPLIER_STATUSES, can_move
from reseller.core.services import audit_record
from suppliers.clients import OrderResult, SupplierError
from suppliers.clients.errors import loads as supplier_json
from suppliers.models import SupplierAccount

#: The largest body a receiver reads; a bigger one is refused unread.
MAX_BODY_BYTES = 64 * 1024
REJECTED_BODY_KEPT = 500
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass(frozen=True)
class Receipt:
    """What the receiver answers: its HTTP status and a short text (never a secret)."""

    status: int
    text: str


def webhook_verify(secrets: list[str], body: bytes, headers: dict[str, str]) -> str | None:
    """Why the body and headers are not a valid signed event under any of `secrets`; None
    when they are. The raw body is verified byte for byte; nothing is parsed before."""
    if not all(headers.get(name) for name in HEADERS):
        return "Missing webhook-id, webhook-timestamp or webhook-signature."
    if not secrets:
        return "The account has no webhook secret."
    for hook in filter(None, map(_webhook, secrets)):
        try:
            hook.verify(body, headers, json_parse=False)
        except WebhookVerificationError as error:
            text = str(error)
            if "timestamp" in text.lower() or "headers" in text.lower():
                return f"{text} (accepted: within 5 minutes of now)."
        else:
            return None
    return "No matching signature (a wrong secret or a changed body)."


def _webhook(secret: str) -> Webhook | None:
    """The verifier of a secret; None for one that is not base64 (no signature matches it)."""
    try:
        return Webhook(secret)
    except (ValueError, EmptyWebhookSecretError, RuntimeError):
        return None


def webhook_receive(*, account: SupplierAccount, body: bytes, headers: dict[str, str]) -> Receipt:
    """Verify, store once, answer. Processing happens in a task once this commits."""
    headers = {name.lower(): value for name, value in headers.items()}
    now = timezone.now()
    webhook_id = headers.get("webhook-id", "")[:200]
    problem = webhook_verify(account.webhook_secrets, body, headers)
    payload = None
    if problem is None:
        try:
            # As an API answer is read: a price stays the exact Decimal the supplier wrote.
            payload = supplier_json(body)
        except ValueError:
            problem = "The body is not JSON."
        else:
            if not isinstance(payload, dict):
                problem = "The body is not a JSON object."
    if problem is not None:
        WebhookEvent.objects.create(
            account=account,
            webhook_id=webhook_id,
            status=WebhookEvent.Status.REJECTED,
            note=problem,
            received_at=now,
            body=body[:REJECTED_BODY_KEPT].decode("utf-8", "replace"),
        )
        return Receipt(401 if "signature" in problem.lower() else 400, problem)
    assert payload is not None
    schedule.note_webhook_verified(account.pk)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                account=account,
                webhook_id=webhook_id,
                event_type=str(payload.get("type") or "")[:60],
                status=WebhookEvent.Status.RECEIVED,
                signed_at=_signed_at(headers["webhook-timestamp"]),
                received_at=now,
                body=body.decode("utf-8", "replace"),
            )
            enqueue_after_commit("process_webhook_event", [event.pk])
    except IntegrityError:
        return Receipt(200, "Already received.")
    return Receipt(200, "Received.")


def _signed_at(timestamp: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


# --- Processing ------------------------------------------------------------------------------


def webhook_process(*, event_id: int) -> str | None:
    """Apply one received event to its order (or ask order-status); returns what it did."""
    from orders.services import order_poll

    ask_status_of = None
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, status=WebhookEvent.Status.RECEIVED)
            .select_related("account")
            .first()
        )
        if event is None:
            return None
        status, note, order, ask_status_of = _apply(event)
        event.status, event.note, event.order = status, note[:500], order
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "note", "order", "processed_at"])
    if ask_status_of is not None:
        order_poll(order_id=ask_status_of, force=True)
    return note


def _apply(event: WebhookEvent):
    """(status, note, order, id of an order to ask order-status for), under the order's lock."""
    from orders.services import SupplierAnswer, apply_answer

    ignored = WebhookEvent.Status.IGNORED
    result, order, problem = _event_order(event)
    if result is None or order is None:
        return ignored, problem, order, None
    target = SUPPLIER_STATUSES.get(result.status)
    if target is None:
        return ignored, f"Unknown status {result.status[:40]!r}: left to polling.", order, None
    current = order.status
    if current == target and order.supplier_status == result.status:
        return ignored, f"Already {current}.", order, None
    if current == OrderStatus.UNKNOWN:
        # It exists at the supplier; what it is, order-status by transactionId says.
        return WebhookEvent.Status.PROCESSED, "UNKNOWN: order-status asked.", order, order.pk
    if current in FINAL_STATUSES or current == OrderStatus.QUEUED:
        return _against_final(order, target, result.status)
    if current in (OrderStatus.SUBMITTING, OrderStatus.ON_HOLD):
        return ignored, f"The order is {current}: its own answer decides.", order, None
    if target not in SUPPLIER_FINAL and not can_move(current, target):
        return ignored, f"Older than what we know ({current}).", order, None
    needs_keys = (
        target == OrderStatus.COMPLETED
        and order.offer.delivers_keys
        and len(result.keys) < order.units
        and not result.fulfillment_data
    )
    if needs_keys or current == OrderStatus.NEEDS_ATTENTION:
        return WebhookEvent.Status.PROCESSED, "order-status asked.", order, order.pk
    apply_answer(order, SupplierAnswer(result=result), now=timezone.now(), source="webhook")
    return WebhookEvent.Status.PROCESSED, f"{current} → {order.status}.", order, None


def _event_order(event: WebhookEvent) -> tuple[OrderResult | None, Order | None, str]:
    """The event's order-status answer and its order (locked), or why there is none."""
    data = supplier_json(event.body).get("data")
    try:
        result = OrderResult.from_json(data)
    except (SupplierError, ValueError) as error:
        return None, None, f"Not an order event: {error}"
    order = _order_of(event.account, result)
    if order is None:
        return result, None, "No order of this account matches it."
    return result, order, ""


def _against_final(order: Order, target: str, said: str):
    """An event about an order we hold as final (or never sent)."""
    current = order.status
    if target not in SUPPLIER_FINAL or current == target:
        return WebhookEvent.Status.IGNORED, f"Older than what we know ({current}).", order, None
    if current == OrderStatus.COMPLETED:
        # A completed order may be refunded later: order-status says whether it was.
        note = f"Says {said}, we know {current}: order-status asked."
        return WebhookEvent.Status.PROCESSED, note, order, order.pk
    note = f"Says {said}, we know {current}: left for a person (polling checks it)."
    return WebhookEvent.Status.IGNORED, note, order, None


def _order_of(account: SupplierAccount, result: OrderResult) -> Order | None:
    orders = Order.objects.select_for_update(of=("self",)).select_related("offer", "account")
    orders = orders.filter(account=account)
    if result.transaction_id:
        found = orders.filter(transaction_id=result.transaction_id).first()
        if found is not None:
            return found
    if result.order_id:
        return orders.filter(supplier_order_id=result.order_id).first()
    return None


def webhook_events_sweep(*, older_than_seconds: int = 60) -> int:
    """Process again the received events whose task was lost."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = WebhookEvent.objects.filter(
        status=WebhookEvent.Status.RECEIVED, received_at__lt=cutoff
    ).values_list("pk", flat=True)[:500]
    return send_tasks("process_webhook_event", list(ids))


class NotReplayable(Exception):
    pass


@transaction.atomic
def webhook_replay(*, event: WebhookEvent, by=None, request=None) -> WebhookEvent:
    """Process a verified event again (the order's guarded path makes it change nothing twice).
    A rejected event is never replayed: nothing proves who sent it."""
    event = WebhookEvent.objects.select_for_update().get(pk=event.pk)
    if event.status == WebhookEvent.Status.REJECTED:
        raise NotReplayable("A rejected event is not replayed: its signature was not valid.")
    event.status, event.processed_at = WebhookEvent.Status.RECEIVED, None
    event.note = "Replayed."
    event.save(update_fields=["status", "processed_at", "note"])
    audit_record(
        action="webhook_event.replayed",
        actor=by,
        request=request,
        target=event,
        data={"webhook_id": event.webhook_id, "account": event.account_id},
    )
    enqueue_after_commit("process_webhook_event", [event.pk])
    return event
