"""Parsing a batch file's rows: each `RawRow` (orders.batches.reading) becomes a `BatchRow` with
typed values and the problems of that row alone (bad numbers, malformed e-mail or Telegram
username, over-long text). Checking the rows against the catalog is `orders.batches.validation`.

- **Numbers** accept a decimal comma (`12,50`), grouped thousands (`1 234,50`, `1.234,50`,
  `1,234.50`) and refuse what is ambiguous (`1,500`: 1500 or 1.5?). `max_unit_price` is in the
  offer's currency, like the supplier's price it is compared with.
- **References** are compared exactly as written (after trimming): `A-1` and `a-1` differ.
- **Ids that went through a spreadsheet**: a player or server id that a workbook holds as a number
  (not text) is a problem naming its cell: the spreadsheet drops leading zeros and keeps 15
  digits. An offer id may be a number, unless past 2^53 (its last digits may be rounded). An id
  in `1.23E+15` form, or of digits past 2^53, gets the same hint in a CSV: format the column as
  text and type the ids again.
- **Control characters**: a NUL in a cell is a problem naming the cell (it is no text anyone
  typed; a whole file of them is refused as binary by the reader).
- **Bad values are kept** (`BatchRow.bad_values`, clipped) so the preview shows each in its column.
- **Telegram**: `@name`, `name` and `t.me/name` all mean `name`. A row with a Telegram username
  satisfies an offer's "player id required": the preview resolves it to the numeric id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from catalog.models import Offer, Product
from orders.batches.reading import COLUMN_LABELS, RawRow, clip
from reseller.core.ids import ascii_digits_only

MAX_QUANTITY = 100
MAX_ID_LENGTH = 64  # player and server ids
MAX_REFERENCE_LENGTH = 100
MAX_EMAIL_LENGTH = 254
MAX_PRODUCT_CODE_LENGTH = 60


@dataclass(slots=True)
class BatchRow:
    row_number: int
    offer_id: int | None = None
    product_code: str = ""  # a product's code, instead of an offer id
    quantity: int | None = None
    game_user_id: str = ""
    game_server_id: str = ""
    email: str = ""
    telegram_username: str = ""
    customer_reference: str = ""
    max_unit_price: Decimal | None = None
    # Blocking: the row will not be ordered. Warnings: it will, but the operator should know.
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Column key → the file's text of a value that could not be used (for the preview).
    bad_values: dict[str, str] = field(default_factory=dict)
    # Filled by validate_rows.
    offer: Offer | None = None
    player_login: str = ""
    # A product row: the product, and the route an order sent now would take (its offer is
    # `offer`, for the estimate; nothing is pinned: each order is routed when it is sent).
    product: Product | None = None
    route_account: str = ""
    route_usd_cost: Decimal | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unit_price(self) -> Decimal | None:
        return None if self.offer is None else self.offer.price

    @property
    def currency(self) -> str:
        return "" if self.offer is None else self.offer.currency

    @property
    def estimated_cost(self) -> Decimal | None:
        if self.offer is None or self.quantity is None:
            return None
        # The supplier charges the price for each product unit an order carries (its `count`).
        return self.offer.price * (self.offer.units or 1) * self.quantity


_GROUPED = (
    # 1 234,50 / 1 234.50 (spaces, no-break spaces) · 1.234,50 · 1,234.50
    (re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?"), " \u00a0\u202f", ","),
    (re.compile(r"\d{1,3}(?:\.\d{3})+,\d+"), ".", ","),
    (re.compile(r"\d{1,3}(?:,\d{3})+\.\d+"), ",", "."),
)
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_COMMA_NUMBER = re.compile(r"(\d*),(\d+)")
_SHORTENED_NUMBER = re.compile(r"\d(?:[.,]\d+)?[eE]\+\d+")
TELEGRAM_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TELEGRAM_LINK = re.compile(r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me)/", re.IGNORECASE)
_validate_email = EmailValidator()


class _Bad(ValueError):
    pass


def parse_number(text: str) -> Decimal:
    """A non-negative decimal written the way spreadsheets write them; raises ValueError with the
    reason ("is not a number", "is ambiguous ...")."""
    value = text.strip()
    if len(value) > 40:
        raise _Bad("is not a number")
    sign = ""
    if value[:1] in "+-" and value[:1]:
        sign, value = ("-" if value[0] == "-" else ""), value[1:].lstrip()
    for pattern, group, point in _GROUPED:
        if pattern.fullmatch(value):
            for char in group:
                value = value.replace(char, "")
            value = value.replace(point, ".")
            break
    if not _PLAIN_NUMBER.fullmatch(value):
        match = _COMMA_NUMBER.fullmatch(value)
        if not match:
            raise _Bad("is not a number")
        whole, fraction = match.groups()
        if len(fraction) == 3 and whole not in ("", "0"):
            decimal = f"{whole}.{fraction.rstrip('0')}".rstrip(".")
            raise _Bad(f"is ambiguous: write {whole}{fraction} or {decimal}")
        value = f"{whole or '0'}.{fraction}"
    try:
        return Decimal(sign + value)
    except InvalidOperation as exc:  # pragma: no cover - the patterns admit only digits
        raise _Bad("is not a number") from exc


def _whole_number(text: str) -> int:
    if len(text) <= 19 and text.isascii() and text.isdigit():  # the common case, quickly
        return int(text)
    if not ascii_digits_only(text):  # "١٢" or "２００１" would read as 12 or 2001
        raise _Bad("is not written with the digits 0-9")
    try:
        number = parse_number(text)
    except _Bad as exc:
        raise _Bad("is not a whole number") from exc
    if number != number.to_integral_value():
        raise _Bad("is not a whole number")
    return int(number)


def parse_row(raw: RawRow) -> BatchRow:
    """One file row → a BatchRow with the problems found in the row itself, in column order."""
    values = raw.values
    row = BatchRow(raw.row_number)
    problems = row.problems
    if _control_characters(raw, problems):
        row.bad_values = {key: clip(text, 60) for key, text in values.items() if "\x00" in text}
        return row
    if _what_to_order(raw, problems):
        with _bad_value(row, raw, "product"):
            row.product_code = _text(values, "product", MAX_PRODUCT_CODE_LENGTH, problems)
    elif not problems:
        with _bad_value(row, raw, "offer_id"):
            row.offer_id = _offer_id(values.get("offer_id", ""), problems)
            if row.offer_id is not None and _spreadsheet_damage(
                raw, "offer_id", problems, numbers_allowed=True
            ):
                row.offer_id = None
    with _bad_value(row, raw, "quantity"):
        row.quantity = _quantity(values.get("quantity", ""), problems)
    with _bad_value(row, raw, "game_user_id"):
        row.game_user_id = _text(values, "game_user_id", MAX_ID_LENGTH, problems)
        _spreadsheet_damage(raw, "game_user_id", problems, numbers_allowed=False)
    with _bad_value(row, raw, "game_server_id"):
        row.game_server_id = _text(values, "game_server_id", MAX_ID_LENGTH, problems)
        _spreadsheet_damage(raw, "game_server_id", problems, numbers_allowed=False)
    with _bad_value(row, raw, "customer_reference"):
        row.customer_reference = _text(values, "customer_reference", MAX_REFERENCE_LENGTH, problems)
    with _bad_value(row, raw, "email"):
        row.email = _email(_text(values, "email", MAX_EMAIL_LENGTH, problems), problems)
    with _bad_value(row, raw, "telegram_username"):
        row.telegram_username = _telegram_username(values.get("telegram_username", ""), problems)
    with _bad_value(row, raw, "max_unit_price"):
        row.max_unit_price = _max_unit_price(values.get("max_unit_price", ""), problems)
    return row


def _what_to_order(raw: RawRow, problems: list[str]) -> bool:
    """Whether the row names a product (and no offer id). A row naming both, or neither when the
    file has a product column, is a problem naming its cells."""
    if "product" not in raw.values:
        return False  # a file of offer ids
    product, offer = raw.values.get("product", ""), raw.values.get("offer_id", "")
    if product and offer:
        problems.append(
            f"offer_id in cell {raw.cell('offer_id')} and product in cell {raw.cell('product')} "
            "are both filled: a row orders an offer or a product, keep one of them"
        )
        return False
    if not product and not offer:
        cells = " nor a ".join(
            f"{COLUMN_LABELS[key]} (cell {raw.cell(key)})"
            for key in ("offer_id", "product")
            if key in raw.values
        )
        problems.append(f"the row names neither an {cells}: fill one of them")
        return False
    return bool(product)


@contextmanager
def _bad_value(row: BatchRow, raw: RawRow, key: str) -> Iterator[None]:
    """Keep the file's text of `key` when reading it added a problem (the preview shows it)."""
    before = len(row.problems)
    yield
    text = raw.values.get(key, "")
    if text and len(row.problems) > before:
        row.bad_values[key] = clip(text, 60)


