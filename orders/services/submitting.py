"""Sending an order exactly once: claim (a lease), call create-order outside any transaction,
record the answer. Each step is its own function so tests can stop a worker between them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from catalog.pricing import usd_cost
from catalog.selectors import currency_rate_at
from catalog.services import offer_mark_out_of_stock
from orders import schedule
from orders.batches.states import batches_transition
from orders.dispatch import enqueue_poll_after_commit, enqueue_submit_after_commit
from orders.models import AccountQueue, Batch, Order, OrderStatus
from orders.services.account_queue import account_queue_hold
from orders.services.following import (
    SupplierAnswer,
    apply_answer,
    complete_keys,
    order_flag_found,
    order_follow_found,
    order_resolve_unknown,
)
from orders.services.limits import (
    MAX_SENDS_PER_TASK,
    MAX_SUBMIT_ATTEMPTS,
    RATE_LIMITED_RETRY,
    REQUOTE_FAILED_RETRY,
)
from orders.services.lost_answers import order_flag_lost_answer
from orders.services.moving import (
    order_lock,
    order_move,
)
from orders.services.records import (
    error_data,
    error_text,
    money,
    new_claim_token,
)
from orders.services.rerouting import order_reroute
from reseller.core.services import audit_record
from suppliers.capabilities import capabilities_of
from suppliers.clients import (
    InsufficientBalance,
    InvalidToken,
    OfferNotFound,
    OrderOutcomeUnknown,
    OutOfStock,
    SupplierError,
    TransactionDuplicate,
    WrongPrice,
)
from suppliers.models import SupplierAccount
from suppliers.ratelimit import RateLimiterUnreachable, RateLimitSaturated
from suppliers.services import supplier_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitClaim:
    """What a worker holds between the claim and the recording: the lease token and the call."""

    order_id: int
    token: str
    account: SupplierAccount  # loaded with the claim: the call needs its settings
    supplier_offer_id: int
    price: Decimal
    transaction_id: str
    email: str | None
    game_user_id: str | None
    game_server_id: str | None
    returns_key: bool | None
    units: int


class Next(Enum):
    DONE = "done"
    SEND_AGAIN = "send again"
    RESOLVE_NOW = "resolve now"


def order_submit(
    *, order_id: int, now: datetime | None = None, reload: bool = True
) -> Order | None:
    """The submit task's body: claim, call create-order once, record. Safe to run twice at once:
    only the worker whose claim succeeded calls the supplier. Returns the order as it is then
    (the task, which does not need it, passes ``reload=False``)."""
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
    return Order.objects.filter(pk=order_id).first() if reload else None


# Read with the claim (one statement less per order): is the order's account queue on hold?
_account_on_hold = Exists(
    AccountQueue.objects.filter(account_id=OuterRef("account_id"), on_hold=True)
)


def _submit_claim(*, order_id: int, now: datetime | None = None) -> SubmitClaim | None:
    """Claim a QUEUED order (SKIP LOCKED), move it to SUBMITTING with a lease, commit."""
    now = now or timezone.now()
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("offer", "account", "batch")
            .annotate(account_on_hold=_account_on_hold)
            .filter(pk=order_id, status=OrderStatus.QUEUED)
            .first()
        )
        if order is None:
            return None
        if order.batch is not None and not order.batch.accepts_submissions:
            # Paused or not confirmed yet: batch_resume / batch_confirm schedule it again.
            Order.objects.filter(pk=order.pk).update(next_poll_at=None, updated_at=now)
            return None
        if order.account_on_hold:
            order_move(
                order, OrderStatus.ON_HOLD, reason="The account's order queue is on hold.", now=now
            )
            _route_elsewhere_unsent(order, now)
            return None
        if not order.account.enabled:
            Order.objects.filter(pk=order.pk).update(
                last_error="The supplier account is disabled; the order waits.",
                next_poll_at=now + schedule.queued_rescue_after(),
                updated_at=now,
            )
            return None
        price = money(order.quoted_price if order.quoted_price is not None else order.offer.price)
        # The cost at the rate valid now, kept with the order: what the supplier should debit.
        rate = currency_rate_at(order.currency, now)
        token = new_claim_token()
        order_move(
            order,
            OrderStatus.SUBMITTING,
            reason="Claimed for create-order.",
            data={"attempt": order.submit_attempts + 1, "transaction_id": order.transaction_id},
            changes={
                "claimed_by": token,
                "lease_expires_at": now + schedule.call_lease(order.account),
                "submit_attempts": order.submit_attempts + 1,
                "price_sent": price,
                "usd_rate": rate,
                "usd_cost": None if rate is None else usd_cost(price, order.units, rate),
                "submitted_at": order.submitted_at or now,
                "last_sent_at": now,
                "pending_polls": 0,
                "last_error": "",
            },
            now=now,
        )
        if order.batch is not None and order.batch.status == Batch.Status.CONFIRMED:
            # Other workers may be claiming the batch's first orders too: one of them moves it.
            batches_transition(
                Batch.objects.filter(pk=order.batch.pk),
                Batch.Status.RUNNING,
                from_statuses=[Batch.Status.CONFIRMED],
                now=now,
            )
        customer = _customer(order)
        return SubmitClaim(
            order_id=order.pk,
            token=token,
            account=order.account,
            supplier_offer_id=order.offer.offer_id,
            price=price,
            transaction_id=order.transaction_id,
            email=customer["email"],
            game_user_id=customer["game_user_id"],
            game_server_id=customer["game_server_id"],
            returns_key=order.offer.returns_key,
            units=order.units,
        )


def _route_elsewhere_unsent(order: Order, now: datetime) -> None:
    """An order for a product is routed when it is sent: one waiting on an account whose queue
    was held after it was routed (a batch's orders are routed at confirmation, and the first
    INSUFFICIENT_BALANCE holds the queue for the rest) takes the product's next route instead of
    waiting. Only while its transactionId has never been sent: nothing can have been bought."""
    if order.product_id is None or order.submit_attempts:
        return
    if order_reroute(order, refusal="the account's order queue is on hold", now=now):
        enqueue_submit_after_commit([order])


def _customer(order: Order) -> dict[str, str | None]:
    """What create-order's `customer` carries: the email only where the supplier's API takes
    one, and the player fields the order has; when find-one listed the offer's `required`
    fields (CodeGames), only those."""
    required = set(order.offer.required_fields or ())
    fields = {
        "email": order.email if capabilities_of(order.account).customer_email else "",
        "game_user_id": order.game_user_id,
        "game_server_id": order.game_server_id,
    }
    if required:
        wanted = {"gameUserId": "game_user_id", "gameServerId": "game_server_id"}
        listed = {wanted[name] for name in required if name in wanted}
        fields = {
            name: value if name in listed or name == "email" else ""
            for name, value in fields.items()
        }
    return {name: value or None for name, value in fields.items()}


def _submit_send(claim: SubmitClaim) -> SupplierAnswer:
    """The HTTP step, outside any transaction: create-order, then what its answer calls for
    (the keys of a CodeGames order completed without them; find-one after WRONG_PRICE)."""
    client = supplier_client(claim.account, max_retries=1)
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
    keys, keys_error = complete_keys(
        client, result, claim.returns_key, claim.units, account=claim.account
    )
    return SupplierAnswer(result=result, keys=keys, keys_error=keys_error)


def _submit_record(
    claim: SubmitClaim, answer: SupplierAnswer, *, now: datetime | None = None
) -> Next:
    """Record what create-order said, in one transaction, if the claim is still ours."""
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(claim.order_id)
        if order.status != OrderStatus.SUBMITTING or order.claimed_by != claim.token:
            _record_late_answer(order, claim, answer, now)
            return Next.DONE
        if answer.result is not None:
            apply_answer(order, answer, now=now, source="create-order")
            return Next.DONE
        return _record_submit_error(order, answer, now)


def _record_late_answer(
    order: Order, claim: SubmitClaim, answer: SupplierAnswer, now: datetime
) -> None:
    """create-order answered after the lease expired and the order moved on. An error changes
    nothing (the order is being resolved by order-status). A result proves the supplier has an
    order under the claim's transactionId, so it is never dropped."""
    result = answer.result
    if result is None:
        logger.warning("order %s: claim lost before recording (now %s)", order.pk, order.status)
        return
    if (
        result.order_id
        and order.awaits_supplier_outcome
        and order.transaction_id == claim.transaction_id
    ):
        # The answer a person was asked to look for: it names the order.
        order_follow_found(
            order,
            answer,
            supplier_order_id=result.order_id,
            reason=(
                f"create-order answered after its lease: supplier order {result.order_id} "
                f"({result.status})."
            ),
            now=now,
        )
        return
    if order.transaction_id != claim.transaction_id:
        # Retried under a new transactionId meanwhile (order_retry asks order-status first, so
        # only a call landing within moments of that check gets here): two purchases may exist.
        logger.error(
            "order %s: a late create-order answer shows a purchase under its former "
            "transactionId (supplier order %s)",
            order.pk,
            result.order_id,
        )
        audit_record(
            action="order.late_purchase",
            actor=None,
            target=order,
            data={
                "former_transaction_id": claim.transaction_id,
                "supplier_order_id": result.order_id,
                "supplier_status": result.status,
            },
        )
        return
    if order.status == OrderStatus.UNKNOWN:
        apply_answer(order, answer, now=now, source="create-order (after its lease)")
    elif order.status in (OrderStatus.REJECTED, OrderStatus.WITHDRAWN):
        order_flag_found(
            order,
            result,
            keys=answer.keys,
            reason=(
                f"create-order answered {result.status} after its lease, when the order was "
                f"already {OrderStatus(order.status).label.lower()}: the supplier has an order under its "
                "transactionId."
            ),
            now=now,
        )
    else:
        # QUEUED, ON_HOLD or claimed again: the next send with the same transactionId gets
        # TRANSACTION_DUPLICATE and is followed by order-status; polling follows the rest.
        logger.warning(
            "order %s: a late create-order answer (%s) left to the resolver (now %s)",
            order.pk,
            result.status,
            order.status,
        )


