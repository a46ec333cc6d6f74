"""Creating orders: one line of the manual form or of a batch becomes `quantity` orders, each
committed with its own transactionId before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Offer
from orders import schedule
from orders.batches.services import batch_reopen
from orders.dispatch import enqueue_submit_after_commit
from orders.errors import AlreadyPlaced, OrderError, PriceAboveLimit
from orders.models import Batch, Order, OrderRequest, OrderStatus, OrderTransactionId
from orders.services import spending
from orders.services.limits import (
    MAX_QUANTITY,
)
from orders.services.records import (
    money,
    new_transaction_id,
)
from orders.states import ORDER_AGAIN_STATUSES, order_events_created
from reseller.core.ids import typed_id
from reseller.core.services import audit_record
from suppliers.models import SupplierAccount


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
    if offer.is_telegram_stars and typed_id(game_user_id) is None:
        raise OrderError(
            "Telegram Stars need the numeric Telegram user id (resolve the @username first)."
        )
    send_now = batch is None or batch.accepts_submissions
    return [
        Order(
            account=account,
            offer=offer,
            batch=batch,
            row_number=line.row_number,
            transaction_id=new_transaction_id(),
            status=OrderStatus.QUEUED,
            game_user_id=game_user_id,
            game_server_id=game_server_id,
            email=email,
            telegram_username=telegram_username,
            customer_reference=customer_reference,
            max_unit_price=max_unit_price,
            quoted_price=quoted,
            currency=offer.currency,
            units=offer.units or 1,
            next_poll_at=now + schedule.queued_rescue_after() if send_now else None,
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
        batch_reopen(batch.pk)
        batch.status = Batch.Status.RUNNING  # as the row is now (this move, or one just before)


@transaction.atomic
def order_create(  # noqa: PLR0913 (one keyword for each thing an order is made of)
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
    request_key: str = "",
    reorder_of: Order | None = None,
    by=None,
    request=None,
) -> list[Order]:
    """Create `quantity` orders of one offer, each with its own transactionId, QUEUED.

    `quoted_price` is the supplier's unit price the operator saw (find-one just before ordering,
    or the synced price); it defaults to the catalog price. `max_unit_price` is the highest unit
    price the operator accepts, in the offer's currency. The orders are sent once the transaction
    commits (unless their batch is still in preview or paused).

    `request_key` is the one-time key of the order form: a second sending of the same form
    raises AlreadyPlaced with the orders of the first, and orders nothing (the key's row is
    unique, so two sendings at the same moment cannot both get through).

    `reorder_of` is a failed, refused or refunded order this one orders again ("Order again"):
    one new order, linked both ways, and at most one per failed order.
    """
    placed = _claim_request_key(request_key, by) if request_key else None
    if reorder_of is not None:
        reorder_of = _lock_order_to_reorder(reorder_of, quantity=quantity)
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
    if reorder_of is not None:
        orders[0].reorder_of = reorder_of
    # A person's manual order passes the spending controls (a batch's, at its confirmation).
    controlled = batch is None and getattr(by, "is_authenticated", False)
    cost = _manual_cost(orders) if controlled else None
    awaiting = cost is not None and spending.approval_needed(cost)
    if cost is not None:
        if awaiting:
            spending.spend_check(user=by, account=orders[0].account, amount_usd=cost)
            for order in orders:
                order.status = OrderStatus.AWAITING_APPROVAL
                order.next_poll_at = None
        else:
            spending.spend_count(user=by, account=orders[0].account, amount_usd=cost)
    _reopen_batch(batch)
    _insert_orders(orders, by=by, now=now)
    if placed is not None:
        placed.order_ids = [order.pk for order in orders]
        placed.save(update_fields=["order_ids"])
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
                **({"order_again_of": reorder_of.pk} if reorder_of is not None else {}),
            },
        )
    if cost is not None and awaiting:
        spending.spend_approval_request(
            account=orders[0].account,
            amount_usd=cost,
            by=by,
            order_ids=[order.pk for order in orders],
            request=request,
        )
    elif batch is None or batch.accepts_submissions:
        enqueue_submit_after_commit(orders)
    return orders


def _manual_cost(orders: list[Order]) -> Decimal | None:
    """The USD cost of a manual order's orders at the price they are placed at, rate of now."""
    first = orders[0]
    return spending.order_cost_usd(
        unit_price=first.quoted_price if first.quoted_price is not None else first.offer.price,
        units=first.units,
        quantity=len(orders),
        currency=first.currency,
    )


def order_again_refusal(order: Order) -> str:
    """Why `order` cannot be ordered again, or "" when it can."""
    if order.status not in ORDER_AGAIN_STATUSES:
        return (
            f"Only a failed, refused or refunded order can be ordered again; this one is "
            f"{OrderStatus(order.status).label.lower()}."
        )
    again = Order.objects.filter(reorder_of=order).values_list("pk", flat=True).first()
    if again is not None:
        return f"This order was ordered again already, as order #{again}."
    if order.retried_in_id is not None:
        return f"Its row was retried already, in batch #{order.retried_in_id}."
    return ""


def _lock_order_to_reorder(order: Order, *, quantity: int) -> Order:
    """The order to be ordered again, locked until the new order is committed, so two
    sendings (two tabs, two operators) cannot both order it again."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    refusal = order_again_refusal(order)
    if refusal:
        raise OrderError(refusal)
    if quantity != 1:
        raise OrderError("Ordering again places one order, for the one that failed.")
    return order


def _claim_request_key(key: str, by) -> OrderRequest:
    try:
        with transaction.atomic():
            return OrderRequest.objects.create(key=key[:64], created_by=by)
    except IntegrityError:
        first = OrderRequest.objects.filter(key=key[:64]).values_list("order_ids", flat=True)
        raise AlreadyPlaced(list(first.first() or [])) from None


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
        enqueue_submit_after_commit(orders)
    return len(orders)