def _control_characters(raw: RawRow, problems: list[str]) -> bool:
    """A NUL in any cell: the row's one problem, naming each such cell."""
    found = [key for key, text in raw.values.items() if "\x00" in text]
    for key in found:
        problems.append(
            f"{COLUMN_LABELS[key]} in cell {raw.cell(key)} holds a NUL character (an invisible "
            "control character no one types): type the cell again"
        )
    return bool(found)


_SPREADSHEET_HINT = "format the {label} column as text and type the ids again"
_EXACT_LIMIT = 2**53  # past it a spreadsheet's number (a double) no longer holds every integer


def _spreadsheet_damage(
    raw: RawRow, key: str, problems: list[str], *, numbers_allowed: bool
) -> bool:
    """Note an id a spreadsheet may have changed: held as a number in a workbook (an offer id only
    past 2^53), in `E+` form, or digits past 2^53; with the same hint in every case. True when
    one was noted."""
    text = raw.values.get(key, "")
    if not text:
        return False
    label = COLUMN_LABELS[key]
    hint = _SPREADSHEET_HINT.format(label=label)
    digits = text.isascii() and text.isdigit()
    past_exact = digits and len(text) >= 16 and int(text) > _EXACT_LIMIT
    if key in raw.numbers and (not numbers_allowed or past_exact or not digits):
        problems.append(
            f"{label} in cell {raw.cell(key)} is a number in the workbook ({clip(text, 30)}), "
            "not text: a spreadsheet drops an id's leading zeros and rounds it past 15 digits, "
            f"so it may not be the id that was typed; {hint}"
        )
    elif _SHORTENED_NUMBER.fullmatch(text):
        problems.append(f"{label} '{clip(text, 30)}' was shortened by the spreadsheet: {hint}")
    elif past_exact:
        problems.append(
            f"{label} '{clip(text, 30)}' is longer than a spreadsheet keeps exactly (its last "
            f"digits may have been rounded): {hint}"
        )
    else:
        return False
    return True