def _record_submit_error(order: Order, answer: SupplierAnswer, now: datetime) -> Next:
    error = answer.error
    if error is None:
        raise ValueError("an answer without a result carries the error that replaced it")
    text = error_text(error)
    if _may_have_created(error) and not capabilities_of(order.account).status_by_transaction_id:
        order_flag_lost_answer(
            order,
            cause=f"create-order got no usable answer ({text})",
            data=error_data(error),
            now=now,
        )
        return Next.DONE
    if isinstance(error, TransactionDuplicate):
        order_move(
            order,
            OrderStatus.UNKNOWN,
            reason=(
                "TRANSACTION_DUPLICATE: an earlier create-order with this transactionId landed; "
                "following it with order-status."
            ),
            data=error_data(error),
            changes={"last_error": text, "next_poll_at": now + schedule.UNKNOWN_FIRST_CHECK},
            now=now,
        )
        return Next.RESOLVE_NOW
    if isinstance(error, RateLimitSaturated):
        order_move(
            order,
            OrderStatus.QUEUED,
            reason=(
                "Not sent: the account's rate limiter cannot reach its store."
                if isinstance(error, RateLimiterUnreachable)
                else "Not sent: the account's rate limit is saturated."
            ),
            changes={"last_error": text, "next_poll_at": now + RATE_LIMITED_RETRY},
            now=now,
        )
        enqueue_submit_after_commit([order], countdown=10)
        return Next.DONE
    if isinstance(error, ValueError):
        order_move(
            order,
            OrderStatus.REJECTED,
            reason=f"Not sent: {text}",
            changes={"last_error": text},
            now=now,
        )
        return Next.DONE
    if not isinstance(error, SupplierError) or isinstance(error, OrderOutcomeUnknown):
        order_move(
            order,
            OrderStatus.UNKNOWN,
            reason=(
                "create-order may have created the order (no readable answer); resolving with "
                "order-status by transactionId."
            ),
            data=error_data(error),
            changes={"last_error": text, "next_poll_at": now + schedule.UNKNOWN_FIRST_CHECK},
            now=now,
        )
        enqueue_poll_after_commit([order], countdown=schedule.UNKNOWN_FIRST_CHECK.total_seconds())
        return Next.DONE
    if isinstance(error, WrongPrice):
        return _record_wrong_price(order, answer, now)
    if isinstance(error, InsufficientBalance | InvalidToken):
        return _record_hold(order, error, text, now)
    if isinstance(error, OutOfStock | OfferNotFound) and _rerouted(order, text, now, error):
        return Next.SEND_AGAIN
    # Every other refusal (OUT_OF_STOCK, OFFER_NOT_FOUND, INVALID_REQUEST_BODY, ...) is final.
    order_move(
        order,
        OrderStatus.REJECTED,
        reason=f"Refused by the supplier: {text}",
        data=error_data(error),
        changes={"last_error": text},
        now=now,
    )
    return Next.DONE


