"""Writes of the orders app: creating orders, sending them exactly once, following them, the
sweep, operator actions, the key vault and delivery.

How one order is bought exactly once (architecture.md, "Exactly-once rules"):

1. `order_create` commits each order with its own `transactionId` before anything is sent.
2. `order_submit` claims the order in a short transaction (row lock with SKIP LOCKED, status
   SUBMITTING, a lease longer than the call can take), commits, and only then calls
   create-order. It records the answer in a second short transaction. No supplier call is ever
   made inside a transaction.
3. Anything that may have created the order (timeout, reset, 5xx, unreadable answer, a lease
   that expired because the worker died) is UNKNOWN, resolved by order-status with the same
   `transactionId`: found → follow it; ORDER_NOT_FOUND → QUEUED, sent again with the same id.
   TRANSACTION_DUPLICATE proves an earlier send landed: it is followed up the same way.
4. A new `transactionId` is issued only by `order_retry`, for a REJECTED order (a refusal proves
   nothing was created); the old one stays in `OrderTransactionId`.
5. Refusals are final answers: WRONG_PRICE is re-quoted with find-one and re-sent (same id) only
   within the operator's `max_unit_price`; INSUFFICIENT_BALANCE holds the account's queue.
6. Keys are stored, encrypted, in the transaction that moves the order to COMPLETED.

Every HTTP call happens in a `_*_send` / `_*_fetch` step between two transactions; the steps are
separate functions so tests can stop a worker between any two of them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from catalog.models import CurrencyRate, Offer
from orders import polling
from orders.errors import OrderActionRefused, OrderError, PriceAboveLimit
from orders.models import (
    AccountQueue,
    Batch,
    Order,
    OrderKey,
    OrderStatus,
    OrderTransactionId,
)
from orders.states import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    POLLED_STATUSES,
    SUPPLIER_STATUSES,
    can_move,
    order_events_created,
    order_transition,
)
from reseller.core.services import audit_record
from suppliers.clients import (
    CodeGamesClient,
    InsufficientBalance,
    InvalidToken,
    OfferNotFound,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderResult,
    SupplierError,
    TransactionDuplicate,
    WrongPrice,
)
from suppliers.models import SupplierAccount, SupplierKind
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_client

logger = logging.getLogger(__name__)

S = OrderStatus

TRANSACTION_ID_PREFIX = "rb-"
MAX_QUANTITY = 500
# create-order calls one submit task may make for one order (re-sends after WRONG_PRICE).
MAX_SENDS_PER_TASK = 3
# Beyond this many create-order calls an order whose price keeps moving is rejected.
MAX_SUBMIT_ATTEMPTS = 10
# A second poll of one order within this gap is skipped (a duplicated task), unless forced.
MIN_POLL_GAP = timedelta(seconds=2)
SWEEP_LIMIT = 500
RELEASE_CHUNK = 500
RATE_LIMITED_RETRY = timedelta(seconds=30)
REQUOTE_FAILED_RETRY = timedelta(seconds=60)
DELIVERY_CLAIM = timedelta(minutes=5)
ERROR_TEXT_LIMIT = 1000


def money(amount: Decimal | None) -> Decimal | None:
    """A stored price (4 decimal places) as the supplier wrote it: 560.1000 → 560.10, but
    0.0125 stays 0.0125. Used for the price confirmed to create-order and in messages."""
    if amount is None:
        return None
    cents = amount.quantize(Decimal("0.01"))
    return cents if cents == amount else amount.normalize()


def new_transaction_id() -> str:
    return TRANSACTION_ID_PREFIX + uuid.uuid4().hex


def _claim_token() -> str:
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"[:100]


def _error_text(error: BaseException) -> str:
    """What staff may read about a failure: supplier errors are safe by construction (no token,
    keys masked); anything else is named by its type only."""
    if isinstance(error, SupplierError):
        text = str(error)
    elif isinstance(error, RateLimitSaturated | ValueError):
        text = f"{type(error).__name__}: {error}"
    else:
        text = f"Internal error ({type(error).__name__})"
    return text[:ERROR_TEXT_LIMIT]


def _error_data(error: BaseException) -> dict:
    if isinstance(error, SupplierError):
        return {"error": type(error).__name__, "code": error.code, "http_status": error.http_status}
    return {"error": type(error).__name__}


def enqueue_after_commit(task_name: str, ids, *, countdown: float | None = None) -> None:
    """Send one task per id once the current transaction commits. A broker failure is logged,
    not raised: the rows are the work list and the sweep will find them."""
    ids = list(ids)
    if not ids:
        return

    def send() -> None:
        from orders import tasks

        task = getattr(tasks, task_name)
        for pk in ids:
            try:
                task.apply_async((pk,), countdown=countdown)
            except Exception:
                logger.warning(
                    "could not enqueue %s for %d item(s); the sweep will pick them up",
                    task_name,
                    len(ids),
                    exc_info=True,
                )
                return

    transaction.on_commit(send)


def _move(order: Order, to: str, **kwargs) -> Order:
    """`order_transition`, plus what follows a move: a batch whose orders are all final is DONE."""
    order_transition(order, to, **kwargs)
    if order.batch_id and order.status in FINAL_STATUSES:
        _batch_refresh(order.batch_id, kwargs.get("now") or timezone.now())
    return order


def _lock(order_id: int, *, skip_locked: bool = False) -> Order | None:
    return (
        Order.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("offer", "account", "batch")
        .filter(pk=order_id)
        .first()
    )


# --- creating orders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    """One line to order: `quantity` orders of `offer` for one customer (a form, a batch row)."""

    offer: Offer
    max_unit_price: Decimal
    quantity: int = 1
    quoted_price: Decimal | None = None
    game_user_id: str = ""
    game_server_id: str = ""
    email: str = ""
    telegram_username: str = ""
    customer_reference: str = ""
    row_number: int | None = None


def _clean_text(value, name: str, limit: int) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise OrderError(f"{name} is longer than {limit} characters.")
    return text


def _line_orders(line: OrderLine, *, account, batch, by, now) -> list[Order]:
    """Validate one line and build its (unsaved) orders, each with its own transactionId."""
    offer = line.offer
    account = account or offer.account
    if account.pk != offer.account_id:
        raise OrderError("The offer belongs to another supplier account.")
    if not account.enabled:
        raise OrderError(f"The supplier account {account} is disabled.")
    if offer.delisted_at is not None:
        raise OrderError("This offer is no longer listed by the supplier.")
    quantity = line.quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise OrderError("The quantity must be a whole number.")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise OrderError(f"The quantity must be from 1 to {MAX_QUANTITY}.")
    try:
        max_unit_price = Decimal(str(line.max_unit_price))
    except Exception:
        raise OrderError("The highest accepted unit price is not a number.") from None
    if not max_unit_price.is_finite() or max_unit_price <= 0:
        raise OrderError("The highest accepted unit price must be positive.")
    quoted = offer.price if line.quoted_price is None else Decimal(str(line.quoted_price))
    if quoted > max_unit_price:
        raise PriceAboveLimit(
            f"The unit price {money(quoted)} {offer.currency} is above the highest price you "
            f"accept ({money(max_unit_price)} {offer.currency})."
        )
    game_user_id = _clean_text(line.game_user_id, "The player id", 64)
    game_server_id = _clean_text(line.game_server_id, "The server id", 64)
    telegram_username = _clean_text(line.telegram_username, "The Telegram username", 64)
    customer_reference = _clean_text(line.customer_reference, "The customer reference", 120)
    email = _clean_text(line.email, "The email", 254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise OrderError(f"{email!r} is not a valid email address.") from None
    if offer.requires_user_id and not game_user_id:
        raise OrderError("This offer needs the player id.")
    if offer.requires_server_id and not game_server_id:
        raise OrderError("This offer needs the server.")
    if offer.product_name == "Telegram Stars" and not game_user_id.isdigit():
        raise OrderError(
            "Telegram Stars need the numeric Telegram user id (resolve the @username first)."
        )
    schedule = batch is None or batch.accepts_submissions
    return [
        Order(
            account=account,
            offer=offer,
            batch=batch,
            row_number=line.row_number,
            transaction_id=new_transaction_id(),
            status=S.QUEUED,
            game_user_id=game_user_id,
            game_server_id=game_server_id,
            email=email,
            telegram_username=telegram_username,
            customer_reference=customer_reference,
            max_unit_price=max_unit_price,
            quoted_price=quoted,
            currency=offer.currency,
            units=offer.units or 1,
            next_poll_at=now + polling.QUEUED_RESCUE_AFTER if schedule else None,
            created_by=by if getattr(by, "is_authenticated", False) else None,
        )
        for _ in range(quantity)
    ]


def _insert_orders(orders: list[Order], *, by, now) -> None:
    """Insert orders with their transactionId history and creation events (a few queries)."""
    Order.objects.bulk_create(orders)
    OrderTransactionId.objects.bulk_create(
        [
            OrderTransactionId(order=order, transaction_id=order.transaction_id, created_at=now)
            for order in orders
        ]
    )
    order_events_created(orders, actor=by, reason="created")


def _reopen_batch(batch: Batch | None) -> None:
    if batch is not None and batch.status == Batch.Status.DONE:
        Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RUNNING, finished_at=None)
        batch.status = Batch.Status.RUNNING


@transaction.atomic
def order_create(
    *,
    offer: Offer,
    account: SupplierAccount | None = None,
    quantity: int = 1,
    game_user_id: str = "",
    game_server_id: str = "",
    email: str = "",
    telegram_username: str = "",
    customer_reference: str = "",
    max_unit_price: Decimal,
    quoted_price: Decimal | None = None,
    batch: Batch | None = None,
    row_number: int | None = None,
    by=None,
    request=None,
) -> list[Order]:
    """Create `quantity` orders of one offer, each with its own transactionId, QUEUED.

    `quoted_price` is the supplier's unit price the operator saw (find-one just before ordering,
    or the synced price); it defaults to the catalog price. `max_unit_price` is the highest unit
    price the operator accepts, in the offer's currency. The orders are sent once the transaction
    commits (unless their batch is still in preview or paused).
    """
    line = OrderLine(
        offer=offer,
        max_unit_price=max_unit_price,
        quantity=quantity,
        quoted_price=quoted_price,
        game_user_id=game_user_id,
        game_server_id=game_server_id,
        email=email,
        telegram_username=telegram_username,
        customer_reference=customer_reference,
        row_number=row_number,
    )
    now = timezone.now()
    orders = _line_orders(line, account=account, batch=batch, by=by, now=now)
    _reopen_batch(batch)
    _insert_orders(orders, by=by, now=now)
    if batch is None and by is not None:
        audit_record(
            action="order.created",
            actor=by,
            request=request,
            target=orders[0],
            data={
                "orders": [order.pk for order in orders],
                "offer": offer.offer_id,
                "max_unit_price": str(orders[0].max_unit_price),
            },
        )
    if batch is None or batch.accepts_submissions:
        enqueue_after_commit("submit_order", [order.pk for order in orders])
    return orders


@transaction.atomic
def batch_orders_create(*, batch: Batch, lines, by=None, chunk_size: int = 1000) -> int:
    """Create the orders of many lines of one batch at once (all or none), in bulk: a few
    queries per `chunk_size` orders. A line that fails validation raises OrderError naming its
    row. Orders of a batch in preview wait for `batch_confirm`. Returns how many were created."""
    now = timezone.now()
    _reopen_batch(batch)
    created, pending = 0, []
    for line in lines:
        try:
            pending.extend(_line_orders(line, account=None, batch=batch, by=by, now=now))
        except OrderError as error:
            where = f"Row {line.row_number}: " if line.row_number is not None else ""
            raise type(error)(where + error.message, extra=error.extra) from None
        if len(pending) >= chunk_size:
            created += _insert_batch_chunk(pending, batch=batch, by=by, now=now)
            pending = []
    if pending:
        created += _insert_batch_chunk(pending, batch=batch, by=by, now=now)
    return created


def _insert_batch_chunk(orders: list[Order], *, batch: Batch, by, now) -> int:
    _insert_orders(orders, by=by, now=now)
    if batch.accepts_submissions:
        enqueue_after_commit("submit_order", [order.pk for order in orders])
    return len(orders)


# --- submitting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitClaim:
    """What a worker holds between the claim and the recording: the lease token and the call."""

    order_id: int
    token: str
    account_id: int
    supplier_offer_id: int
    price: Decimal
    transaction_id: str
    email: str | None
    game_user_id: str | None
    game_server_id: str | None
    returns_key: bool | None
    units: int


@dataclass
class SupplierAnswer:
    """One answer about an order (create-order or order-status), with the keys fetched for it."""

    result: OrderResult | None = None
    error: BaseException | None = None
    keys: tuple[str, ...] = ()
    keys_error: SupplierError | None = None
    # WRONG_PRICE: the find-one that followed it.
    quote: object | None = None
    quote_error: BaseException | None = None
    by_transaction_id: bool = True

    def __repr__(self) -> str:  # keys never in a repr
        return (
            f"SupplierAnswer(result={self.result!r}, error={self.error!r}, "
            f"keys=<{len(self.keys)} masked>)"
        )


class Next(Enum):
    DONE = "done"
    SEND_AGAIN = "send again"
    RESOLVE_NOW = "resolve now"


def order_submit(*, order_id: int, now: datetime | None = None) -> Order | None:
    """The submit task's body: claim, call create-order once, record. Safe to run twice at once:
    only the worker whose claim succeeded calls the supplier."""
    for _ in range(MAX_SENDS_PER_TASK):
        claim = _submit_claim(order_id=order_id, now=now)
        if claim is None:
            break
        answer = _submit_send(claim)
        step = _submit_record(claim, answer, now=now)
        if step is Next.RESOLVE_NOW:
            order_resolve_unknown(order_id=order_id, now=now)
            break
        if step is not Next.SEND_AGAIN:
            break
    return Order.objects.filter(pk=order_id).first()


def _submit_claim(*, order_id: int, now: datetime | None = None) -> SubmitClaim | None:
    """Claim a QUEUED order (SKIP LOCKED), move it to SUBMITTING with a lease, commit."""
    now = now or timezone.now()
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("offer", "account", "batch")
            .filter(pk=order_id, status=S.QUEUED)
            .first()
        )
        if order is None:
            return None
        if order.batch_id and not order.batch.accepts_submissions:
            # Paused or not confirmed yet: batch_resume / batch_confirm schedule it again.
            Order.objects.filter(pk=order.pk).update(next_poll_at=None, updated_at=now)
            return None
        if AccountQueue.objects.filter(account_id=order.account_id, on_hold=True).exists():
            _move(order, S.ON_HOLD, reason="The account's order queue is on hold.", now=now)
            return None
        if not order.account.enabled:
            Order.objects.filter(pk=order.pk).update(
                last_error="The supplier account is disabled; the order waits.",
                next_poll_at=now + polling.QUEUED_RESCUE_AFTER,
                updated_at=now,
            )
            return None
        price = money(order.quoted_price if order.quoted_price is not None else order.offer.price)
        token = _claim_token()
        _move(
            order,
            S.SUBMITTING,
            reason="Claimed for create-order.",
            data={"attempt": order.submit_attempts + 1, "transaction_id": order.transaction_id},
            changes={
                "claimed_by": token,
                "lease_expires_at": now + polling.call_lease(order.account),
                "submit_attempts": order.submit_attempts + 1,
                "price_sent": price,
                "submitted_at": order.submitted_at or now,
                "last_sent_at": now,
                "last_error": "",
            },
            now=now,
        )
        if order.batch_id and order.batch.status == Batch.Status.CONFIRMED:
            Batch.objects.filter(pk=order.batch_id, status=Batch.Status.CONFIRMED).update(
                status=Batch.Status.RUNNING
            )
        return SubmitClaim(
            order_id=order.pk,
            token=token,
            account_id=order.account_id,
            supplier_offer_id=order.offer.offer_id,
            price=price,
            transaction_id=order.transaction_id,
            email=order.email or None,
            game_user_id=order.game_user_id or None,
            game_server_id=order.game_server_id or None,
            returns_key=order.offer.returns_key,
            units=order.units,
        )


def _submit_send(claim: SubmitClaim) -> SupplierAnswer:
    """The HTTP step, outside any transaction: create-order, then what its answer calls for
    (the keys of a CodeGames order completed without them; find-one after WRONG_PRICE)."""
    account = SupplierAccount.objects.get(pk=claim.account_id)
    client = supplier_client(account, max_retries=1)
    try:
        result = client.create_order(
            claim.supplier_offer_id,
            claim.price,
            claim.transaction_id,
            email=claim.email,
            game_user_id=claim.game_user_id,
            game_server_id=claim.game_server_id,
        )
    except WrongPrice as error:
        answer = SupplierAnswer(error=error)
        try:
            answer.quote = client.find_one(claim.supplier_offer_id)
        except (SupplierError, RateLimitSaturated) as quote_error:
            answer.quote_error = quote_error
        return answer
    except (SupplierError, RateLimitSaturated, ValueError) as error:
        return SupplierAnswer(error=error)
    except Exception as error:
        # A bug of ours: whether the request left is unknown, so the order becomes UNKNOWN.
        logger.exception("create-order for order %s failed unexpectedly", claim.order_id)
        return SupplierAnswer(error=error)
    keys, keys_error = _complete_keys(client, result, claim.returns_key, claim.units)
    return SupplierAnswer(result=result, keys=keys, keys_error=keys_error)


def _expects_keys(result: OrderResult, offer_returns_key: bool | None) -> bool:
    returns_key = result.returns_key if result.returns_key is not None else offer_returns_key
    # Telegram Stars are "return data" products delivered through fulfillmentData, not keys.
    return bool(returns_key) and not result.fulfillment_data


def _complete_keys(
    client, result: OrderResult, offer_returns_key: bool | None, units: int
) -> tuple[tuple[str, ...], SupplierError | None]:
    """The keys of a COMPLETED order; CodeGames may complete one without them: fetch them."""
    keys = result.keys
    if result.status != "COMPLETED" or not _expects_keys(result, offer_returns_key):
        return keys, None
    if len(keys) >= (result.count or units):
        return keys, None
    if isinstance(client, CodeGamesClient) and result.order_id:
        try:
            fetched = client.keys(result.order_id)
        except (SupplierError, RateLimitSaturated) as error:
            if isinstance(error, RateLimitSaturated):
                error = SupplierError(str(error))
            return keys, error
        if len(fetched) > len(keys):
            return fetched, None
    return keys, None


def _submit_record(
    claim: SubmitClaim, answer: SupplierAnswer, *, now: datetime | None = None
) -> Next:
    """Record what create-order said, in one transaction, if the claim is still ours."""
    now = now or timezone.now()
    with transaction.atomic():
        order = _lock(claim.order_id)
        if order.status != S.SUBMITTING or order.claimed_by != claim.token:
            # The lease expired and the sweep made the order UNKNOWN; a real answer still tells
            # the truth, so it resolves the order. Anything else is left to the resolver.
            if answer.result is not None and order.status == S.UNKNOWN:
                _apply_answer(order, answer, now=now, source="create-order (after its lease)")
            else:
                logger.warning(
                    "order %s: claim lost before recording (now %s)", order.pk, order.status
                )
            return Next.DONE
        if answer.result is not None:
            _apply_answer(order, answer, now=now, source="create-order")
            return Next.DONE
        return _record_submit_error(order, answer, now)


def _record_submit_error(order: Order, answer: SupplierAnswer, now: datetime) -> Next:
    error = answer.error
    text = _error_text(error)
    if isinstance(error, TransactionDuplicate):
        _move(
            order,
            S.UNKNOWN,
            reason=(
                "TRANSACTION_DUPLICATE: an earlier create-order with this transactionId landed; "
                "following it with order-status."
            ),
            data=_error_data(error),
            changes={"last_error": text, "next_poll_at": now + polling.UNKNOWN_FIRST_CHECK},
            now=now,
        )
        return Next.RESOLVE_NOW
    if isinstance(error, RateLimitSaturated):
        _move(
            order,
            S.QUEUED,
            reason="Not sent: the account's rate limit is saturated.",
            changes={"last_error": text, "next_poll_at": now + RATE_LIMITED_RETRY},
            now=now,
        )
        enqueue_after_commit("submit_order", [order.pk], countdown=10)
        return Next.DONE
    if isinstance(error, ValueError):
        _move(order, S.REJECTED, reason=f"Not sent: {text}", changes={"last_error": text}, now=now)
        return Next.DONE
    if not isinstance(error, SupplierError) or isinstance(error, OrderOutcomeUnknown):
        _move(
            order,
            S.UNKNOWN,
            reason=(
                "create-order may have created the order (no readable answer); resolving with "
                "order-status by transactionId."
            ),
            data=_error_data(error),
            changes={"last_error": text, "next_poll_at": now + polling.UNKNOWN_FIRST_CHECK},
            now=now,
        )
        enqueue_after_commit(
            "poll_order", [order.pk], countdown=polling.UNKNOWN_FIRST_CHECK.total_seconds()
        )
        return Next.DONE
    if isinstance(error, WrongPrice):
        return _record_wrong_price(order, answer, now)
    if isinstance(error, InsufficientBalance | InvalidToken):
        reason = (
            "INSUFFICIENT_BALANCE: the account's queue is on hold until the balance covers "
            "the next order."
            if isinstance(error, InsufficientBalance)
            else "INVALID_TOKEN: the supplier refused the account's token; the queue is on hold."
        )
        _queue_hold(account_id=order.account_id, reason=reason, now=now)
        _move(
            order,
            S.ON_HOLD,
            reason=reason,
            data=_error_data(error),
            changes={"last_error": text},
            now=now,
        )
        return Next.DONE
    # Every other refusal (OUT_OF_STOCK, OFFER_NOT_FOUND, INVALID_REQUEST_BODY, ...) is final.
    _move(
        order,
        S.REJECTED,
        reason=f"Refused by the supplier: {text}",
        data=_error_data(error),
        changes={"last_error": text},
        now=now,
    )
    return Next.DONE


def _record_wrong_price(order: Order, answer: SupplierAnswer, now: datetime) -> Next:
    quote, currency, limit = answer.quote, order.currency, money(order.max_unit_price)
    if quote is None:
        error = answer.quote_error
        if isinstance(error, OfferNotFound):
            reason = "WRONG_PRICE, and find-one says the offer is no longer available."
            _move(order, S.REJECTED, reason=reason, changes={"last_error": reason}, now=now)
            return Next.DONE
        reason = f"WRONG_PRICE; the re-quote failed ({_error_text(error)}); will try again."
        _move(
            order,
            S.QUEUED,
            reason=reason,
            changes={"last_error": reason, "next_poll_at": now + REQUOTE_FAILED_RETRY},
            now=now,
        )
        return Next.DONE
    old = money(order.price_sent)
    data = {"old_price": str(old), "new_price": str(quote.price), "limit": str(limit)}
    if currency and quote.currency and quote.currency != currency:
        reason = (
            f"WRONG_PRICE: the offer is now priced in {quote.currency} (was {currency}); "
            "not sent again."
        )
        _move(order, S.REJECTED, reason=reason, data=data, changes={"last_error": reason}, now=now)
        return Next.DONE
    if quote.price > limit:
        reason = (
            f"WRONG_PRICE: the supplier's unit price is now {quote.price} {currency}, above your "
            f"limit of {limit} {currency}."
        )
        _move(
            order,
            S.REJECTED,
            reason=reason,
            data=data,
            changes={"last_error": reason, "quoted_price": quote.price},
            now=now,
        )
        return Next.DONE
    if order.submit_attempts >= MAX_SUBMIT_ATTEMPTS:
        reason = (
            f"WRONG_PRICE again after {order.submit_attempts} attempts; the price keeps moving."
        )
        _move(order, S.REJECTED, reason=reason, data=data, changes={"last_error": reason}, now=now)
        return Next.DONE
    _move(
        order,
        S.QUEUED,
        reason=(
            f"WRONG_PRICE: re-quoted {old} → {quote.price} {currency}, within your "
            f"limit of {limit}; sending again with the same transactionId."
        ),
        data=data,
        changes={"quoted_price": quote.price, "last_error": ""},
        now=now,
    )
    return Next.SEND_AGAIN


# --- following the supplier ---------------------------------------------------------------------


def _store_keys(order: Order, keys: tuple[str, ...]) -> int:
    """Store the keys not stored yet (one row per unit, encrypted); return how many are stored."""
    have = set(OrderKey.objects.filter(order=order).values_list("unit_index", flat=True))
    new = [
        OrderKey(order=order, unit_index=index, secret=key)
        for index, key in enumerate(keys)
        if index not in have
    ]
    if new:
        OrderKey.objects.bulk_create(new)
    return len(have) + len(new)


def _apply_answer(order: Order, answer: SupplierAnswer, *, now: datetime, source: str) -> None:
    """Follow what the supplier said about a locked order (inside the caller's transaction)."""
    result = answer.result
    target = SUPPLIER_STATUSES.get(result.status)
    changes: dict = {"supplier_status": result.status[:20], "last_error": ""}
    if result.order_id:
        changes["supplier_order_id"] = result.order_id
    if result.count:
        changes["units"] = result.count
    if result.message:
        changes["supplier_message"] = result.message[:500]
    if result.fulfillment_data:
        changes["fulfillment_data"] = result.fulfillment_data
    data = {
        "source": source,
        "supplier_status": result.status,
        "supplier_order_id": result.order_id,
    }
    if target is None:
        changes["last_error"] = f"The supplier answered an unknown status {result.status[:40]!r}."
        target = S.PROCESSING
    units = changes.get("units", order.units)
    expects_keys = _expects_keys(result, order.offer.returns_key)
    if (
        target == S.COMPLETED
        and expects_keys
        and len(answer.keys) < units
        and answer.keys_error is not None
        and answer.keys_error.is_transient
    ):
        # CodeGames completed it without its key and /offers/keys is not ready: follow it on.
        changes["last_error"] = f"Completed, but its keys are not readable yet: {answer.keys_error}"
        target = S.PROCESSING

    if target == S.COMPLETED:
        _apply_completed(order, answer, changes, data, expects_keys, units, now, source)
    elif target in (S.CANCELED, S.FAILED, S.REFUNDED):
        if order.status != target and can_move(order.status, target):
            message = f": {result.message}" if result.message else ""
            _move(
                order,
                target,
                reason=f"{source}: {result.status}{message}",
                data=data,
                changes=changes,
                now=now,
            )
        else:
            _update(order, changes, now)
    else:
        _apply_pending(order, target, changes, data, now, source)


def _apply_completed(order, answer, changes, data, expects_keys, units, now, source) -> None:
    stored = _store_keys(order, answer.keys) if expects_keys else 0
    delivered = stored if expects_keys else units
    missing = max(0, units - delivered)
    changes["units_delivered"] = delivered
    if missing:
        note = f"Partial delivery: {delivered} of {units} units delivered"
        if answer.keys_error is not None:
            note += f" (the keys could not be fetched: {answer.keys_error})"
        changes["last_error"] = note + "."
    already_known = order.supplier_status == "COMPLETED" and order.status in (
        S.COMPLETED,
        S.NEEDS_ATTENTION,
    )
    if order.status != S.COMPLETED and not already_known and can_move(order.status, S.COMPLETED):
        _move(
            order,
            S.COMPLETED,
            reason=f"{source}: COMPLETED" + (f", {delivered} of {units} units" if missing else ""),
            data={**data, "units": units, "units_delivered": delivered},
            changes=changes,
            now=now,
        )
    elif order.status == S.NEEDS_ATTENTION and already_known and not missing:
        # The missing keys arrived (a re-check).
        _move(
            order,
            S.COMPLETED,
            reason=f"{source}: every unit delivered now",
            data=data,
            changes=changes,
            now=now,
        )
    else:
        _update(order, changes, now)
    if missing and order.status == S.COMPLETED:
        _move(
            order,
            S.NEEDS_ATTENTION,
            reason=changes["last_error"] + " The supplier refunds the missing units.",
            data={"units": units, "units_delivered": delivered},
            changes={"next_poll_at": None},
            now=now,
        )
    elif not missing and order.status == S.COMPLETED and order.email and not order.delivered_at:
        enqueue_after_commit("deliver_order", [order.pk])


def _apply_pending(order, target, changes, data, now, source) -> None:
    if order.status == S.NEEDS_ATTENTION:
        changes["next_poll_at"] = polling.next_attention_poll(
            last_sent_at=order.last_sent_at, now=now
        )
        _update(order, changes, now)
        return
    if polling.is_past_limit(order.last_sent_at, now) and can_move(order.status, S.NEEDS_ATTENTION):
        minutes = int((now - order.last_sent_at).total_seconds() // 60)
        _move(
            order,
            S.NEEDS_ATTENTION,
            reason=f"Still {data['supplier_status']} at the supplier {minutes} minutes after it "
            "was sent (the supplier finishes orders within 60 minutes).",
            data=data,
            changes={
                **changes,
                "next_poll_at": polling.next_attention_poll(
                    last_sent_at=order.last_sent_at, now=now
                ),
            },
            now=now,
        )
        return
    changes["next_poll_at"] = polling.next_pending_poll(
        poll_count=order.poll_count, last_sent_at=order.last_sent_at, now=now
    )
    if order.status == target or (order.status == S.PROCESSING and target == S.SUBMITTED):
        _update(order, changes, now)
    elif can_move(order.status, target):
        _move(
            order,
            target,
            reason=f"{source}: {data['supplier_status']}",
            data=data,
            changes=changes,
            now=now,
        )
    else:
        _update(order, changes, now)


def _update(order: Order, changes: dict, now: datetime) -> None:
    """Write what was learned without a status move; releases a poll lease."""
    fields = {**changes, "updated_at": now}
    if order.status != S.SUBMITTING:
        fields.setdefault("claimed_by", "")
        fields.setdefault("lease_expires_at", None)
    Order.objects.filter(pk=order.pk).update(**fields)
    for name, value in fields.items():
        setattr(order, name, value)


@dataclass(frozen=True)
class PollClaim:
    order_id: int
    token: str
    account_id: int
    status: str
    supplier_order_id: int | None
    transaction_id: str
    returns_key: bool | None
    units: int


def order_poll(*, order_id: int, now: datetime | None = None, force: bool = False) -> Order | None:
    """Ask the supplier about a pending order (order-status) and follow it. UNKNOWN orders are
    asked by transactionId. `force` (an operator's re-check) also re-checks COMPLETED orders and
    ignores the minimum gap between two checks."""
    statuses = POLLED_STATUSES | {S.COMPLETED} if force else POLLED_STATUSES
    return _poll(order_id=order_id, statuses=statuses, now=now, force=force)


def order_resolve_unknown(*, order_id: int, now: datetime | None = None) -> Order | None:
    """Resolve an UNKNOWN order by order-status with its transactionId: found → follow it;
    ORDER_NOT_FOUND → QUEUED, sent again with the same transactionId."""
    return _poll(order_id=order_id, statuses={S.UNKNOWN}, now=now, force=False)


def _poll(*, order_id, statuses, now, force) -> Order | None:
    claim = _poll_claim(order_id=order_id, statuses=statuses, now=now, force=force)
    if claim is not None:
        answer = _poll_fetch(claim)
        _poll_record(claim, answer, now=now)
    return Order.objects.filter(pk=order_id).first()


def _poll_claim(*, order_id, statuses, now=None, force=False) -> PollClaim | None:
    now = now or timezone.now()
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("offer", "account")
            .filter(pk=order_id, status__in=list(statuses))
            .first()
        )
        if order is None:
            return None
        if order.lease_expires_at is not None and order.lease_expires_at > now:
            return None  # another worker is asking right now
        if (
            not force
            and order.last_polled_at is not None
            and now - order.last_polled_at < MIN_POLL_GAP
        ):
            return None
        token = _claim_token()
        Order.objects.filter(pk=order.pk).update(
            claimed_by=token,
            lease_expires_at=now + polling.call_lease(order.account, attempts=2),
            poll_count=order.poll_count + 1,
            last_polled_at=now,
            updated_at=now,
        )
        return PollClaim(
            order_id=order.pk,
            token=token,
            account_id=order.account_id,
            status=order.status,
            supplier_order_id=order.supplier_order_id,
            transaction_id=order.transaction_id,
            returns_key=order.offer.returns_key,
            units=order.units,
        )


def _poll_fetch(claim: PollClaim) -> SupplierAnswer:
    account = SupplierAccount.objects.get(pk=claim.account_id)
    client = supplier_client(account, max_retries=1)
    by_transaction_id = claim.status == S.UNKNOWN or not claim.supplier_order_id
    try:
        if by_transaction_id:
            result = client.order_status(transaction_id=claim.transaction_id)
        else:
            result = client.order_status(order_id=claim.supplier_order_id)
    except (SupplierError, RateLimitSaturated, ValueError) as error:
        return SupplierAnswer(error=error, by_transaction_id=by_transaction_id)
    keys, keys_error = _complete_keys(client, result, claim.returns_key, claim.units)
    return SupplierAnswer(
        result=result, keys=keys, keys_error=keys_error, by_transaction_id=by_transaction_id
    )


def _poll_record(claim: PollClaim, answer: SupplierAnswer, *, now=None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        order = _lock(claim.order_id)
        if order.status not in POLLED_STATUSES | {S.COMPLETED}:
            return  # it moved on meanwhile (the submit recorded late, an operator acted)
        if answer.result is not None:
            _apply_answer(order, answer, now=now, source="order-status")
            return
        error = answer.error
        if (
            isinstance(error, OrderNotFound)
            and answer.by_transaction_id
            and order.supplier_order_id is None
            and order.status in (S.UNKNOWN, S.NEEDS_ATTENTION)
        ):
            _move(
                order,
                S.QUEUED,
                reason=(
                    "ORDER_NOT_FOUND by transactionId: the supplier has no order under it; "
                    "sending again with the same transactionId."
                ),
                data=_error_data(error),
                changes={"last_error": ""},
                now=now,
            )
            enqueue_after_commit("submit_order", [order.pk])
            return
        text = f"Status check failed: {_error_text(error)}"[:ERROR_TEXT_LIMIT]
        pending = order.status in (S.SUBMITTED, S.PROCESSING, S.UNKNOWN)
        if pending and polling.is_past_limit(order.last_sent_at, now):
            _move(
                order,
                S.NEEDS_ATTENTION,
                reason=f"Not finished 60 minutes after it was sent; {text}",
                data=_error_data(error),
                changes={
                    "last_error": text,
                    "next_poll_at": polling.next_attention_poll(
                        last_sent_at=order.last_sent_at, now=now
                    ),
                },
                now=now,
            )
            return
        if order.status == S.NEEDS_ATTENTION:
            next_poll = polling.next_attention_poll(last_sent_at=order.last_sent_at, now=now)
        elif pending:
            next_poll = polling.next_pending_poll(
                poll_count=order.poll_count, last_sent_at=order.last_sent_at, now=now
            )
        else:
            next_poll = order.next_poll_at
        _update(order, {"last_error": text, "next_poll_at": next_poll}, now)


# --- the sweep ----------------------------------------------------------------------------------


@dataclass
class SweepReport:
    expired_leases: int = 0
    past_limit: int = 0
    released: int = 0
    polls: int = 0
    requeued: int = 0
    account_checks: int = 0
    confirmations: int = 0


def orders_sweep(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> SweepReport:
    """The beat-driven sweep: rebuild all pending work from the rows.

    (a) SUBMITTING orders whose lease expired → UNKNOWN (the worker died around the call);
    (e) pending orders nobody polled past the 60-minute limit → NEEDS_ATTENTION;
    (d) released ON_HOLD orders of a resumed account → QUEUED, and held accounts due for a
        balance check → one check task each;
    (b) due SUBMITTED / PROCESSING / UNKNOWN / NEEDS_ATTENTION orders → one poll task each;
    (c) QUEUED orders no worker claimed in time (a lost message) → their submit task again;
    (f) batches left CONFIRMING by a lost task or worker → their confirmation task again.

    Every step is one indexed query with a LIMIT (plus one UPDATE, and one move per due order),
    so the cost follows the due orders, not the pending ones. Rows are claimed with SKIP LOCKED
    and pushed ahead (`next_poll_at`) before their task is sent, so overlapping sweeps do not
    enqueue an order twice.
    """
    now = now or timezone.now()
    report = SweepReport()
    report.expired_leases = _sweep_expired_leases(now, limit)
    report.past_limit = _sweep_past_limit(now, limit)
    report.released = _release_held_orders(now=now, limit=limit)
    report.polls = _sweep_enqueue(
        statuses=POLLED_STATUSES,
        task="poll_order",
        now=now,
        limit=limit,
        push=polling.ENQUEUED_GRACE,
    )
    report.requeued = _sweep_enqueue(
        statuses={S.QUEUED},
        task="submit_order",
        now=now,
        limit=limit,
        push=polling.QUEUED_RESCUE_AFTER,
    )
    report.account_checks = _sweep_held_accounts(now, limit)
    report.confirmations = _sweep_stalled_confirmations(now)
    if any(
        (
            report.expired_leases,
            report.past_limit,
            report.polls,
            report.requeued,
            report.confirmations,
        )
    ):
        logger.info("orders sweep: %s", report)
    return report


def _sweep_stalled_confirmations(now: datetime) -> int:
    # No lock needed: two overlapping sweeps at worst send the task twice, and the task does
    # nothing for a batch no longer CONFIRMING (it locks the batch row to check).
    stalled = Batch.objects.filter(
        status=Batch.Status.CONFIRMING,
        confirm_requested_at__lte=now - polling.CONFIRM_RESCUE_AFTER,
    )
    ids = list(stalled.values_list("pk", flat=True))
    if ids:
        stalled.filter(pk__in=ids).update(confirm_requested_at=now, updated_at=now)
        enqueue_after_commit("confirm_batch", ids)
    return len(ids)


def _sweep_expired_leases(now: datetime, limit: int) -> int:
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(status=S.SUBMITTING, lease_expires_at__lte=now)
            .order_by("lease_expires_at")[:limit]
        )
        for order in orders:
            _move(
                order,
                S.UNKNOWN,
                reason=(
                    "The claim's lease expired: the worker stopped between the claim and the "
                    "recording, so whether create-order was sent is unknown; resolving by "
                    "transactionId."
                ),
                changes={
                    "last_error": "Lease expired while submitting; outcome unknown.",
                    "next_poll_at": now,
                },
                now=now,
            )
    return len(orders)


def _sweep_past_limit(now: datetime, limit: int) -> int:
    cutoff = now - polling.PENDING_LIMIT - polling.PENDING_LIMIT_GRACE
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=[S.SUBMITTED, S.PROCESSING, S.UNKNOWN],
                last_sent_at__lte=cutoff,
            )
            .order_by("last_sent_at")[:limit]
        )
        for order in orders:
            reason = (
                f"Still {order.status} more than 60 minutes after it was sent, and no status "
                "check reached it; one more check follows."
            )
            _move(
                order,
                S.NEEDS_ATTENTION,
                reason=reason,
                changes={"last_error": reason, "next_poll_at": now},
                now=now,
            )
    return len(orders)