def parse_rows(raw_rows: Iterable[RawRow]) -> Iterator[BatchRow]:
    return (parse_row(raw) for raw in raw_rows)


def _whole_number_cell(name: str, text: str, problems: list[str]) -> int | None:
    """A cell that must hold a whole number: the number, or None with the problem noted."""
    if not text:
        problems.append(f"{name} is missing")
        return None
    try:
        return _whole_number(text)
    except _Bad as exc:
        problems.append(f"{name} '{clip(text, 30)}' {exc}")
        return None


def _offer_id(text: str, problems: list[str]) -> int | None:
    offer_id = _whole_number_cell("offer_id", text, problems)
    if offer_id is None:
        return None
    if not 0 < offer_id < 2**63:
        problems.append(f"offer_id '{clip(text, 30)}' is not a valid offer id")
        return None
    return offer_id


def _quantity(text: str, problems: list[str]) -> int | None:
    quantity = _whole_number_cell("quantity", text, problems)
    if quantity is None:
        return None
    if quantity < 1:
        problems.append(f"quantity {quantity} must be at least 1")
        return None
    if quantity > MAX_QUANTITY:
        problems.append(f"quantity {quantity} is more than {MAX_QUANTITY} (split the row)")
        return None
    return quantity


def _text(values: dict[str, str], key: str, limit: int, problems: list[str]) -> str:
    text = values.get(key, "")
    if len(text) > limit:
        problems.append(f"{COLUMN_LABELS[key]} is longer than {limit} characters")
        return ""
    return text


def _email(email: str, problems: list[str]) -> str:
    if not email:
        return ""
    try:
        _validate_email(email)
    except ValidationError:
        problems.append(f"email '{clip(email, 60)}' is not an e-mail address")
        return ""
    return email


def _telegram_username(text: str, problems: list[str]) -> str:
    if not text:
        return ""
    username = _TELEGRAM_LINK.sub("", text, count=1).lstrip("@").strip()
    if TELEGRAM_USERNAME.fullmatch(username):
        return username
    problems.append(
        f"telegram_username '{clip(text, 40)}' is not a Telegram username "
        "(4-32 letters, digits or _, starting with a letter)"
    )
    return ""


def _max_unit_price(text: str, problems: list[str]) -> Decimal | None:
    if not text:
        return None
    try:
        price = parse_number(text)
    except _Bad as exc:
        problems.append(f"max_unit_price '{clip(text, 30)}' {exc}")
        return None
    exponent = price.as_tuple().exponent  # an int: parse_number's numbers are finite
    if price <= 0:
        problems.append(f"max_unit_price '{clip(text, 30)}' must be above zero")
    elif isinstance(exponent, int) and exponent < -4:
        problems.append(f"max_unit_price '{text}' has more than 4 decimal places")
    elif price >= 10**13:
        problems.append(f"max_unit_price '{clip(text, 30)}' is too large")
    else:
        return price
    return None
