"""Batch previews: an uploaded CSV/XLSX read into a Batch in PREVIEW and its rows, kept until the
operator confirms it (the rows without problems become orders) or discards it.

The upload stores the file (`orders.batches.uploads`); a worker reads it here
(`batch_preview_read`): the preview's rows, its summary and the move READING → PREVIEW are written
in one transaction, or the batch moves to REFUSED with the reason the file cannot be read.

The file reader (`orders.batches.reading`, `.parsing`, `.validation`) decides what each row means
and what is wrong with it; this module adds what needs the supplier (through `orders.lookups`, as
the manual order page does) or the database around it, and stores the result:

- the account's balance, asked once per upload and kept with the preview (a page view never waits
  on the supplier);
- the live player check (`check_game_data`), once per distinct (offer, player, server), when the
  operator asked for it;
- Telegram usernames turned into the numeric id the order needs, for offers that need a player id
  (the order service takes numeric ids only): once per distinct username, and a row whose
  username has no id the supplier can see is a problem (the customer must message the bot);
- "already ordered" references, looked up once per chunk of rows, across all accounts: a customer
  reference names the reseller's own order, so ordering it again through another account would
  still be a double purchase.

Confirming moves the batch to CONFIRMING and hands it to a worker (a large file takes longer than
a page should wait), which re-checks the references (another batch may have ordered one since),
creates the orders of the good rows through `batch_orders_create` and confirms the batch with
`batch_confirm`, in one transaction: all of them or none. If the rows cannot be ordered as
previewed, the batch goes back to PREVIEW with the reason. A row without `max_unit_price` accepts
at most the unit price its preview showed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Offer
from orders import lookups
from orders.batches import uploads
from orders.batches.parsing import BatchRow, parse_rows
from orders.batches.reading import BatchFileRefused, read_rows
from orders.batches.services import batch_confirm
from orders.batches.states import B, batch_transition
from orders.batches.validation import (
    BatchPreview,
    CheckPlayer,
    RoutesNow,
    units_over_limit,
    validate_rows,
)
from orders.dispatch import enqueue_after_commit
from orders.errors import OrderActionRefused, OrderError
from orders.models import Batch, BatchPreviewRow, Order, SpendApproval
from orders.routing import product_routes_now
from orders.selectors import customer_references_ordered
from orders.services import OperatorAction, OrderLine, batch_orders_create, spending
from orders.services.rerouting import NoRoute, order_create_for_product
from reseller.core.services import audit_record
from suppliers.models import SupplierAccount

logger = logging.getLogger(__name__)

STORE_CHUNK = 2000

__all__ = [
    "PREVIEW_ACTIONS",
    "BatchFileRefused",
    "batch_preview_confirm",
    "batch_preview_create_orders",
    "batch_preview_create",
    "batch_preview_discard",
    "batch_preview_read",
]


# --- creating a preview -------------------------------------------------------------------------


def _player_checker(client: object, heartbeat: Callable[[], None]) -> CheckPlayer | None:
    """The live player check as the row validation wants it: (valid, the player's login), or an
    error saying why the player could not be checked. None: this supplier has no player check."""
    if not isinstance(client, lookups.ChecksPlayers):
        return None

    def check(offer: Offer, game_user_id: str, game_server_id: str) -> tuple[bool, str]:
        heartbeat()
        answer = lookups.player_check(offer, game_user_id, game_server_id, client=client)
        if answer.valid is None:
            raise OrderError(answer.reason)
        return (True, answer.login) if answer.valid else (False, "")

    return check


def _resolve_telegram(
    rows: list[BatchRow], account: SupplierAccount, client: object, heartbeat: Callable[[], None]
) -> None:
    """Put the numeric Telegram id in `game_user_id` of rows that name a username for an offer
    needing a player id (the order service sends numeric ids only)."""
    waiting = [
        row
        for row in rows
        if row.telegram_username and not row.game_user_id and row.offer_id and not row.problems
    ]
    if not waiting:
        return
    wanted = sorted({row.offer_id for row in waiting if row.offer_id})
    needing_id: set[int] = set()
    for start in range(0, len(wanted), STORE_CHUNK):
        needing_id.update(
            Offer.objects.filter(
                account=account,
                offer_id__in=wanted[start : start + STORE_CHUNK],
                requires_user_id=True,
            ).values_list("offer_id", flat=True)
        )
    answers: dict[str, lookups.TelegramResolution] = {}
    for row in waiting:
        if row.offer_id not in needing_id:
            continue
        username = row.telegram_username
        if username not in answers:
            heartbeat()
            answers[username] = lookups.telegram_user(account, username, client=client)
        answer = answers[username]
        if answer.user_id:
            row.game_user_id = str(answer.user_id)
        else:
            row.problems.append(f"telegram_username '@{username}' {_telegram_problem(answer)}")


def _telegram_problem(answer: lookups.TelegramResolution) -> str:
    """Why a row's username gave no user id, to follow "telegram_username '@name' "."""
    missing = lookups.TelegramMissing
    if answer.missing is missing.NO_LOOKUP:
        return (
            "cannot be turned into a Telegram user id through this supplier: "
            "write the numeric id in player_id"
        )
    if answer.missing is missing.FAILED:
        return f"could not be looked up ({answer.said})"
    if answer.missing is missing.INVALID:
        said = f" (the supplier says: {answer.said})" if answer.said else ""
        return f"is not a valid Telegram username{said}"
    return (
        f"has no Telegram user id the supplier can see: ask the customer to message "
        f"{lookups.TELEGRAM_BOT} first, then upload the row again"
    )


def _summary(preview: BatchPreview, balance: lookups.BalanceSeen, *, check_players: bool) -> dict:
    return {
        "file_description": preview.file_description,
        "columns": [list(pair) for pair in preview.columns],
        "warnings": list(preview.warnings),
        "rows_total": preview.rows_total,
        "rows_ok": preview.rows_ok,
        "rows_with_problems": preview.rows_with_problems,
        "rows_with_warnings": preview.rows_with_warnings,
        "units_ok": preview.units_ok,
        "totals_by_currency": {
            currency: str(amount.quantize(Decimal("0.01"), ROUND_HALF_UP))
            for currency, amount in preview.totals_by_currency.items()
        },
        "usd_total": str(preview.usd_total),
        "currencies_without_rate": list(preview.currencies_without_rate),
        "balance_usd": None if balance.usd is None else str(balance.usd),
        "balance_note": balance.note,
        "balance_checked_at": timezone.now().isoformat(),
        "exceeds_balance": preview.exceeds_balance,
        "players_checked": check_players,
    }


def _row_record(batch: Batch, row: BatchRow) -> dict:
    """A BatchPreviewRow's columns (by attname) for one row of the file."""
    offer = row.offer
    return {
        "batch_id": batch.pk,
        "row_number": row.row_number,
        "offer_id": None if offer is None else offer.pk,
        "offer_ref": row.offer_id,
        "product_id": None if row.product is None else row.product.pk,
        "product_ref": row.product_code,
        "route_account": row.route_account[:120],
        "route_usd_cost": row.route_usd_cost,
        "quantity": row.quantity,
        "game_user_id": row.game_user_id,
        "game_server_id": row.game_server_id,
        "email": row.email,
        "telegram_username": row.telegram_username,
        "customer_reference": row.customer_reference,
        "max_unit_price": row.max_unit_price,
        "unit_price": None if offer is None else offer.price,
        "currency": "" if offer is None else offer.currency,
        "player_login": row.player_login[:120],
        "has_problems": bool(row.problems),
        "problems": row.problems,
        "bad_values": row.bad_values,
        "warnings": row.warnings,
    }


def _preview_file(
    *,
    account: SupplierAccount,
    content: bytes,
    filename: str,
    check_players: bool,
    heartbeat: Callable[[], None],
) -> tuple[BatchPreview, lookups.BalanceSeen, bool]:
    """Read, parse and check the file, with the supplier's look-ups: the preview, the balance
    seen, and whether the players were checked. `heartbeat` is called as the work goes on."""
    reader = read_rows(content, filename)
    rows = []
    for row in parse_rows(reader):  # a refusal surfaces here, before any query or call
        rows.append(row)
        if len(rows) % 1000 == 0:
            heartbeat()
    warnings = list(reader.warnings)
    client = lookups.lookup_client(account)
    _resolve_telegram(rows, account, client, heartbeat)
    check = _player_checker(client, heartbeat) if check_players else None
    if check_players and check is None:
        warnings.append("This supplier cannot check players: the player ids were not checked.")
    balance = lookups.balance_usd(account, client=client)

    def ordered(references: set[str]) -> set[str]:
        heartbeat()
        return customer_references_ordered(references=references)

    preview = validate_rows(
        rows,
        account=account,
        check_player=check,
        ordered_references=ordered,
        balance_usd=balance.usd,
        warnings=warnings,
    )
    preview.file_description = reader.description
    preview.columns = reader.column_mapping
    return preview, balance, check is not None


def batch_preview_read(*, batch_id: int) -> Batch | None:
    """The reading task's body: read the stored upload of a READING batch into its preview.
    Rows, summary and the move to PREVIEW are written in one transaction (all of them or none);
    a file that cannot be read moves the batch to REFUSED with the reason instead. Either way the
    stored file is deleted with the move. Nothing is done for a batch another worker is reading
    or has read (see `orders.batches.uploads`)."""
    claim = uploads.batch_upload_claim(batch_id)
    if claim is None:
        return None
    batch = claim.batch
    content = uploads.batch_upload_content(batch.pk)
    if content is None or batch.account is None:  # pragma: no cover - stored with the batch
        return None
    try:
        preview, balance, players_checked = _preview_file(
            account=batch.account,
            content=content,
            filename=batch.source_filename,
            check_players=batch.check_players,
            heartbeat=uploads.Heartbeat(claim),
        )
    except BatchFileRefused as refusal:
        return _refuse(claim, refusal.message)
    except SoftTimeLimitExceeded:
        logger.error("reading the file of batch %s ran out of time", batch_id)
        return _refuse(
            claim,
            "Reading this file took longer than a reading may take, so nothing was stored. "
            "Split it into smaller files (or upload it without the player check).",
        )
    except Exception:
        # Say so rather than leave the page waiting; the details are in the error report.
        logger.exception("reading the file of batch %s failed", batch_id)
        return _refuse(
            claim,
            "Reading this file failed unexpectedly, so nothing was stored. Upload it again; if "
            "it fails again, tell an administrator.",
        )
    del content
    with transaction.atomic():
        summary = _summary(preview, balance, check_players=players_checked)
        moved = uploads.batch_upload_finish(claim, B.PREVIEW, summary=summary)
        if moved is None:
            return None
        if moved.check_players != players_checked:
            Batch.objects.filter(pk=moved.pk).update(check_players=players_checked)
        rows = preview.rows
        for start in range(0, len(rows), STORE_CHUNK):
            _insert_preview_rows(
                [_row_record(moved, row) for row in rows[start : start + STORE_CHUNK]]
            )
        audit_record(
            action="batch.previewed",
            actor=moved.created_by,
            target=moved,
            data={
                "file": moved.source_filename[:255],
                "account": moved.account_id,
                "rows": preview.rows_total,
                "rows_ok": preview.rows_ok,
                "rows_with_problems": preview.rows_with_problems,
                "estimate_usd": str(preview.usd_total),
            },
        )
    moved.refresh_from_db()
    return moved


def _insert_preview_rows(records: list[dict]) -> None:
    """INSERT preview rows (`_row_record`s) with one executemany. `bulk_create` builds a model
    instance per row, and its SQL anew for every 58 rows on SQLite (999 parameters at most),
    preparing each value through its field: most of the reading of a 50,000-row file. Here the
    statement is built once, and only JSON and decimals go through their fields; a column the
    record leaves out gets its field's default."""
    fields = [field for field in BatchPreviewRow._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    # Only the model's own table and column names are in the text; every value is a parameter.
    table = quote(BatchPreviewRow._meta.db_table)
    names = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
    prepared = {"JSONField", "DecimalField"}
    columns = [
        (field, field.attname, field.get_internal_type() in prepared, field.get_default())
        for field in fields
    ]
    params = [
        [
            field.get_db_prep_save(record.get(name, default), connection)
            if prepare
            else record.get(name, default)
            for field, name, prepare, default in columns
        ]
        for record in records
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _refuse(claim: uploads.ReadClaim, reason: str) -> Batch | None:
    with transaction.atomic():
        batch = uploads.batch_upload_finish(claim, B.REFUSED, summary={"read_error": reason})
        if batch is not None:
            audit_record(
                action="batch.refused",
                actor=batch.created_by,
                target=batch,
                data={"reason": reason[:500]},
            )
    return batch


def batch_preview_create(
    *,
    account: SupplierAccount,
    uploaded_file,
    filename: str = "",
    name: str = "",
    check_players: bool = False,
    by=None,
    request=None,
) -> Batch:
    """Store an uploaded file and read it at once, in this process: what the upload and its
    worker do, one after the other (for commands and tests). The batch returned is in PREVIEW,
    or REFUSED with the reason in `preview_summary["read_error"]`."""
    batch = uploads.batch_upload_store(
        account=account,
        uploaded_file=uploaded_file,
        filename=filename,
        name=name,
        check_players=check_players,
        by=by,
        request=request,
    )
    batch_preview_read(batch_id=batch.pk)
    batch.refresh_from_db()
    return batch


# --- confirming or discarding -------------------------------------------------------------------


def _order_line(row: BatchPreviewRow, offers: dict[int, Offer]) -> OrderLine:
    offer = offers.get(row.offer_id) if row.offer_id is not None else None
    where = f"Row {row.row_number}"
    if offer is None:
        raise OrderActionRefused(f"{where}: its offer is gone from the catalog.")
    if row.currency and offer.currency != row.currency:
        raise OrderActionRefused(
            f"{where}: offer {offer.offer_id} is now priced in {offer.currency}, not "
            f"{row.currency}. Discard this preview and upload the file again."
        )
    limit = row.max_unit_price if row.max_unit_price is not None else row.unit_price
    # Beyond the limit (the preview warned) the order is sent at the limit: the supplier refuses
    # it with WRONG_PRICE unless its price has come down, and the engine re-quotes within it.
    quoted = offer.price if limit is None or offer.price <= limit else limit
    return OrderLine(
        offer=offer,
        max_unit_price=limit if limit is not None else offer.price,
        quantity=row.quantity or 1,
        quoted_price=quoted,
        game_user_id=row.game_user_id,
        game_server_id=row.game_server_id,
        email=row.email,
        telegram_username=row.telegram_username,
        customer_reference=row.customer_reference,
        row_number=row.row_number,
    )


def batch_spend_usd(batch: Batch) -> Decimal | None:
    """What confirming the batch would spend in USD now: each row without problems at the price
    its orders would be sent at (the offer's current price, or the row's limit when the price is
    above it), converted at the rate valid now."""
    good = BatchPreviewRow.objects.filter(batch=batch, has_problems=False, product_ref="")
    offers = {
        offer.pk: offer
        for offer in Offer.objects.filter(pk__in=good.values("offer_id")).select_related("account")
    }
    products = _product_rows_usd(batch)
    if products is None:
        return None
    totals: dict[tuple[str, int], Decimal] = {}
    for row in good.iterator(chunk_size=2000):
        line = _order_line(row, offers)
        price = line.quoted_price if line.quoted_price is not None else line.offer.price
        key = (line.offer.currency, line.offer.units or 1)
        totals[key] = totals.get(key, Decimal(0)) + price * line.quantity
    costs = [
        spending.order_cost_usd(unit_price=amount, units=units, quantity=1, currency=currency)
        for (currency, units), amount in totals.items()
    ]
    if any(cost is None for cost in costs):
        return None  # a currency without a rate, and no limit to check
    return sum((cost for cost in costs if cost is not None), products)


def _product_rows_usd(batch: Batch) -> Decimal | None:
    """What the rows naming a product would spend in USD on their best route now (the route the
    preview saw when none is usable now: the orders wait for one or are refused). None: a
    route's currency has no rate."""
    rows = BatchPreviewRow.objects.filter(batch=batch, has_problems=False).exclude(product_ref="")
    total = Decimal(0)
    routes = RoutesNow()
    for row in rows.select_related("product").iterator(chunk_size=2000):
        cost = row.route_usd_cost
        if row.product is not None:
            try:
                choice, _ = routes.pick(
                    row.product, game_user_id=row.game_user_id, game_server_id=row.game_server_id
                )
            except NoRoute:
                pass
            else:
                cost = choice.usd_cost
        if cost is None:
            return None
        total += cost * (row.quantity or 1)
    return total


def batch_preview_confirm(*, batch: Batch, by, request=None) -> Batch:
    """The operator's Confirm: PREVIEW → CONFIRMING, and a worker creates the orders
    (`batch_preview_create_orders`). A file of 50,000 rows takes a while to turn into orders,
    longer than a page should wait, so the page follows the batch instead.

    The spending limits are checked first (refused with the numbers, nothing ordered) and the
    batch's cost counted against them; above the approval threshold the batch waits in AWAITING
    for a second person instead (`batch_approval_decide`)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        if batch.status in (B.READING, B.REFUSED):
            raise OrderActionRefused("This file has no preview to confirm (yet): see its page.")
        if batch.status == B.AWAITING:
            raise OrderActionRefused("This batch is awaiting approval already.")
        if batch.status != B.PREVIEW:
            raise OrderActionRefused("This batch has been confirmed already.")
        if not BatchPreviewRow.objects.filter(batch=batch, has_problems=False).exists():
            raise OrderActionRefused(
                "No row of this file can be ordered: fix the rows and upload it again."
            )
        if too_many := units_over_limit(batch.preview_summary.get("units_ok", 0)):
            raise OrderActionRefused(too_many)
        account = batch.account or _first_account(batch)
        amount = batch_spend_usd(batch)
        summary = dict(batch.preview_summary)
        summary.pop("confirm_error", None)
        if amount is None:  # no limit is set, and a currency has no rate: nothing to check
            _to_confirming(batch, by=by, summary=summary, request=request)
            return batch
        summary["spend_usd"] = str(amount)
        if spending.approval_needed(amount):
            spending.spend_check(user=by, account=account, amount_usd=amount)
            batch_transition(
                batch, B.AWAITING, changes={"confirmed_by": by, "preview_summary": summary}
            )
            spending.spend_approval_request(
                account=account, amount_usd=amount, by=by, batch=batch, request=request
            )
            return batch
        summary["spend_counted"] = spending.spend_count(user=by, account=account, amount_usd=amount)
        _to_confirming(batch, by=by, summary=summary, request=request)
    return batch


def _first_account(batch: Batch) -> SupplierAccount:
    offer = (
        Offer.objects.filter(
            pk__in=BatchPreviewRow.objects.filter(batch=batch, has_problems=False).values(
                "offer_id"
            )
        )
        .select_related("account")
        .first()
    )
    if offer is None:
        raise OrderActionRefused("No row of this file can be ordered.")
    return offer.account


def _to_confirming(batch: Batch, *, by, summary: dict, request=None) -> None:
    batch_transition(
        batch,
        B.CONFIRMING,
        changes={
            "confirmed_by": by,
            "confirm_requested_at": timezone.now(),
            "preview_summary": summary,
        },
    )
    audit_record(
        action="batch.confirm_requested",
        actor=by,
        request=request,
        target=batch,
        data={"rows_ok": batch.preview_summary.get("rows_ok", 0)},
    )
    enqueue_after_commit("confirm_batch", [batch.pk])


def batch_approval_decide(*, batch: Batch, approved: bool, by, comment: str, request=None) -> Batch:
    """A second person's decision on a batch awaiting approval. Approving checks the prices and
    the limits again, as they are now, and counts the batch against the requester's limits; the
    worker then creates its orders. Rejecting orders nothing."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        waiting = SpendApproval.objects.filter(batch=batch).values_list("pk", flat=True).first()
        if waiting is None:
            raise OrderActionRefused("This batch is not awaiting approval.")
        approval = spending.approval_for_decision(waiting, by=by)
        if batch.status != B.AWAITING:
            raise OrderActionRefused("This batch is not awaiting approval.")
        requester = approval.requested_by
        if not approved:
            batch_transition(batch, B.REJECTED)
            spending.approval_close(
                approval, approved=False, by=by, comment=comment, request=request
            )
            return batch
        amount = batch_spend_usd(batch)
        if amount is None:  # the limits were all removed while it waited, and a rate is missing
            amount = Decimal(approval.amount_usd)
        summary = dict(batch.preview_summary)
        summary["spend_usd"] = str(amount)
        summary["spend_counted"] = spending.spend_count(
            user=requester, account=approval.account, amount_usd=amount
        )
        spending.approval_close(approval, approved=True, by=by, comment=comment, request=request)
        _to_confirming(batch, by=requester, summary=summary, request=request)
    return batch


def batch_preview_create_orders(*, batch_id: int) -> Batch | None:
    """The confirmation task's body: order the rows without problems (all of them or none),
    then confirm the batch so its orders are sent. The rows with problems stay, as the record of
    what was skipped. When the rows can no longer be ordered as previewed (a reference ordered
    elsewhere since, an offer gone), nothing is ordered and the batch is back in PREVIEW with
    the reason on its page."""
    try:
        with transaction.atomic():
            batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
            if batch is None or batch.status != B.CONFIRMING:
                return batch  # confirmed already (a message delivered twice) or discarded
            created = _create_orders(batch)
            summary = dict(batch.preview_summary)
            summary["orders_created"] = created
            Batch.objects.filter(pk=batch.pk).update(preview_summary=summary)
            return batch_confirm(batch=batch, by=batch.confirmed_by)
    except (OrderActionRefused, OrderError) as refusal:
        _back_to_preview(batch_id, refusal.message)
    except SoftTimeLimitExceeded:
        logger.error("creating the orders of batch %s ran out of time", batch_id)
        _back_to_preview(
            batch_id,
            "Creating the orders took longer than a confirmation may take, so nothing was "
            "ordered. Split the file into smaller files and upload them again.",
        )
    except Exception:
        # Nothing was ordered (the transaction rolled back); say so rather than leave the page
        # waiting, and keep the details for the error report.
        logger.exception("creating the orders of batch %s failed", batch_id)
        _back_to_preview(
            batch_id,
            "Creating the orders failed unexpectedly, so nothing was ordered. "
            "Confirm again; if it fails again, tell an administrator.",
        )
    return Batch.objects.filter(pk=batch_id).first()


#: PostgreSQL advisory lock taken while a confirmation checks its references and creates its
#: orders (any number; the value only names the lock).
REFERENCES_LOCK = 0x5E5E_0001


def _lock_references() -> None:
    """Confirmations check "already ordered" and create their orders one at a time: two files
    carrying the same references, confirmed at the same moment, would otherwise each see the
    other's orders as not yet there (PostgreSQL reads committed rows only). SQLite needs nothing:
    its write transactions already run one at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REFERENCES_LOCK])


def _create_orders(batch: Batch) -> int:
    _lock_references()
    good = BatchPreviewRow.objects.filter(batch=batch, has_problems=False)
    references = set(
        good.exclude(customer_reference="").values_list("customer_reference", flat=True)
    )
    taken = sorted(customer_references_ordered(references=references))
    if taken:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        raise OrderActionRefused(
            f"Since this preview was made, {len(taken)} of its customer references were "
            f"ordered elsewhere ({shown}). Discard it and upload the file again."
        )
    offer_rows = good.filter(product_ref="")
    # One instance per offer, its account loaded: the order service reads both per line.
    offers = {
        offer.pk: offer
        for offer in Offer.objects.filter(pk__in=offer_rows.values("offer_id")).select_related(
            "account"
        )
    }
    rows = offer_rows.order_by("row_number").iterator(chunk_size=2000)
    created = batch_orders_create(
        batch=batch, lines=(_order_line(row, offers) for row in rows), by=batch.confirmed_by
    )
    created += _create_product_orders(batch, good.exclude(product_ref=""))
    good.delete()  # the orders carry these rows now
    return created


def _create_product_orders(batch: Batch, rows) -> int:
    """The orders of the rows naming a product, made as the product order page makes them: on
    the product's best route now, with failover to the next route when a supplier refuses
    without buying. The route the preview showed is not pinned."""
    created = 0
    # Read once per product: this transaction holds the batch, and nothing it creates changes
    # which accounts are held or failing.
    choices: dict[int, list] = {}
    for row in rows.select_related("product").order_by("row_number").iterator(chunk_size=500):
        where = f"Row {row.row_number}"
        if row.product is None:
            raise OrderActionRefused(f"{where}: its product '{row.product_ref}' is gone.")
        if row.product.pk not in choices:
            choices[row.product.pk] = product_routes_now(row.product)
        try:
            orders = order_create_for_product(
                product=row.product,
                quantity=row.quantity or 1,
                game_user_id=row.game_user_id,
                game_server_id=row.game_server_id,
                email=row.email,
                telegram_username=row.telegram_username,
                customer_reference=row.customer_reference,
                batch=batch,
                row_number=row.row_number,
                by=batch.confirmed_by,
                choices=choices[row.product.pk],
            )
        except OrderError as error:
            raise type(error)(f"{where}: {error.message}", extra=error.extra) from None
        created += len(orders)
    return created


def _back_to_preview(batch_id: int, reason: str) -> None:
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or batch.status != B.CONFIRMING:
            return
        summary = {**batch.preview_summary, "confirm_error": reason}
        # Nothing was ordered: what the confirmation counted against the limits is given back.
        spending.spend_uncount(summary.pop("spend_counted", None))
        batch_transition(batch, B.PREVIEW, changes={"preview_summary": summary})
        audit_record(
            action="batch.confirm_failed",
            actor=batch.confirmed_by,
            target=batch,
            data={"reason": reason[:500]},
        )


def batch_preview_discard(*, batch: Batch, by, request=None) -> None:
    """Throw a preview away (nothing was ordered from it), or a file being read or refused (a
    worker still reading it finds the batch gone and stores nothing)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch.pk)
        discardable = (B.READING, B.REFUSED, B.PREVIEW)
        if batch.status not in discardable or Order.objects.filter(batch=batch).exists():
            raise OrderActionRefused("Only a batch still in preview can be discarded.")
        audit_record(
            action="batch.discarded",
            actor=by,
            request=request,
            target=batch,
            data={"name": batch.name, "rows": batch.preview_summary.get("rows_total", 0)},
        )
        batch.delete()


#: The preview's own actions, beside the engine's BATCH_ACTIONS (whose "confirm" would confirm a
#: batch without creating its orders: the view routes "confirm" here).
PREVIEW_ACTIONS = {
    "confirm": OperatorAction("Confirm", "orders.change_batch", batch_preview_confirm),
    "discard": OperatorAction("Discard", "orders.delete_batch", batch_preview_discard),
}
