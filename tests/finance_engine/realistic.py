"""A month of realistic supplier traffic: orders, the ledger the supplier would write, anomalies.

Used by the benchmark (10,000 / 100,000 rows) and by a smaller test that checks the anomalies it
injects are found. The supplier side follows the sandbox: one PURCHASE row per order of
``count * round(price * fx, 2)`` USD, 1-120 s after submission; failed or canceled top-ups are
refunded in full by one REFUND row when they become final; partial key orders refund the missing
units. Our side estimates the charge with its own FX table, which is sometimes a little off.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from finance.reconciliation import LedgerEntry, LocalOrder

CENT = Decimal("0.01")
START = datetime(2025, 7, 1, tzinfo=UTC)

#: Supplier FX (USD per unit) and a plausible unit-price range per currency.
CURRENCIES = {
    "USD": (Decimal("1"), (1, 100)),
    "EUR": (Decimal("1.08"), (1, 100)),
    "RUB": (Decimal("0.011"), (50, 10_000)),
    "KZT": (Decimal("0.0021"), (500, 50_000)),
    "TRY": (Decimal("0.031"), (30, 3_000)),
}


@dataclass
class Traffic:
    ledger: list[LedgerEntry]
    orders: list[LocalOrder]
    opening: Decimal
    double_charged: list[str] = field(default_factory=list)  # order keys charged twice
    never_charged: list[str] = field(default_factory=list)  # order keys with no PURCHASE row
    refund_withheld: list[str] = field(default_factory=list)  # refunds owed, never written
    removed_rows: list[int] = field(default_factory=list)  # ledger ids dropped (chain gaps)
    drifted: list[str] = field(default_factory=list)  # our FX estimate far outside tolerance


def generate(
    n_orders: int,
    *,
    seed: int = 1,
    refund_share: float = 0.02,
    doubles: int | None = None,
    gaps: int | None = None,
    never_charged: int | None = None,
    withheld: int | None = None,
    drifted: int | None = None,
    days: int = 30,
) -> Traffic:
    """`n_orders` orders spread over `days` and the ledger (about one row per order)."""
    rng = random.Random(seed)
    scale = max(1, n_orders // 10_000)
    doubles = 2 * scale if doubles is None else doubles
    gaps = 2 * scale if gaps is None else gaps
    never_charged = 2 * scale if never_charged is None else never_charged
    withheld = 2 * scale if withheld is None else withheld
    drifted = 2 * scale if drifted is None else drifted

    seconds = timedelta(days=days).total_seconds()
    submitted = sorted(rng.uniform(0, seconds - 7200) for _ in range(n_orders))
    raw_rows: list[tuple[float, int, Decimal, str, str]] = []  # (t, tiebreak, amount, type, desc)
    orders: list[LocalOrder] = []
    traffic = Traffic([], orders, Decimal("0"))

    picks = rng.sample(range(n_orders), doubles + never_charged + withheld + drifted)
    double_set = set(picks[:doubles])
    never_set = set(picks[doubles : doubles + never_charged])
    withheld_set = set(picks[doubles + never_charged : doubles + never_charged + withheld])
    drift_set = set(picks[doubles + never_charged + withheld :])

    for index, t_submit in enumerate(submitted):
        key = f"ord-{index:07d}"
        currency = rng.choice(list(CURRENCIES))
        fx, (low, high) = CURRENCIES[currency]
        price = Decimal(rng.randint(low * 100, high * 100)) / 100
        force_refund = index in withheld_set
        topup = force_refund or rng.random() < 0.4
        count = 1 if topup or rng.random() > 0.03 else rng.choice((3, 5))
        unit_usd = (price * fx).quantize(CENT, rounding=ROUND_HALF_UP)
        charge = unit_usd * count
        # Our estimate: mostly the supplier's own table, sometimes a slightly stale rate.
        our_fx = fx
        if rng.random() < 0.1:
            our_fx = fx * (1 + Decimal(rng.randint(-150, 150)) / 10_000)
        if index in drift_set:
            our_fx = fx * Decimal("1.12")
        expected = price * count * our_fx
        t_charge = t_submit + rng.uniform(1, 120)
        # A key order is final moments after the supplier took the money (a partial delivery's
        # refund is booked then, after its charge: a refund never comes before its charge).
        status, final, refund = "COMPLETED", t_charge + rng.uniform(0, 5), Decimal("0")
        if topup:
            final = t_charge + rng.uniform(20, 3600)
            if force_refund or rng.random() < refund_share:
                status = rng.choice(("FAILED", "CANCELED"))
                refund = charge
        elif count > 1 and rng.random() < 0.2:
            delivered = rng.randint(1, count - 1)
            status, refund = "COMPLETED", unit_usd * (count - delivered)
        product = f"API Purchase - Product {index % 997} offer {rng.randint(1, 50)}"
        if index not in never_set:
            raw_rows.append((t_charge, index * 4, -charge, "PURCHASE", product))
        if index in double_set:
            # A lost response resent with a new transaction id: charged again seconds later.
            raw_rows.append(
                (t_charge + rng.uniform(2, 30), index * 4 + 1, -charge, "PURCHASE", product)
            )
            traffic.double_charged.append(key)
        if refund and index not in withheld_set:
            label = "Partial refund" if status == "COMPLETED" else "Refund"
            raw_rows.append((final, index * 4 + 2, refund, "REFUND", f"{label} - Product {index}"))
        elif refund:
            traffic.refund_withheld.append(key)
        if index in never_set:
            traffic.never_charged.append(key)
        if index in drift_set:
            traffic.drifted.append(key)
        our_final = final + rng.uniform(0, 30)  # we learn of finality when we next poll
        orders.append(
            LocalOrder(
                key=key,
                transaction_id=f"tx-{seed}-{index}",
                status=status,
                expected_usd=expected,
                submitted_at=START + timedelta(seconds=t_submit),
                final_at=START + timedelta(seconds=our_final),
                charged_expected=True,
                refund_expected=bool(refund),
                amount=price * count,
                currency=currency,
                expected_refund_usd=(refund / charge * expected) if refund else None,
            )
        )
    _write_ledger(traffic, raw_rows, days=days, gaps=gaps, rng=rng)
    return traffic


def _write_ledger(
    traffic: Traffic,
    raw_rows: list[tuple[float, int, Decimal, str, str]],
    *,
    days: int,
    gaps: int,
    rng: random.Random,
) -> None:
    """The supplier's ledger of the rows: a deposit a day, the balance after each row, and
    `gaps` purchase rows lost on the way."""
    # Deposits keep the prepaid balance up: one a day, sized for the day's spend.
    daily = sum(-row[2] for row in raw_rows if row[3] == "PURCHASE") / days + 1000
    for day in range(days):
        amount = (daily * Decimal("1.1")).quantize(CENT)
        raw_rows.append((day * 86400.0 + 1, -1, amount, "DEPOSIT", f"Top-up {day + 1}"))
    raw_rows.sort(key=lambda row: (row[0], row[1]))

    opening = Decimal("5000.00")
    balance = opening
    ledger = traffic.ledger
    for ledger_id, (t, _tiebreak, amount, kind, description) in enumerate(raw_rows, start=1000):
        balance += amount
        created = START + timedelta(seconds=round(t, 3))
        ledger.append(LedgerEntry(ledger_id, amount, kind, description, balance, created))
    # Rows lost on the way (a sync gap): the chain shows where.
    candidates = [i for i, entry in enumerate(ledger) if entry.type == "PURCHASE"]
    for position in sorted(rng.sample(candidates, gaps), reverse=True):
        traffic.removed_rows.append(ledger[position].id)
        del ledger[position]
    traffic.opening = opening
