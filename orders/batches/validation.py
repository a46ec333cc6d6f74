"""Validating a batch file's rows against the catalog, for the preview: `validate_rows(rows,
account=...)` checks parsed rows (orders.batches.parsing) a chunk at a time, with one offer query
per chunk, and returns a `BatchPreview`: every row with its problems and warnings, the counts, and
the estimated cost per currency and in USD. Nothing here writes to the database.

`preview_batch_file()` reads, parses and validates a file in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from catalog.models import Offer, Product, ProductRoute
from catalog.routing import RouteChoice
from catalog.selectors import currency_rates_at
from orders.batches.parsing import BatchRow, parse_rows
from orders.batches.reading import clip, read_rows
from orders.routing import product_routes_now
from orders.services.rerouting import NoRoute, product_route_pick
from reseller.core.errors import ApplicationError
from suppliers.clients.errors import SupplierError

# Orders one file may create (rows × quantity): a confirmation creates them all in one transaction,
# which must finish well within its task's time limit (about 2,500 orders a second measured).
MAX_UNITS = 200_000
CHUNK_ROWS = 2_000  # rows validated per offer query
CENT = Decimal("0.01")

# check_player(offer, game_user_id, game_server_id) -> (valid, the player's login or the reason);
# it may raise an ApplicationError or a SupplierError saying why the player could not be checked.
CheckPlayer = Callable[[Offer, str, str], tuple[bool, str]]
# Either the references already used by orders, or a function given a chunk's references that
# returns those of them already used (so the caller can answer with one query per chunk).
OrderedReferences = Collection[str] | Callable[[set[str]], Iterable[str]]


@dataclass
class BatchPreview:
    rows: list[BatchRow]
    warnings: list[str]
    totals_by_currency: dict[str, Decimal]  # rows without problems: current price × quantity
    usd_total: Decimal  # of the currencies with a rate
    currencies_without_rate: list[str]
    balance_usd: Decimal | None = None
    file_description: str = ""
    # How the file's header was read: (its column name, the template's), in file order.
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows_ok: int = 0
    rows_with_problems: int = 0
    rows_with_warnings: int = 0
    units_ok: int = 0

    @property
    def rows_total(self) -> int:
        return len(self.rows)

    @property
    def problem_rows(self) -> list[BatchRow]:
        return [row for row in self.rows if row.problems]

    @property
    def usd_total_is_complete(self) -> bool:
        return not self.currencies_without_rate

    @property
    def exceeds_balance(self) -> bool:
        return self.balance_usd is not None and self.usd_total > self.balance_usd


def validate_rows(
    rows: Iterable[BatchRow],
    *,
    account,
    check_player: CheckPlayer | None = None,
    ordered_references: OrderedReferences | None = None,
    balance_usd: Decimal | None = None,
    warnings: Iterable[str] = (),
) -> BatchPreview:
    """Check parsed rows against `account`'s catalog and price the batch.

    Problems and warnings are added to the rows given (so validate a row once). The estimate counts
    the rows without problems at the offers' current prices; currencies without a CurrencyRate are
    left out of the USD total and named (USD itself needs no rate row).

    All rows are taken first (a refused file stops here, before any query or player check), then
    checked CHUNK_ROWS at a time: one offer query per chunk for the offer ids not seen yet, one
    `ordered_references` call per chunk, one `check_player` call per distinct (offer, player,
    server), and one CurrencyRate query in all.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    preview_warnings = list(warnings)
    _check_rows(rows, account=account, check_player=check_player, ordered=ordered_references)
    return _estimate(rows, balance_usd=balance_usd, warnings=preview_warnings)


def units_over_limit(units: int) -> str:
    """Why a file of that many orders cannot be confirmed, or "" when it can."""
    if units <= MAX_UNITS:
        return ""
    return (
        f"This file would create {units:,} orders; at most {MAX_UNITS:,} can be confirmed at "
        "once. Split it into smaller files."
    )


def preview_batch_file(
    uploaded_file,
    filename: str | None = None,
    *,
    account,
    check_player: CheckPlayer | None = None,
    ordered_references: OrderedReferences | None = None,
    balance_usd: Decimal | None = None,
) -> BatchPreview:
    """Read, parse and validate an uploaded batch file. Raises BatchFileRefused."""
    reader = read_rows(uploaded_file, filename)
    rows = list(parse_rows(reader))
    preview = validate_rows(
        rows,
        account=account,
        check_player=check_player,
        ordered_references=ordered_references,
        balance_usd=balance_usd,
        warnings=reader.warnings,
    )
    preview.file_description = reader.description
    return preview


# --- the rows, against the catalog ----------------------------------------------------------


