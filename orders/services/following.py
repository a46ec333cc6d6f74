"""Following the supplier: reading an order's answer (create-order or order-status) into the
order, storing its keys, and polling pending and UNKNOWN orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders import schedule
from orders.batches.services import batch_reopen
from orders.dispatch import enqueue_after_commit, enqueue_submit_after_commit
from orders.errors import OrderActionRefused
from orders.models import Order, OrderKey, OrderStatus
from orders.services.limits import (
    ERROR_TEXT_LIMIT,
    MAX_SUBMIT_ATTEMPTS,
    MIN_POLL_GAP,
)
from orders.services.lost_answers import lost_answer_note, order_flag_lost_answer
from orders.services.moving import (
    order_lock,
    order_move,
)
from orders.services.records import (
    error_data,
    error_text,
    new_claim_token,
)
from orders.services.rerouting import order_reroute, unknown_cause_code
from orders.states import POLLED_STATUSES, SUPPLIER_PENDING, SUPPLIER_STATUSES, can_move
from suppliers.capabilities import capabilities_of
from suppliers.clients import Offer, OrderNotFound, OrderResult, SupplierError
from suppliers.models import SupplierAccount
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_client


@dataclass
class SupplierAnswer:
    """One answer about an order (create-order or order-status), with the keys fetched for it."""

    result: OrderResult | None = None
    error: BaseException | None = None
    keys: tuple[str, ...] = ()
    keys_error: SupplierError | None = None
    # WRONG_PRICE: the find-one that followed it.
    quote: Offer | None = None
    quote_error: BaseException | None = None
    by_transaction_id: bool = True

    def __repr__(self) -> str:  # keys never in a repr
        return (
            f"SupplierAnswer(result={self.result!r}, error={self.error!r}, "
            f"keys=<{len(self.keys)} masked>)"
        )


def _expects_keys(result: OrderResult, offer_returns_key: bool | None) -> bool:
    returns_key = result.returns_key if result.returns_key is not None else offer_returns_key
    # Telegram Stars are "return data" products delivered through fulfillmentData, not keys.
    return bool(returns_key) and not result.fulfillment_data


def complete_keys(
    client,
    result: OrderResult,
    offer_returns_key: bool | None,
    units: int,
    *,
    account: SupplierAccount,
) -> tuple[tuple[str, ...], SupplierError | None]:
    """The keys of a COMPLETED order. A supplier with a keys endpoint (CodeGames) may complete
    one without them: fetch them there (only for a key product: it is an error for a top-up)."""
    keys = result.keys
    if result.status != "COMPLETED" or not _expects_keys(result, offer_returns_key):
        return keys, None
    if len(keys) >= (result.count or units):
        return keys, None
    if capabilities_of(account).keys_endpoint and result.order_id:
        try:
            fetched = client.keys(result.order_id)
        except (SupplierError, RateLimitSaturated) as error:
            if isinstance(error, RateLimitSaturated):
                error = SupplierError(str(error))
            return keys, error
        if len(fetched) > len(keys):
            return fetched, None
    return keys, None


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


def _result_fields(result: OrderResult) -> dict:
    """The order's columns that what the supplier said about it sets."""
    changes: dict = {"supplier_status": result.status[:20], "last_error": ""}
    if result.order_id:
        changes["supplier_order_id"] = result.order_id
    if result.count:
        changes["units"] = result.count
    if result.message:
        changes["supplier_message"] = result.message[:500]
    if result.fulfillment_data:
        changes["fulfillment_data"] = result.fulfillment_data
    return changes


