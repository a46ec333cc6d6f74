"""The catalog sync's database writes, in plain SQL because they are its hot path.

A sync page holds up to 5,000 offers. Through the ORM, preparing that many rows costs far more than
fetching them (measured: 18 s for a 50,000-offer sync whose fetch takes 0.6 s). So this module
reads the known offers of a page with one query, and writes only new and changed ones:

- PostgreSQL: new offers get their ids from the table's sequence and are COPYed into the table;
  changed ones are COPYed into a temporary table and merged with one UPDATE ... FROM; price
  history is COPYed. The COPY text is built here in one piece per page, which costs a fraction of
  handing psycopg one row at a time.
- SQLite (a developer's machine): one INSERT ... ON CONFLICT DO UPDATE through executemany.

The upsert keeps an offer's previous price (for "changed since the last sync") and relists it.
Everything else about the catalog goes through the ORM as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.db import connection

OFFER = "catalog_offer"
HISTORY = "catalog_pricehistory"
# What tells whether a known offer changed, in the order catalog.sync.compared_values gives it.
COMPARED = (
    "product_id",
    "product_name",
    "offer_name",
    "category",
    "price",
    "currency",
    "in_stock",
    "requires_user_id",
    "requires_server_id",
    # The unit count of a bundle, when the feed tells it (None: unknown, find-one fills it).
    "units",
)
PRICE_AT, CURRENCY_AT = COMPARED.index("price"), COMPARED.index("currency")
UNITS_AT = COMPARED.index("units")
# The columns a sync writes, in order: search_text follows from the names, so it is not compared.
SYNCED = (*COMPARED, "search_text")
SQLITE_CHUNK = 900  # bound parameters per IN (...) on SQLite


def _assignments(source: str) -> str:
    """SET clause taking a synced row from `source` (EXCLUDED in an upsert, the staged table in an
    UPDATE ... FROM). It keeps the old price as previous_price when the price moved, and relists.
    Its one placeholder is the sync's time."""
    moved = f"({OFFER}.price <> {source}.price OR {OFFER}.currency <> {source}.currency)"
    return ", ".join(
        [f"{column} = {source}.{column}" for column in SYNCED]
        + [
            "delisted_at = NULL",
            f"previous_price = CASE WHEN {moved} THEN {OFFER}.price ELSE {OFFER}.previous_price END",
            f"price_changed_at = CASE WHEN {moved} THEN %(now)s ELSE {OFFER}.price_changed_at END",
            "synced_at = %(now)s",
        ]
    )


_INSERT_COLUMNS = (
    "account_id",
    "offer_id",
    *SYNCED,
    "settlement_method",
    "required_fields",
    "first_seen_at",
    "synced_at",
)


def known_offers(account_id: int, offer_ids: list[int]) -> dict[int, tuple]:
    """offer_id -> (offer_id, pk, is_delisted, *COMPARED values) for the offers of this page
    already stored. (The rows are kept as the database gives them: for 5,000 offers a page,
    rebuilding them costs more than the query.)"""
    select = (
        f"SELECT offer_id, id, delisted_at IS NOT NULL, {', '.join(COMPARED)} "
        f"FROM {OFFER} WHERE account_id = %s"
    )
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The ids as one bigint[] literal: psycopg quoting 5,000 list items costs more than the
            # query. (An array of another type would keep the (account, offer) index out of play.)
            cursor.execute(
                f"{select} AND offer_id = ANY(%s::bigint[])", [account_id, _int_array(offer_ids)]
            )
            rows = cursor.fetchall()
        else:
            for start in range(0, len(offer_ids), SQLITE_CHUNK):
                chunk = offer_ids[start : start + SQLITE_CHUNK]
                cursor.execute(
                    f"{select} AND offer_id IN ({', '.join(['%s'] * len(chunk))})",
                    [account_id, *chunk],
                )
                rows.extend(cursor.fetchall())
    if connection.vendor == "postgresql":
        return {row[0]: row for row in rows}
    known = {}
    for offer_id, pk, delisted, *values in rows:
        # SQLite hands decimals back as float or int, and booleans as integers.
        values[PRICE_AT] = Decimal(str(values[PRICE_AT]))
        known[offer_id] = (offer_id, pk, bool(delisted), *values)
    return known