def _check_rows(
    rows: list[BatchRow],
    *,
    account,
    check_player: CheckPlayer | None,
    ordered: OrderedReferences | None,
) -> None:
    """Add each row's problems and warnings: its offer, its player, its reference (repeated in
    the file, or ordered already)."""
    profile = getattr(account, "balance_profile", "") or ""
    offers: dict[int, Offer] = {}
    products: dict[str, Product] = {}
    routes = RoutesNow()
    players: dict[tuple[int, str, str], tuple[bool, str] | str] = {}
    first_with_reference: dict[str, BatchRow] = {}
    repeats: dict[str, list[int]] = {}

    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        wanted = {row.offer_id for row in chunk if row.offer_id is not None} - offers.keys()
        if wanted:
            for offer in Offer.objects.filter(account=account, offer_id__in=wanted):
                offers[offer.offer_id] = offer
        codes = {row.product_code for row in chunk if row.product_code} - products.keys()
        if codes:
            products.update(Product.objects.in_bulk(codes, field_name="code"))
        used = _already_ordered(chunk, ordered)
        for row in chunk:
            reference = row.customer_reference
            if reference:
                first = first_with_reference.setdefault(reference, row)
                if first is not row:
                    row.problems.append(
                        f"customer_reference '{clip(reference, 40)}' repeats row {first.row_number}"
                    )
                    repeats.setdefault(reference, []).append(row.row_number)
                elif reference in used:
                    row.problems.append(
                        f"customer_reference '{clip(reference, 40)}' was already ordered"
                    )
            if row.offer_id is not None:
                _check_offer(row, offers.get(row.offer_id), profile)
                _check_player(row, check_player, players)
            elif row.product_code:
                _check_product(row, products.get(row.product_code), routes)

    for reference, numbers in repeats.items():
        shown = ", ".join(str(number) for number in numbers[:5])
        more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
        first_with_reference[reference].problems.append(
            f"customer_reference '{clip(reference, 40)}' is repeated on "
            f"row{'s' if len(numbers) > 1 else ''} {shown}{more}"
        )


def _already_ordered(chunk: list[BatchRow], ordered: OrderedReferences | None) -> Collection[str]:
    if ordered is None:
        return ()
    if callable(ordered):
        references = {row.customer_reference for row in chunk if row.customer_reference}
        return set(ordered(references)) if references else ()
    return ordered


_NEEDS_PLAYER = (Product.CustomerGives.PLAYER_ID, Product.CustomerGives.PLAYER_AND_SERVER)


class RoutesNow:
    """The route an order of a product would take now, for many rows: the product's routes read
    once, and the pick made once per product and kind of customer details (with or without a
    player id, a server) — all a pick depends on."""

    def __init__(self) -> None:
        self._choices: dict[int, list[RouteChoice]] = {}
        self._picks: dict[tuple[int, bool, bool], tuple[RouteChoice, ProductRoute] | NoRoute] = {}

    def pick(
        self, product: Product, *, game_user_id: str, game_server_id: str
    ) -> tuple[RouteChoice, ProductRoute]:
        """As `product_route_pick`: raises NoRoute saying why no route fits."""
        key = (product.pk, bool(game_user_id.strip()), bool(game_server_id.strip()))
        if key not in self._picks:
            if product.pk not in self._choices:
                self._choices[product.pk] = product_routes_now(product)
            try:
                self._picks[key] = product_route_pick(
                    product,
                    game_user_id=game_user_id,
                    game_server_id=game_server_id,
                    choices=self._choices[product.pk],
                )
            except NoRoute as refusal:
                self._picks[key] = refusal
        found = self._picks[key]
        if isinstance(found, NoRoute):
            raise NoRoute(found.message)
        return found


def _check_product(row: BatchRow, product: Product | None, routes: RoutesNow) -> None:
    """A row naming a product: the product, what its customer must give, and the route an order
    sent now would take (shown in the preview; each order is routed again when it is sent)."""
    problems = row.problems
    code = clip(row.product_code, 40)
    if product is None:
        problems.append(f"product '{code}' is not a product of this back-office")
        return
    row.product = product
    if product.customer_gives in _NEEDS_PLAYER and not row.game_user_id:
        problems.append(f"player_id is missing: product '{code}' requires one")
    if product.customer_gives == Product.CustomerGives.PLAYER_AND_SERVER and not row.game_server_id:
        problems.append(f"server_id is missing: product '{code}' requires one")
    if row.max_unit_price is not None:
        problems.append(
            f"max_unit_price is for offer rows: product '{code}' is ordered within the limit "
            "of the route it takes (set on the product's page); leave the cell empty"
        )
    try:
        choice, route = routes.pick(
            product, game_user_id=row.game_user_id, game_server_id=row.game_server_id
        )
    except NoRoute as refusal:
        problems.append(f"product '{code}': {refusal.message}")
        return
    row.offer = route.offer
    row.route_account = choice.facts.account_name
    row.route_usd_cost = choice.usd_cost