def order_found_by_transaction_id(order: Order) -> OrderResult | None:
    """Whether the supplier has an order under this order's transactionId: None only when it
    says ORDER_NOT_FOUND (or the order was never sent). A refusal proves only that the refused
    call created nothing, so this is asked before an order that was sent is given up (withdrawn)
    or given a new transactionId (retried). HTTP: call it outside any transaction. Raises
    OrderActionRefused when the supplier cannot say.

    A supplier without order-status by transactionId (CodeGames) cannot be asked, and need not
    be: on such an account an order whose create-order answer was lost never comes back to the
    queue or to REJECTED (it needs a person, see `lost_answers`), so every earlier call of a
    queued, held or rejected order was answered with a refusal that created nothing."""
    if not order.submit_attempts or not capabilities_of(order.account).status_by_transaction_id:
        return None
    client = supplier_client(order.account, max_retries=1)
    try:
        return client.order_status(transaction_id=order.transaction_id)
    except OrderNotFound:
        return None
    except (SupplierError, RateLimitSaturated, ValueError) as error:
        raise OrderActionRefused(
            "Could not make sure the supplier has no order under this order's transactionId "
            f"({error_text(error)}). Nothing was changed; try again."
        ) from None


def order_flag_found(
    order: Order,
    result: OrderResult,
    *,
    keys: tuple[str, ...] = (),
    reason: str,
    now: datetime,
    actor=None,
) -> None:
    """A REJECTED or WITHDRAWN order (locked by the caller) that the supplier turns out to have
    after all: NEEDS_ATTENTION, with what the supplier said and any keys it gave, followed by
    status calls from now on (it completes, keys included, like any other order)."""
    if keys:
        _store_keys(order, keys)
    changes = {**_result_fields(result), "final_at": None, "next_poll_at": now}
    order_move(
        order,
        OrderStatus.NEEDS_ATTENTION,
        actor=actor,
        reason=reason,
        data={"supplier_status": result.status, "supplier_order_id": result.order_id},
        changes=changes,
        now=now,
    )
    if order.batch_id:
        batch_reopen(order.batch_id)


def order_follow_found(
    order: Order,
    answer: SupplierAnswer,
    *,
    supplier_order_id: int,
    reason: str,
    now: datetime,
    actor=None,
) -> None:
    """A locked order whose lost create-order answer was found at the supplier (by staff, or by
    the answer arriving late): record its orderId, PROCESSING, then follow what the supplier
    said (without an answer, polling by that orderId follows it)."""
    order_move(
        order,
        OrderStatus.PROCESSING,
        actor=actor,
        reason=reason,
        data={"supplier_order_id": supplier_order_id, "outcome": "found"},
        changes={"supplier_order_id": supplier_order_id, "last_error": "", "next_poll_at": now},
        now=now,
    )
    if answer.result is not None:
        apply_answer(order, answer, now=now, source="order-status")