def _record_hold(order: Order, error: SupplierError, text: str, now: datetime) -> Next:
    """INSUFFICIENT_BALANCE or a refused token: the account's queue is held (nothing bought)."""
    reason = (
        "INSUFFICIENT_BALANCE: the account's queue is on hold until the balance covers "
        "the next order."
        if isinstance(error, InsufficientBalance)
        else "INVALID_TOKEN: the supplier refused the account's token; the queue is on hold."
    )
    account_queue_hold(account_id=order.account_id, reason=reason, now=now)
    # An order for a product need not wait for this account: another route may take it.
    if _rerouted(order, text, now, error):
        return Next.SEND_AGAIN
    order_move(
        order,
        OrderStatus.ON_HOLD,
        reason=reason,
        data=error_data(error),
        changes={"last_error": text},
        now=now,
    )
    return Next.DONE


def _rerouted(order: Order, refusal: str, now: datetime, error=None) -> bool:
    """An order for a product, refused in a way that proves nothing was bought: moved to the
    product's next route under a new transactionId (`orders.services.rerouting`), and sent."""
    if order.product_id is None:
        return False
    if isinstance(error, OutOfStock):
        offer_mark_out_of_stock(offer_id=order.offer_id)
    data = error_data(error) if error is not None else None
    if not order_reroute(order, refusal=refusal, now=now, data=data):
        return False
    enqueue_submit_after_commit([order])
    return True


