"""Gift sales made outside the order pages, imported from a CSV file with the batches' preview
discipline: the file is read and every row checked first (nothing is written), the person sees
each row with its problems, and only a confirmation records the good rows, all or none, each
through the same outbox as an order's sale (`gift_reports.gift_sale_record`).

Between the preview and the confirmation the checked rows travel signed (django.core.signing) in
the page, so nothing is stored for a file that is never confirmed, and nothing can be slipped in:
the confirmation checks every row again.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core import signing
from django.db import transaction

from orders.forms import GiftSaleForm
from orders.gift_reports import GiftSaleRefused, gift_sale_record
from orders.models import GiftReport

COLUMNS = (
    "transaction_id",
    "sold_at",
    "amount",
    "currency",
    "sale_type",
    "gift_names",
    "buyer_id",
    "recipient_id",
    "seller_id",
)
REQUIRED = ("transaction_id", "sold_at", "amount", "currency", "gift_names", "buyer_id")
MAX_BYTES = 1024 * 1024
MAX_ROWS = 2000
SIGNING_SALT = "orders.gift_sale_import"
#: How long a preview may be confirmed.
PREVIEW_MAX_AGE = 3600


class ImportRefused(Exception):
    """The file cannot be read as a whole (nothing of it is kept)."""


@dataclass
class SaleRow:
    number: int
    values: dict[str, str]
    problems: list[str] = field(default_factory=list)


def gift_sales_read(content: bytes) -> list[SaleRow]:
    """Every row of the file with its problems; raises ImportRefused for an unreadable file."""
    if len(content) > MAX_BYTES:
        raise ImportRefused(f"The file is larger than {MAX_BYTES // 1024} KB.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("The file is not UTF-8 text (save it as CSV UTF-8).") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        raise ImportRefused(
            "The columns must be "
            + ", ".join(COLUMNS)
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not known: {', '.join(unknown[:5])}" if unknown else "")
            + "."
        )
    rows: list[SaleRow] = []
    for number, raw in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            raise ImportRefused(f"The file has more than {MAX_ROWS} sales.")
        values = {name.strip(): (value or "").strip() for name, value in raw.items() if name}
        if not any(values.values()):
            continue
        rows.append(SaleRow(number=number, values={name: values.get(name, "") for name in COLUMNS}))
    _check(rows)
    return rows


def _check(rows: list[SaleRow]) -> None:
    seen: dict[str, int] = {}
    ids = [row.values["transaction_id"] for row in rows]
    recorded = set(
        GiftReport.objects.filter(transaction_id__in=ids).values_list("transaction_id", flat=True)
    )
    for row in rows:
        form = GiftSaleForm(data={"sale_type": "listing", **_present(row.values)})
        if not form.is_valid():
            row.problems += [
                f"{name}: {' '.join(str(error) for error in errors)}"
                for name, errors in form.errors.items()
            ]
        tid = row.values["transaction_id"]
        if tid in seen:
            row.problems.append(f"transaction_id: the same as row {seen[tid]}.")
        seen.setdefault(tid, row.number)
        if tid in recorded:
            row.problems.append("transaction_id: a sale with this id is recorded already.")


def _present(values: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in values.items() if value}


def preview_token(rows: list[SaleRow]) -> str:
    """The good rows, signed, for the confirmation."""
    return signing.dumps([row.values for row in rows if not row.problems], salt=SIGNING_SALT)


def gift_sales_confirm(*, token: str, by=None, request=None) -> int:
    """Record the previewed rows, all or none; returns how many."""
    try:
        values = signing.loads(token, salt=SIGNING_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.BadSignature:
        raise ImportRefused("The preview has expired: upload the file again.") from None
    rows = [SaleRow(number=index, values=row) for index, row in enumerate(values, start=1)]
    _check(rows)
    if any(row.problems for row in rows):
        raise ImportRefused("Something changed since the preview: upload the file again.")
    with transaction.atomic():
        for row in rows:
            form = GiftSaleForm(data={"sale_type": "listing", **_present(row.values)})
            form.is_valid()
            try:
                gift_sale_record(**form.cleaned_data, by=by, request=request)
            except GiftSaleRefused as refusal:
                raise ImportRefused(f"Sale {row.values['transaction_id']}: {refusal}") from None
    return len(rows)