def _check_offer(row: BatchRow, offer: Offer | None, profile: str) -> None:
    problems = row.problems
    if offer is None:
        problems.append(f"offer {row.offer_id} is not in this account's catalog")
        return
    row.offer = offer
    if offer.delisted_at is not None:
        problems.append(f"offer {row.offer_id} is delisted (no longer sold)")
    if not offer.in_stock:
        problems.append(f"offer {row.offer_id} is out of stock")
    if offer.is_compatible_with(profile) is False:
        problems.append(
            f"offer {row.offer_id} is settled in {offer.settlement_method}, which this account's "
            f"{profile} balance cannot buy"
        )
    if offer.requires_user_id and not row.game_user_id and not row.telegram_username:
        problems.append(f"player_id is missing: offer {row.offer_id} requires one")
    if offer.requires_server_id and not row.game_server_id:
        problems.append(f"server_id is missing: offer {row.offer_id} requires one")
    if row.max_unit_price is not None and row.max_unit_price < offer.price:
        row.warnings.append(
            f"max_unit_price {row.max_unit_price} is below the current price {offer.price.normalize():f} "
            f"{offer.currency}: the order will be refused unless the price drops"
        )


def _check_player(
    row: BatchRow,
    check_player: CheckPlayer | None,
    players: dict[tuple[int, str, str], tuple[bool, str] | str],
) -> None:
    """The live player check of a row whose (listed) offer needs a player id, once per distinct
    (offer, player, server): `players` keeps the answers, or why there was none."""
    offer = row.offer
    if (
        check_player is None
        or offer is None
        or not offer.requires_user_id
        or not row.game_user_id
        or offer.delisted_at is not None
    ):
        return
    key = (offer.pk, row.game_user_id, row.game_server_id)
    if key not in players:
        try:
            valid, login = check_player(offer, row.game_user_id, row.game_server_id)
            players[key] = (valid, login)
        except (ApplicationError, SupplierError) as exc:
            players[key] = str(exc)
    answer = players[key]
    if isinstance(answer, str):
        row.warnings.append(f"player_id '{row.game_user_id}' could not be checked: {answer}")
    elif answer[0]:
        row.player_login = answer[1] or ""
    else:
        row.problems.append(
            f"player_id '{row.game_user_id}' was not accepted for offer {row.offer_id}"
            + (f": {answer[1]}" if answer[1] else "")
        )


# --- the estimate ---------------------------------------------------------------------------


def _estimate(
    rows: list[BatchRow], *, balance_usd: Decimal | None, warnings: list[str]
) -> BatchPreview:
    """Count the rows and price those without problems, per currency and in USD; add the
    warnings the estimate calls for to `warnings`."""
    totals: dict[str, Decimal] = {}
    rows_ok = rows_with_warnings = units_ok = 0
    for row in rows:
        if row.warnings:
            rows_with_warnings += 1
        if row.problems:
            continue
        rows_ok += 1
        cost = row.estimated_cost  # None when the row has no offer or no quantity
        if row.offer is not None and row.quantity is not None and cost is not None:
            units_ok += row.quantity
            currency = row.offer.currency
            totals[currency] = totals.get(currency, Decimal(0)) + cost

    usd_total, without_rate = _usd_total(totals)
    if without_rate:
        warnings.append(
            f"No USD rate for {', '.join(without_rate)}: the USD estimate leaves those amounts "
            "out. Add the rates on the currency rates page."
        )
    if balance_usd is not None and usd_total > balance_usd:
        warnings.append(
            f"The estimated cost {usd_total} USD is more than the balance {balance_usd} USD: "
            "orders beyond the balance will wait on hold until it is topped up."
        )
    if rows and not rows_ok:
        warnings.append("No row can be ordered as it is: every row has a problem.")
    if too_many := units_over_limit(units_ok):
        warnings.append(too_many)
    return BatchPreview(
        rows=rows,
        warnings=warnings,
        totals_by_currency=dict(sorted(totals.items())),
        usd_total=usd_total,
        currencies_without_rate=without_rate,
        balance_usd=balance_usd,
        rows_ok=rows_ok,
        rows_with_problems=len(rows) - rows_ok,
        rows_with_warnings=rows_with_warnings,
        units_ok=units_ok,
    )


def _usd_total(totals: dict[str, Decimal]) -> tuple[Decimal, list[str]]:
    """The USD sum of `totals` at today's rates (one query) and the currencies it leaves out."""
    rates = currency_rates_at()
    rates.setdefault("USD", Decimal(1))
    usd_total = Decimal(0)
    without_rate = []
    for currency, amount in sorted(totals.items()):
        rate = rates.get(currency)
        if rate is None:
            without_rate.append(currency or "(no currency)")
        else:
            usd_total += amount * rate
    return usd_total.quantize(CENT, ROUND_HALF_UP), without_rate