def _may_have_created(error: BaseException) -> bool:
    """Whether create-order may have created the order although it gave no usable answer: a
    timeout, reset, 5xx or unreadable body, a bug of ours around the call, or
    TRANSACTION_DUPLICATE (an earlier call landed). Not a refusal, not a call never made."""
    if isinstance(error, TransactionDuplicate | OrderOutcomeUnknown):
        return True
    return not isinstance(error, SupplierError | RateLimitSaturated | ValueError)


def _record_wrong_price(order: Order, answer: SupplierAnswer, now: datetime) -> Next:
    quote, currency, limit = answer.quote, order.currency, money(order.max_unit_price)
    if quote is None:
        error = answer.quote_error
        if error is None:
            raise ValueError("a WRONG_PRICE answer carries the re-quote or why it failed")
        if isinstance(error, OfferNotFound):
            reason = "WRONG_PRICE, and find-one says the offer is no longer available."
            if _rerouted(order, reason, now):
                return Next.SEND_AGAIN
            order_move(
                order, OrderStatus.REJECTED, reason=reason, changes={"last_error": reason}, now=now
            )
            return Next.DONE
        reason = f"WRONG_PRICE; the re-quote failed ({error_text(error)}); will try again."
        order_move(
            order,
            OrderStatus.QUEUED,
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
        if _rerouted(order, reason, now):
            return Next.SEND_AGAIN
        order_move(
            order,
            OrderStatus.REJECTED,
            reason=reason,
            data=data,
            changes={"last_error": reason},
            now=now,
        )
        return Next.DONE
    if quote.price > limit:
        reason = (
            f"WRONG_PRICE: the supplier's unit price is now {quote.price} {currency}, above your "
            f"limit of {limit} {currency}."
        )
        if _rerouted(order, reason, now):
            return Next.SEND_AGAIN
        order_move(
            order,
            OrderStatus.REJECTED,
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
        order_move(
            order,
            OrderStatus.REJECTED,
            reason=reason,
            data=data,
            changes={"last_error": reason},
            now=now,
        )
        return Next.DONE
    order_move(
        order,
        OrderStatus.QUEUED,
        reason=(
            f"WRONG_PRICE: re-quoted {old} → {quote.price} {currency}, within your "
            f"limit of {limit}; sending again with the same transactionId."
        ),
        data=data,
        changes={"quoted_price": quote.price, "last_error": ""},
        now=now,
    )
    return Next.SEND_AGAIN