def apply_answer(order: Order, answer: SupplierAnswer, *, now: datetime, source: str) -> None:
    """Follow what the supplier said about a locked order (inside the caller's transaction)."""
    result = answer.result
    if result is None:
        raise ValueError("apply_answer follows an answer with a result; an error is recorded")
    target = SUPPLIER_STATUSES.get(result.status)
    changes = _result_fields(result)
    data = {
        "source": source,
        "supplier_status": result.status,
        "supplier_order_id": result.order_id,
    }
    if target is None:
        changes["last_error"] = f"The supplier answered an unknown status {result.status[:40]!r}."
        target = OrderStatus.PROCESSING
    units = changes.get("units", order.units)
    expects_keys = _expects_keys(result, order.offer.returns_key)
    if (
        target == OrderStatus.COMPLETED
        and expects_keys
        and len(answer.keys) < units
        and answer.keys_error is not None
        and answer.keys_error.is_transient
    ):
        # CodeGames completed it without its key and /offers/keys is not ready: follow it on.
        changes["last_error"] = f"Completed, but its keys are not readable yet: {answer.keys_error}"
        target = OrderStatus.PROCESSING

    if target == OrderStatus.COMPLETED:
        _apply_completed(order, answer, changes, data, expects_keys, units, now, source)
    elif target in (OrderStatus.CANCELED, OrderStatus.FAILED, OrderStatus.REFUNDED):
        changes["units_refunded"] = units  # the supplier refunds the whole order
        if order.status != target and can_move(order.status, target):
            message = f": {result.message}" if result.message else ""
            order_move(
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
    # Units the supplier completed without are refunded by it; keys it has but that could not
    # be read are not refunded (a re-check may read them).
    refunded = missing if answer.keys_error is None else 0
    changes["units_delivered"] = delivered
    changes["units_refunded"] = refunded
    if missing:
        note = f"Partial delivery: {delivered} of {units} units delivered"
        if answer.keys_error is not None:
            note += f" (the keys could not be fetched: {answer.keys_error})"
        changes["last_error"] = note + "."
    already_known = order.supplier_status == "COMPLETED" and order.status in (
        OrderStatus.COMPLETED,
        OrderStatus.NEEDS_ATTENTION,
    )
    if (
        order.status != OrderStatus.COMPLETED
        and not already_known
        and can_move(order.status, OrderStatus.COMPLETED)
    ):
        order_move(
            order,
            OrderStatus.COMPLETED,
            reason=f"{source}: COMPLETED" + (f", {delivered} of {units} units" if missing else ""),
            data={**data, "units": units, "units_delivered": delivered},
            changes=changes,
            now=now,
        )
    elif order.status == OrderStatus.NEEDS_ATTENTION and already_known and not missing:
        # The missing keys arrived (a re-check).
        order_move(
            order,
            OrderStatus.COMPLETED,
            reason=f"{source}: every unit delivered now",
            data=data,
            changes=changes,
            now=now,
        )
    else:
        _update(order, changes, now)
    if missing and order.status == OrderStatus.COMPLETED:
        order_move(
            order,
            OrderStatus.NEEDS_ATTENTION,
            reason=changes["last_error"]
            + (
                f" The supplier refunds the {refunded} missing; the {delivered} delivered are "
                "sent to the customer as usual."
                if refunded
                else " Re-check once the supplier's keys can be read."
            ),
            data={"units": units, "units_delivered": delivered, "units_refunded": refunded},
            changes={"next_poll_at": None},
            now=now,
        )
    # A partial delivery is sent like a full one: what came, and what is refunded.
    deliverable = (not missing and order.status == OrderStatus.COMPLETED) or (
        refunded and delivered and order.status == OrderStatus.NEEDS_ATTENTION
    )
    if deliverable and order.email and not order.delivered_at:
        enqueue_after_commit("deliver_order", [order.pk])


def _apply_pending(order, target, changes, data, now, source) -> None:
    if order.status == OrderStatus.NEEDS_ATTENTION:
        changes["next_poll_at"] = schedule.next_attention_poll(
            last_sent_at=order.last_sent_at, now=now
        )
        _update(order, changes, now)
        return
    if schedule.is_past_limit(order.last_sent_at, now) and can_move(
        order.status, OrderStatus.NEEDS_ATTENTION
    ):
        minutes = int((now - order.last_sent_at).total_seconds() // 60)
        order_move(
            order,
            OrderStatus.NEEDS_ATTENTION,
            reason=f"Still {data['supplier_status']} at the supplier {minutes} minutes after it "
            "was sent (the supplier finishes orders within 60 minutes).",
            data=data,
            changes={
                **changes,
                "next_poll_at": schedule.next_attention_poll(
                    last_sent_at=order.last_sent_at, now=now
                ),
            },
            now=now,
        )
        return
    changes["next_poll_at"] = schedule.next_pending_poll(
        pending_polls=order.pending_polls,
        last_sent_at=order.last_sent_at,
        now=now,
        webhooks_healthy=schedule.webhooks_healthy(order.account_id),
    )
    if order.status == target or (
        order.status == OrderStatus.PROCESSING and target == OrderStatus.SUBMITTED
    ):
        _update(order, changes, now)
    elif can_move(order.status, target):
        order_move(
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
    if order.status != OrderStatus.SUBMITTING:
        fields.setdefault("claimed_by", "")
        fields.setdefault("lease_expires_at", None)
    Order.objects.filter(pk=order.pk).update(**fields)
    for name, value in fields.items():
        setattr(order, name, value)


@dataclass(frozen=True)
class PollClaim:
    order_id: int
    token: str
    account: SupplierAccount  # loaded with the claim: the call needs its settings
    status: str
    supplier_order_id: int | None
    transaction_id: str
    returns_key: bool | None
    units: int


def order_poll(*, order_id: int, now: datetime | None = None, force: bool = False) -> Order | None:
    """Ask the supplier about a pending order (order-status) and follow it. UNKNOWN orders are
    asked by transactionId. `force` (an operator's re-check) also re-checks COMPLETED orders and
    ignores the minimum gap between two checks."""
    statuses = POLLED_STATUSES | {OrderStatus.COMPLETED} if force else POLLED_STATUSES
    return _poll(order_id=order_id, statuses=statuses, now=now, force=force)


def order_resolve_unknown(*, order_id: int, now: datetime | None = None) -> Order | None:
    """Resolve an UNKNOWN order by order-status with its transactionId: found → follow it;
    ORDER_NOT_FOUND → QUEUED, sent again with the same transactionId."""
    return _poll(order_id=order_id, statuses={OrderStatus.UNKNOWN}, now=now, force=False)


def _poll(*, order_id, statuses, now, force) -> Order | None:
    claim = poll_claim(order_id=order_id, statuses=statuses, now=now, force=force)
    if claim is not None:
        answer = poll_fetch(claim)
        poll_record(claim, answer, now=now)
    return Order.objects.filter(pk=order_id).first()


def poll_claim(*, order_id, statuses, now=None, force=False) -> PollClaim | None:
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
        if _cannot_be_asked(order):
            _stop_asking(order, now)
            return None
        if (
            not force
            and order.last_polled_at is not None
            and now - order.last_polled_at < MIN_POLL_GAP
        ):
            return None
        token = new_claim_token()
        Order.objects.filter(pk=order.pk).update(
            claimed_by=token,
            lease_expires_at=now + schedule.call_lease(order.account, attempts=2),
            poll_count=order.poll_count + 1,
            # The back-off counts only the checks of an order pending at the supplier; those
            # resolving an UNKNOWN order (or following a NEEDS_ATTENTION one) do not stretch it.
            pending_polls=order.pending_polls + 1
            if order.status in SUPPLIER_PENDING
            else order.pending_polls,
            last_polled_at=now,
            updated_at=now,
        )
        return PollClaim(
            order_id=order.pk,
            token=token,
            account=order.account,
            status=order.status,
            supplier_order_id=order.supplier_order_id,
            transaction_id=order.transaction_id,
            returns_key=order.offer.returns_key,
            units=order.units,
        )


def _cannot_be_asked(order: Order) -> bool:
    """Whether a status call would need order-status by transactionId, which the order's
    supplier does not have (CodeGames, before its orderId is known)."""
    by_transaction_id = order.status == OrderStatus.UNKNOWN or not order.supplier_order_id
    return by_transaction_id and not capabilities_of(order.account).status_by_transaction_id


def _stop_asking(order: Order, now: datetime) -> None:
    """Nothing can be polled for it: an UNKNOWN order (from before the supplier was known to
    lack the look-up) needs a person like any lost answer; others just leave the work list."""
    if order.status == OrderStatus.UNKNOWN:
        order_flag_lost_answer(order, cause="create-order's answer was lost", now=now)
    elif order.awaits_supplier_outcome:
        _update(order, {"next_poll_at": None, "last_error": lost_answer_note(order)}, now)
    else:
        _update(order, {"next_poll_at": None}, now)


def poll_fetch(claim: PollClaim) -> SupplierAnswer:
    client = supplier_client(claim.account, max_retries=1)
    by_transaction_id = claim.status == OrderStatus.UNKNOWN or not claim.supplier_order_id
    try:
        if by_transaction_id:
            result = client.order_status(transaction_id=claim.transaction_id)
        else:
            result = client.order_status(order_id=claim.supplier_order_id)
    except (SupplierError, RateLimitSaturated, ValueError) as error:
        return SupplierAnswer(error=error, by_transaction_id=by_transaction_id)
    keys, keys_error = complete_keys(
        client, result, claim.returns_key, claim.units, account=claim.account
    )
    return SupplierAnswer(
        result=result, keys=keys, keys_error=keys_error, by_transaction_id=by_transaction_id
    )


def _sent_too_often(order: Order, now: datetime) -> bool:
    """Sent MAX_SUBMIT_ATTEMPTS times, or first sent longer ago than the supplier's 60 minutes."""
    first_sent = order.submitted_at or order.last_sent_at
    return order.submit_attempts >= MAX_SUBMIT_ATTEMPTS or schedule.is_past_limit(first_sent, now)


def _reroute_after_unavailable(order: Order, now: datetime) -> bool:
    """A product order whose create-order got SERVICE_UNAVAILABLE, now that order-status says
    the supplier has no order under its transactionId: a definite refusal, so it moves to the
    product's next route (`orders.services.rerouting`) instead of waiting for this supplier."""
    if order.product_id is None or order.status != OrderStatus.UNKNOWN:
        return False
    if unknown_cause_code(order) != "SERVICE_UNAVAILABLE":
        return False
    refusal = "SERVICE_UNAVAILABLE, and order-status finds no order under its transactionId"
    if not order_reroute(order, refusal=refusal, now=now):
        return False
    enqueue_submit_after_commit([order])
    return True


def poll_record(claim: PollClaim, answer: SupplierAnswer, *, now=None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        order = order_lock(claim.order_id)
        if order.status not in POLLED_STATUSES | {OrderStatus.COMPLETED}:
            return  # it moved on meanwhile (the submit recorded late, an operator acted)
        if answer.result is not None:
            apply_answer(order, answer, now=now, source="order-status")
            return
        error = answer.error
        if error is None:
            raise ValueError("an answer without a result carries the error that replaced it")
        if (
            isinstance(error, OrderNotFound)
            and answer.by_transaction_id
            and order.supplier_order_id is None
            and order.status in (OrderStatus.UNKNOWN, OrderStatus.NEEDS_ATTENTION)
        ):
            if order.status == OrderStatus.UNKNOWN and _sent_too_often(order, now):
                # Sent again and again without the supplier ever keeping it (calls that time
                # out, or a TRANSACTION_DUPLICATE it then denies): a person decides.
                order_move(
                    order,
                    OrderStatus.NEEDS_ATTENTION,
                    reason=(
                        f"ORDER_NOT_FOUND by transactionId after {order.submit_attempts} "
                        "create-order calls: not sent again without a person looking."
                    ),
                    data=error_data(error),
                    changes={
                        "last_error": "",
                        "next_poll_at": schedule.next_attention_poll(
                            last_sent_at=order.last_sent_at, now=now
                        ),
                    },
                    now=now,
                )
                return
            if _reroute_after_unavailable(order, now):
                return
            order_move(
                order,
                OrderStatus.QUEUED,
                reason=(
                    "ORDER_NOT_FOUND by transactionId: the supplier has no order under it; "
                    "sending again with the same transactionId."
                ),
                data=error_data(error),
                changes={"last_error": ""},
                now=now,
            )
            enqueue_submit_after_commit([order])
            return
        text = f"Status check failed: {error_text(error)}"[:ERROR_TEXT_LIMIT]
        pending = order.status in (
            OrderStatus.SUBMITTED,
            OrderStatus.PROCESSING,
            OrderStatus.UNKNOWN,
        )
        if pending and schedule.is_past_limit(order.last_sent_at, now):
            order_move(
                order,
                OrderStatus.NEEDS_ATTENTION,
                reason=f"Not finished 60 minutes after it was sent; {text}",
                data=error_data(error),
                changes={
                    "last_error": text,
                    "next_poll_at": schedule.next_attention_poll(
                        last_sent_at=order.last_sent_at, now=now
                    ),
                },
                now=now,
            )
            return
        if order.status == OrderStatus.NEEDS_ATTENTION:
            next_poll = schedule.next_attention_poll(last_sent_at=order.last_sent_at, now=now)
        elif pending:
            # Resolving an UNKNOWN order backs off by all its checks; a pending one by its own.
            step = order.poll_count if order.status == OrderStatus.UNKNOWN else order.pending_polls
            next_poll = schedule.next_pending_poll(
                pending_polls=step, last_sent_at=order.last_sent_at, now=now
            )
        else:
            next_poll = order.next_poll_at
        _update(order, {"last_error": text, "next_poll_at": next_poll}, now)