def listed_offer_ids(account_id: int) -> Iterator[int]:
    """The offer ids of the account's listed offers (plain integer rows: the ORM's work per row
    would cost more than the query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT offer_id FROM {OFFER} WHERE account_id = %s AND delisted_at IS NULL",
            [account_id],
        )
        while chunk := cursor.fetchmany(20_000):
            for (offer_id,) in chunk:
                yield offer_id


def _int_array(values) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def upsert_offers(
    account_id: int,
    fresh: dict[int, tuple],
    changed: dict[int, tuple],
    now,
    *,
    changed_pks: list[int],
) -> dict[int, int]:
    """Insert the new offers and update the changed known ones (offer_id -> SYNCED values; the
    primary keys of the changed ones beside); returns offer_id -> pk of the new ones."""
    if connection.vendor == "postgresql":
        return _upsert_postgresql(account_id, fresh, changed, now, changed_pks)
    return _upsert_sqlite(account_id, {**fresh, **changed}, now, new_ids=fresh.keys())


# COPY's text format: backslash, tab, newline and carriage return are escaped; \N is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _escaping_needed(rows) -> bool:
    """Whether any text of these SYNCED rows holds a character COPY must escape. Names rarely do:
    one look over the page spares escaping every string of it."""
    text = "".join(values[1] + values[2] + values[3] + values[5] for values in rows)
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


def _copy_columns(values: tuple, escape: bool) -> str:
    """SYNCED values as COPY text columns."""
    (product_id, product_name, offer_name, category, price, currency, in_stock,
     requires_user_id, requires_server_id, units, search_text) = values  # fmt: skip
    if escape:
        product_name, offer_name, category, search_text, currency = (
            text.translate(_COPY_ESCAPES)
            for text in (product_name, offer_name, category, search_text, currency)
        )
    return (
        f"{_NULL if product_id is None else product_id}\t{product_name}\t{offer_name}\t"
        f"{category}\t{price}\t{currency}\t{'t' if in_stock else 'f'}\t"
        f"{'t' if requires_user_id else 'f'}\t{'t' if requires_server_id else 'f'}\t"
        f"{_NULL if units is None else units}\t{search_text}"
    )


def _upsert_postgresql(
    account_id: int, fresh: dict[int, tuple], changed: dict[int, tuple], now, changed_pks
) -> dict[int, int]:
    """New offers are COPYed straight into the table, with ids drawn from its sequence first (so
    nothing has to be read back); changed ones are staged with COPY and merged with one
    UPDATE ... FROM. One sync of an account runs at a time (a constraint on the job table), so an
    offer known to be new cannot appear meanwhile."""
    ids: dict[int, int] = {}
    stamp = now.isoformat()
    with connection.cursor() as cursor:
        if fresh:
            # The sequence is looked up once, in the sub-select. Written as nextval's argument, the
            # lookup (and the cast of its name to a regclass) ran for every id: 16 ms for 5,000
            # ids, where the nextval calls alone take 3.
            cursor.execute(
                f"SELECT nextval((SELECT pg_get_serial_sequence('{OFFER}', 'id')::regclass)) "
                "FROM generate_series(1, %s)",
                [len(fresh)],
            )
            ids = dict(zip(fresh, (pk for (pk,) in cursor.fetchall()), strict=True))
            tail = f"\t\t[]\t{stamp}\t{stamp}\n"  # settlement_method, required_fields, times
            escape = _escaping_needed(fresh.values())
            text = "".join(
                f"{ids[offer_id]}\t{account_id}\t{offer_id}\t{_copy_columns(values, escape)}{tail}"
                for offer_id, values in fresh.items()
            )
            with cursor.cursor.copy(
                f"COPY {OFFER} (id, {', '.join(_INSERT_COLUMNS)}) FROM STDIN"
            ) as copy:
                copy.write(text)
        if changed:
            # Lives for the session; emptied at the end of every page's transaction.
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS catalog_sync_incoming ("
                "offer_id bigint, product_id bigint, product_name text, offer_name text, category text, "
                "price numeric, currency text, in_stock boolean, requires_user_id boolean, "
                "requires_server_id boolean, units integer, search_text text) "
                "ON COMMIT DELETE ROWS"
            )
            escape = _escaping_needed(changed.values())
            text = "".join(
                f"{offer_id}\t{_copy_columns(values, escape)}\n"
                for offer_id, values in changed.items()
            )
            with cursor.cursor.copy(
                f"COPY catalog_sync_incoming (offer_id, {', '.join(SYNCED)}) FROM STDIN"
            ) as copy:
                copy.write(text)
            # The rows to update are named by primary key (they are the account's: known_offers
            # found them). Joined on the account instead, the planner, with no statistics for
            # the staged table and stale ones for the offers after a big sync, likes to read
            # the account's every offer (tens of milliseconds a page) to update a few dozen.
            cursor.execute(
                f"UPDATE {OFFER} SET {_assignments('incoming')} FROM catalog_sync_incoming AS incoming "
                f"WHERE {OFFER}.id = ANY(%(pks)s::bigint[]) AND {OFFER}.offer_id = incoming.offer_id",
                {"now": now, "pks": _int_array(changed_pks)},
            )
    return ids


def _upsert_sqlite(account_id: int, rows: dict[int, tuple], now, new_ids) -> dict[int, int]:
    if not rows:
        return {}
    ops = connection.ops
    stamp = ops.adapt_datetimefield_value(now)
    values = ", ".join(f"%({column})s" for column in _INSERT_COLUMNS)
    params = [
        {
            **dict(zip(SYNCED, synced, strict=True)),
            "offer_id": offer_id,
            "price": ops.adapt_decimalfield_value(synced[SYNCED.index("price")]),
            "account_id": account_id,
            "settlement_method": "",
            "required_fields": "[]",
            "first_seen_at": stamp,
            "synced_at": stamp,
            "now": stamp,
        }
        for offer_id, synced in rows.items()
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {OFFER} ({', '.join(_INSERT_COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT (account_id, offer_id) DO UPDATE SET {_assignments('excluded')}",
            params,
        )
        ids: dict[int, int] = {}
        offer_ids = [offer_id for offer_id in rows if offer_id in new_ids]
        for start in range(0, len(offer_ids), SQLITE_CHUNK):
            chunk = offer_ids[start : start + SQLITE_CHUNK]
            cursor.execute(
                f"SELECT offer_id, id FROM {OFFER} WHERE account_id = %s AND offer_id IN ({', '.join(['%s'] * len(chunk))})",
                [account_id, *chunk],
            )
            ids.update(cursor.fetchall())
        return ids


def insert_price_history(
    entries: list[tuple[int, Decimal, str]], now, source: str = "sync"
) -> None:
    """One history row per (offer pk, price, currency)."""
    if not entries:
        return
    columns = "offer_id, price, currency, recorded_at, source"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tail = f"\t{now.isoformat()}\t{source}\n"
            text = "".join(
                f"{pk}\t{price}\t{currency.translate(_COPY_ESCAPES)}{tail}"
                if "\\" in currency or "\t" in currency or "\n" in currency or "\r" in currency
                else f"{pk}\t{price}\t{currency}{tail}"
                for pk, price, currency in entries
            )
            with cursor.cursor.copy(f"COPY {HISTORY} ({columns}) FROM STDIN") as copy:
                copy.write(text)
        else:
            ops = connection.ops
            stamp = ops.adapt_datetimefield_value(now)
            cursor.executemany(
                f"INSERT INTO {HISTORY} ({columns}) VALUES (%s, %s, %s, %s, %s)",
                [
                    (pk, ops.adapt_decimalfield_value(price), currency, stamp, source)
                    for pk, price, currency in entries
                ],
            )