def _sweep_enqueue(*, statuses, task: str, now: datetime, limit: int, push: timedelta) -> int:
    with transaction.atomic():
        ids = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(status__in=list(statuses), next_poll_at__lte=now)
            .order_by("next_poll_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Order.objects.filter(pk__in=ids).update(next_poll_at=now + push)
            enqueue_after_commit(task, ids)
    return len(ids)


def _sweep_held_accounts(now: datetime, limit: int) -> int:
    from django.db.models import Q

    with transaction.atomic():
        ids = list(
            AccountQueue.objects.select_for_update(skip_locked=True)
            .filter(on_hold=True)
            .filter(Q(next_check_at__lte=now) | Q(next_check_at__isnull=True))
            .values_list("account_id", flat=True)[:limit]
        )
        if ids:
            AccountQueue.objects.filter(account_id__in=ids).update(
                next_check_at=now + polling.HOLD_CHECK_EVERY
            )
            enqueue_after_commit("check_account_queue", ids)
    return len(ids)


def _release_held_orders(*, now: datetime, limit: int, account_id: int | None = None) -> int:
    """Move released ON_HOLD orders (their queue resumed: `next_poll_at` set) back to QUEUED."""
    with transaction.atomic():
        orders = Order.objects.select_for_update(skip_locked=True).filter(
            status=S.ON_HOLD, next_poll_at__lte=now
        )
        if account_id is not None:
            orders = orders.filter(account_id=account_id)
        orders = list(orders.order_by("next_poll_at", "pk")[:limit])
        for order in orders:
            _move(order, S.QUEUED, reason="The account's queue resumed.", now=now)
        enqueue_after_commit("submit_order", [order.pk for order in orders])
    return len(orders)


# --- the account queue --------------------------------------------------------------------------


def _queue_hold(*, account_id: int, reason: str, now: datetime) -> AccountQueue:
    queue, _ = AccountQueue.objects.select_for_update().get_or_create(account_id=account_id)
    newly = not queue.on_hold
    queue.on_hold = True
    queue.hold_reason = reason[:500]
    queue.held_since = queue.held_since if not newly else now
    queue.next_check_at = now + polling.HOLD_CHECK_EVERY
    queue.save()
    if newly:
        audit_record(
            action="order_queue.held",
            target_type="suppliers.supplieraccount",
            target_id=str(account_id),
            data={"reason": reason},
        )
    return queue


def account_queue_resume(
    *,
    account: SupplierAccount,
    by=None,
    request=None,
    reason: str = "Resumed by an operator.",
    now: datetime | None = None,
) -> int:
    """Take the account's queue off hold and send its held orders again, oldest first.
    Returns how many were moved back to QUEUED now (the sweep moves the rest)."""
    now = now or timezone.now()
    with transaction.atomic():
        queue, _ = AccountQueue.objects.select_for_update().get_or_create(account=account)
        was_held, hold_reason = queue.on_hold, queue.hold_reason
        queue.on_hold = False
        queue.hold_reason = ""
        queue.held_since = None
        queue.next_check_at = None
        queue.save()
        held = Order.objects.filter(account=account, status=S.ON_HOLD).update(
            next_poll_at=now, updated_at=now
        )
        audit_record(
            action="order_queue.resumed",
            actor=by,
            request=request,
            target=account,
            data={"reason": reason, "was_held": was_held, "hold_reason": hold_reason, "held": held},
        )
    return _release_held_orders(now=now, limit=RELEASE_CHUNK, account_id=account.pk)


def _usd_cost(order: Order) -> Decimal | None:
    price = order.price_sent if order.price_sent is not None else order.quoted_price
    if price is None:
        return None
    if order.currency in ("USD", ""):
        rate = Decimal(1)
    else:
        rate = (
            CurrencyRate.objects.filter(currency=order.currency)
            .values_list("usd_per_unit", flat=True)
            .first()
        )
        if rate is None:
            return None
    return (price * rate).quantize(Decimal("0.01")) * order.units


def account_queue_check(*, account_id: int, now: datetime | None = None) -> bool:
    """A held account's check (the sweep's task): resume once the balance covers the next held
    order (postpaid accounts: at once). CodeGames has no balance endpoint: its queue is resumed
    on trial every few minutes; the next order either goes through or holds it again."""
    now = now or timezone.now()
    queue = (
        AccountQueue.objects.select_related("account")
        .filter(account_id=account_id, on_hold=True)
        .first()
    )
    if queue is None:
        return False
    account = queue.account
    if account.kind == SupplierKind.CODEGAMES:
        if queue.held_since is None or now - queue.held_since >= polling.HOLD_PROBE_EVERY:
            account_queue_resume(
                account=account,
                reason="Trial resume: CodeGames has no balance endpoint to check.",
                now=now,
            )
            return True
        return False
    try:
        balance = supplier_client(account, max_retries=1).balance()
    except (SupplierError, RateLimitSaturated) as error:
        AccountQueue.objects.filter(pk=queue.pk).update(
            last_check_at=now,
            last_check_message=f"Balance check failed: {_error_text(error)}"[:500],
        )
        return False
    next_held = (
        Order.objects.filter(account_id=account_id, status=S.ON_HOLD)
        .order_by("created_at", "pk")
        .first()
    )
    needed = _usd_cost(next_held) if next_held is not None else Decimal(0)
    if balance.is_postpaid:
        funded, message = True, "The account is postpaid."
    elif needed is not None:
        funded = balance.balance >= needed
        message = f"Balance {balance.balance} USD; the next held order needs {needed} USD."
    else:
        # The held order's USD cost is unknown (no exchange rate): resume once money came in.
        funded = queue.last_seen_balance is not None and balance.balance > queue.last_seen_balance
        message = f"Balance {balance.balance} USD; the next order's USD cost is unknown."
    AccountQueue.objects.filter(pk=queue.pk).update(
        last_check_at=now, last_check_message=message[:500], last_seen_balance=balance.balance
    )
    if funded:
        account_queue_resume(account=account, reason=f"Funded. {message}", now=now)
    return funded


# --- operator actions ---------------------------------------------------------------------------


def order_retry(*, order: Order, by, request=None, now: datetime | None = None) -> Order:
    """Retry a REJECTED order: check the price with find-one, then QUEUED under a new
    transactionId (the refusal proved that no order exists under the old one, kept in history)."""
    if order.status != S.REJECTED:
        raise OrderActionRefused("Only a rejected order can be retried.")
    client = supplier_client(order.account, max_retries=1)
    try:
        quote = client.find_one(order.offer.offer_id)
    except OfferNotFound:
        raise OrderActionRefused("The supplier no longer offers this product.") from None
    except (SupplierError, RateLimitSaturated) as error:
        raise OrderActionRefused(f"Could not check the price: {_error_text(error)}") from None
    if order.currency and quote.currency and quote.currency != order.currency:
        raise OrderActionRefused(
            f"The offer is now priced in {quote.currency}, not {order.currency}; place a new order."
        )
    if quote.price > order.max_unit_price:
        audit_record(
            action="order.retry_refused",
            actor=by,
            request=request,
            target=order,
            data={"price": str(quote.price), "limit": str(order.max_unit_price)},
        )
        raise PriceAboveLimit(
            f"The unit price is now {quote.price} {order.currency}, above the limit of "
            f"{money(order.max_unit_price)} {order.currency}."
        )
    now = now or timezone.now()
    with transaction.atomic():
        order = _lock(order.pk)
        if order.status != S.REJECTED:
            raise OrderActionRefused("Only a rejected order can be retried.")
        old, new = order.transaction_id, new_transaction_id()
        history, _ = OrderTransactionId.objects.get_or_create(
            transaction_id=old, defaults={"order": order, "created_at": order.created_at}
        )
        history.retired_at = now
        history.retired_reason = "Refused by the supplier (nothing created); replaced by a retry."
        history.save(update_fields=["retired_at", "retired_reason"])
        OrderTransactionId.objects.create(order=order, transaction_id=new, created_at=now)
        _move(
            order,
            S.QUEUED,
            actor=by,
            reason=f"Retried: new transactionId, price checked at {quote.price} {order.currency}.",
            data={"old_transaction_id": old, "new_transaction_id": new},
            changes={
                "transaction_id": new,
                "quoted_price": quote.price,
                "price_sent": None,
                "submitted_at": None,
                "last_sent_at": None,
                "supplier_order_id": None,
                "supplier_status": "",
                "supplier_message": "",
                "last_error": "",
                "poll_count": 0,
            },
            now=now,
        )
        if order.batch_id:
            Batch.objects.filter(pk=order.batch_id, status=Batch.Status.DONE).update(
                status=Batch.Status.RUNNING, finished_at=None
            )
        audit_record(
            action="order.retried",
            actor=by,
            request=request,
            target=order,
            data={"old_transaction_id": old, "new_transaction_id": new, "price": str(quote.price)},
        )
        enqueue_after_commit("submit_order", [order.pk])
    return order


def order_recheck(*, order: Order, by, request=None, now: datetime | None = None) -> Order:
    """Ask the supplier for the order's status now."""
    if order.status not in POLLED_STATUSES | {S.COMPLETED}:
        raise OrderActionRefused(
            f"A {S(order.status).label.lower()} order has no supplier status to check."
        )
    audit_record(action="order.rechecked", actor=by, request=request, target=order)
    claim = _poll_claim(
        order_id=order.pk, statuses=POLLED_STATUSES | {S.COMPLETED}, now=now, force=True
    )
    if claim is None:
        raise OrderActionRefused("A status check of this order is running already.")
    _poll_record(claim, _poll_fetch(claim), now=now)
    return Order.objects.get(pk=order.pk)


def order_withdraw(*, order: Order, by, reason: str = "", request=None) -> Order:
    """Cancel an order that was never sent (QUEUED or ON_HOLD)."""
    with transaction.atomic():
        order = _lock(order.pk)
        if order.status not in (S.QUEUED, S.ON_HOLD):
            raise OrderActionRefused(
                f"Only a queued or held order can be withdrawn; this one is "
                f"{S(order.status).label.lower()}."
            )
        _move(order, S.WITHDRAWN, actor=by, reason=reason.strip() or "Withdrawn by an operator.")
        audit_record(
            action="order.withdrawn",
            actor=by,
            request=request,
            target=order,
            data={"reason": reason},
        )
    return order


def order_mark_resolved(*, order: Order, by, comment: str, request=None) -> Order:
    """Close a NEEDS_ATTENTION order with the operator's comment (required)."""
    comment = (comment or "").strip()
    if not comment:
        raise OrderActionRefused("Say how it was resolved.")
    with transaction.atomic():
        order = _lock(order.pk)
        if order.status != S.NEEDS_ATTENTION:
            raise OrderActionRefused("Only an order that needs attention can be marked resolved.")
        _move(order, S.RESOLVED, actor=by, reason=comment, changes={"next_poll_at": None})
        audit_record(
            action="order.resolved",
            actor=by,
            request=request,
            target=order,
            data={"comment": comment},
        )
    return order


# --- batches ------------------------------------------------------------------------------------


def batch_create(*, name: str, source_filename: str = "", by=None) -> Batch:
    return Batch.objects.create(
        name=name[:200],
        source_filename=source_filename[:255],
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )


def _schedule_batch(batch: Batch, now: datetime) -> None:
    ids = list(Order.objects.filter(batch=batch, status=S.QUEUED).values_list("pk", flat=True))
    Order.objects.filter(pk__in=ids).update(
        next_poll_at=now + polling.QUEUED_RESCUE_AFTER, updated_at=now
    )
    enqueue_after_commit("submit_order", ids)


def batch_confirm(*, batch: Batch, by, request=None) -> Batch:
    """PREVIEW (or CONFIRMING, once its orders exist) → CONFIRMED: the batch's orders are sent.
    An operator confirms an uploaded file through `orders.batch_preview`, which creates the
    orders first and then calls this."""
    now = timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status not in (Batch.Status.PREVIEW, Batch.Status.CONFIRMING):
            raise OrderActionRefused("This batch has been confirmed already.")
        batch.status, batch.confirmed_at = Batch.Status.CONFIRMED, now
        batch.confirmed_by = batch.confirmed_by or by
        batch.save(update_fields=["status", "confirmed_at", "confirmed_by", "updated_at"])
        _schedule_batch(batch, now)
        audit_record(action="batch.confirmed", actor=by, request=request, target=batch)
    return batch


def batch_pause(*, batch: Batch, by, request=None) -> Batch:
    """Stop sending the batch's QUEUED orders (orders already sent are still followed)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status not in (Batch.Status.CONFIRMED, Batch.Status.RUNNING):
            raise OrderActionRefused("Only a confirmed or running batch can be paused.")
        batch.status_before_pause, batch.status = batch.status, Batch.Status.PAUSED
        batch.save(update_fields=["status", "status_before_pause", "updated_at"])
        Order.objects.filter(batch=batch, status=S.QUEUED).update(
            next_poll_at=None, updated_at=timezone.now()
        )
        audit_record(action="batch.paused", actor=by, request=request, target=batch)
    return batch


def batch_resume(*, batch: Batch, by, request=None) -> Batch:
    now = timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status != Batch.Status.PAUSED:
            raise OrderActionRefused("Only a paused batch can be resumed.")
        batch.status = batch.status_before_pause or Batch.Status.RUNNING
        batch.status_before_pause = ""
        batch.save(update_fields=["status", "status_before_pause", "updated_at"])
        _schedule_batch(batch, now)
        audit_record(action="batch.resumed", actor=by, request=request, target=batch)
        _batch_refresh(batch.pk, now)
    batch.refresh_from_db()
    return batch


def _batch_refresh(batch_id: int, now: datetime) -> None:
    if not Order.objects.filter(batch_id=batch_id, status__in=list(OPEN_STATUSES)).exists():
        Batch.objects.filter(
            pk=batch_id, status__in=[Batch.Status.CONFIRMED, Batch.Status.RUNNING]
        ).update(status=Batch.Status.DONE, finished_at=now)


# --- the key vault ------------------------------------------------------------------------------


def order_key_reveal(*, order: Order, user, request=None) -> list[str]:
    """The order's keys in clear, for a user holding `orders.reveal_key`. Every attempt is
    audited, a refused one too (then PermissionDenied)."""
    if not user.has_perm("orders.reveal_key"):
        audit_record(action="order.key_reveal_denied", actor=user, request=request, target=order)
        raise PermissionDenied("You are not allowed to reveal keys.")
    keys = list(order.keys.order_by("unit_index").values_list("secret", flat=True))
    audit_record(
        action="order.key_revealed",
        actor=user,
        request=request,
        target=order,
        data={"units": len(keys)},
    )
    return keys


def batch_keys_export(*, batch: Batch, user, request=None) -> list[dict]:
    """Every key of a batch as rows, for a user holding `orders.export_keys` (audited; a refused
    attempt too)."""
    if not user.has_perm("orders.export_keys"):
        audit_record(action="batch.keys_export_denied", actor=user, request=request, target=batch)
        raise PermissionDenied("You are not allowed to export keys.")
    rows = [
        {
            "row_number": key.order.row_number,
            "order_id": key.order_id,
            "transaction_id": key.order.transaction_id,
            "customer_reference": key.order.customer_reference,
            "product": key.order.offer.product_name,
            "offer": key.order.offer.offer_name,
            "unit": key.unit_index + 1,
            "key": key.secret,
        }
        for key in OrderKey.objects.filter(order__batch=batch)
        .select_related("order__offer")
        .order_by("order__row_number", "order_id", "unit_index")
    ]
    audit_record(
        action="batch.keys_exported",
        actor=user,
        request=request,
        target=batch,
        data={"keys": len(rows), "orders": len({row["order_id"] for row in rows})},
    )
    return rows


# --- delivery -----------------------------------------------------------------------------------


def _delivery_message(order: Order, keys: list[str]) -> EmailMessage:
    context = {
        "order": order,
        "product": order.offer.product_name,
        "offer_name": order.offer.offer_name,
        "keys": keys,
        "fulfillment": order.fulfillment_data,
    }
    template = "orders/email/key_delivery.txt" if keys else "orders/email/topup_delivery.txt"
    subject = render_to_string("orders/email/subject.txt", context).strip().splitlines()[0]
    return EmailMessage(subject=subject, body=render_to_string(template, context), to=[order.email])


def order_deliver(
    *, order: Order, by=None, resend: bool = False, request=None, now: datetime | None = None
) -> bool:
    """Email the key(s) (or the top-up confirmation) to the customer, once. Returns whether a
    message was sent; a second delivery needs `resend=True` and is audited."""
    now = now or timezone.now()
    with transaction.atomic():
        order = _lock(order.pk)
        if not order.email:
            raise OrderActionRefused("The order has no customer email.")
        has_keys = order.keys.exists()
        if order.status != S.COMPLETED and not has_keys:
            raise OrderActionRefused("Only a completed order can be delivered.")
        if order.delivered_at is not None and not resend:
            return False
        if (
            order.delivery_started_at is not None
            and now - order.delivery_started_at < DELIVERY_CLAIM
        ):
            return False  # another delivery of it is being sent
        Order.objects.filter(pk=order.pk).update(delivery_started_at=now)
    keys = list(order.keys.order_by("unit_index").values_list("secret", flat=True))
    try:
        _delivery_message(order, keys).send()
    except Exception:
        Order.objects.filter(pk=order.pk).update(delivery_started_at=None)
        raise
    Order.objects.filter(pk=order.pk).update(
        delivered_at=now,
        delivered_to=order.email,
        delivery_count=order.delivery_count + 1,
        delivery_started_at=None,
        updated_at=now,
    )
    if resend or by is not None:
        audit_record(
            action="order.delivery_resent" if resend else "order.delivered",
            actor=by,
            request=request,
            target=order,
            data={"to": order.email, "units": len(keys)},
        )
    return True


# --- the whitelist of operator actions ----------------------------------------------------------


@dataclass(frozen=True)
class OperatorAction:
    label: str
    permission: str
    service: object


#: The operator actions a view may call by name, each with the permission it needs.
ORDER_ACTIONS = {
    "retry": OperatorAction("Retry", "orders.change_order", order_retry),
    "recheck": OperatorAction("Re-check status", "orders.change_order", order_recheck),
    "withdraw": OperatorAction("Cancel (withdraw)", "orders.change_order", order_withdraw),
    "mark_resolved": OperatorAction("Mark resolved", "orders.change_order", order_mark_resolved),
    "resend": OperatorAction("Re-send to the customer", "orders.change_order", order_deliver),
}
#: A batch's "confirm" is the preview's (orders.batch_preview.PREVIEW_ACTIONS): it creates the
#: orders of the uploaded file's good rows before confirming.
BATCH_ACTIONS = {
    "pause": OperatorAction("Pause", "orders.change_batch", batch_pause),
    "resume": OperatorAction("Resume", "orders.change_batch", batch_resume),
}
ACCOUNT_QUEUE_ACTIONS = {
    "resume": OperatorAction(
        "Resume the queue", "orders.change_accountqueue", account_queue_resume
    ),
}
