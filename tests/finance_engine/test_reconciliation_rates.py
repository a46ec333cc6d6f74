"""Matching that does not need the rate table to be right.

The supplier converts at its own rates; our table may be off by several percent. Generated
traffic: a few currencies, each with a true supplier rate and a table rate up to 10 % off it,
unit prices drawn from a short list (so many orders cost exactly the same), charges a few
seconds after each submission, some orders failed and refunded. Whatever the table says, every
row must pair with its own order, equal amounts by time, and the FX variance must explain the
whole difference between the ledger and our expectation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance.reconciliation import Bucket, LedgerEntry, LocalOrder, Settings, reconcile
from tests.finance_engine.builders import D, assert_invariants, chain, order

CENT = Decimal("0.01")
TRUE_RATES = {"RUB": D("0.0109"), "KZT": D("0.00198"), "TRY": D("0.0297")}
UNIT_PRICES = {
    "RUB": [D("99"), D("560.10"), D("1490")],
    "KZT": [D("500"), D("5000")],
    "TRY": [D("60"), D("300")],
}


def debit(unit_price: Decimal, units: int, rate: Decimal) -> Decimal:
    return (unit_price * rate).quantize(CENT, ROUND_HALF_UP) * units


@dataclass
class Traffic:
    ledger: list[LedgerEntry]
    orders: list[LocalOrder]
    purchase_of: dict[int, str] = field(default_factory=dict)  # ledger id -> order key
    refund_of: dict[int, str] = field(default_factory=dict)


def make_traffic(rng: random.Random, count: int, table_off: dict[str, Decimal]) -> Traffic:
    """`count` orders spread over the currencies (at least two in each), submitted 8 s to 5
    min apart, charged 0.2-3 s later at the supplier's rate; expected at the table's."""
    currencies = sorted(table_off)
    picks = [currencies[i % len(currencies)] for i in range(count)]
    rng.shuffle(picks)
    rows: list[tuple[float, Decimal, str, str]] = [(-60, D("100000.00"), "DEPOSIT", "Deposit")]
    orders, owners = [], []
    moment = 0.0
    for index, currency in enumerate(picks):
        moment += rng.uniform(8, 300)
        unit_price = rng.choice(UNIT_PRICES[currency])
        units = 1 if rng.random() < 0.8 else rng.choice((2, 3))
        table_rate = TRUE_RATES[currency] * (1 + table_off[currency])
        charge = debit(unit_price, units, TRUE_RATES[currency])
        charged_at = moment + rng.uniform(0.2, 3)
        failed = rng.random() < 0.2
        final = charged_at + rng.uniform(30, 600) if failed else charged_at + 1
        key = f"o{index:03d}"
        rows.append((charged_at, -charge, "PURCHASE", f"API Purchase - {currency} {index}"))
        owners.append(("P", key))
        if failed:
            rows.append((final + rng.uniform(0.1, 2), charge, "REFUND", f"Refund - {index}"))
            owners.append(("R", key))
        orders.append(
            order(
                key,
                debit(unit_price, units, table_rate),
                moment,
                final,
                status="FAILED" if failed else "COMPLETED",
                refund=failed,
                amount=unit_price * units,
                currency=currency,
                units=units,
            )
        )
    # The ledger ids follow time; remember whose each row is.
    timed = sorted(zip(rows[1:], owners, strict=True), key=lambda pair: pair[0][0])
    ledger = chain([rows[0]] + [row for row, _owner in timed], opening=D("0.00"))
    traffic = Traffic(ledger, orders)
    for entry, (_row, (kind, key)) in zip(ledger[1:], timed, strict=True):
        (traffic.purchase_of if kind == "P" else traffic.refund_of)[entry.id] = key
    return traffic


def assert_paired_with_their_own(traffic: Traffic, result) -> None:
    matched = result.items[Bucket.MATCHED] + result.items[Bucket.MATCHED_WITH_VARIANCE]
    assert {item.ledger_row.id: item.order_key for item in matched} == traffic.purchase_of
    refunds = result.items[Bucket.REFUND_MATCHED]
    assert {item.ledger_row.id: item.order_key for item in refunds} == traffic.refund_of
    for bucket in (
        Bucket.UNEXPECTED_CHARGE,
        Bucket.NOT_CHARGED,
        Bucket.UNEXPECTED_REFUND,
        Bucket.REFUND_MISSING,
    ):
        assert result.items[bucket] == [], bucket


def assert_fx_explains_everything(result) -> None:
    """The amounts agree at the supplier's rates: each pair's whole variance is FX variance."""
    assert result.items[Bucket.MATCHED_WITH_VARIANCE] == []
    for item in result.items[Bucket.MATCHED] + result.items[Bucket.REFUND_MATCHED]:
        assert item.variance == item.fx_variance, item
    totals = result.totals
    assert totals.purchase_variance == totals.purchase_fx_variance
    assert totals.refund_variance == totals.refund_fx_variance
    assert totals.purchases - totals.expected_purchases == totals.purchase_fx_variance
    by_currency = sum((rate.fx_variance for rate in result.observed_rates), D(0))
    assert by_currency == totals.purchase_fx_variance


@st.composite
def table_errors(draw) -> dict[str, Decimal]:
    currencies = draw(st.lists(st.sampled_from(sorted(TRUE_RATES)), min_size=1, unique=True))
    return {c: D(draw(st.integers(-1000, 1000))) / 10_000 for c in currencies}


@given(table_errors(), st.integers(4, 40), st.randoms(use_true_random=False))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_wrong_rate_table_still_pairs_every_row_with_its_own_order(off, count, rng):
    traffic = make_traffic(rng, max(count, 2 * len(off)), off)
    result = reconcile(list(traffic.ledger), list(traffic.orders), Settings())
    assert_invariants(result, traffic.ledger, traffic.orders)
    assert_paired_with_their_own(traffic, result)
    assert_fx_explains_everything(result)
    for rate in result.observed_rates:
        # Every pair taught the rate: all of them agree with it to the cent.
        assert rate.observed is not None and rate.agreeing == rate.pairs


def test_equal_amounts_are_paired_by_time():
    """Three orders of the same offer a few seconds apart, charged in their order: each row
    goes to the order it followed, although every amount fits every order."""
    # Our table says 0.0100: 9 % below the supplier's 0.0109.
    orders = [
        order(key, "10.00", submitted, submitted + 2, amount="1000", currency="RUB")
        for key, submitted in (("a", 0), ("b", 9), ("c", 20))
    ]
    ledger = chain(
        [(1.5, "-10.90", "PURCHASE"), (10.2, "-10.90", "PURCHASE"), (21, "-10.90", "PURCHASE")]
    )
    result = reconcile(ledger, orders, Settings())
    assert [(item.ledger_row.id, item.order_key) for item in result.items[Bucket.MATCHED]] == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
    ]
    (rate,) = result.observed_rates
    assert rate.applied and rate.fx_variance == D("2.70")
    assert rate.observed is not None and debit(D("1000"), 1, rate.observed) == D("10.90")


def test_a_table_seven_percent_off_over_hundreds_of_orders():
    """The measured case: every rate of the table 7 % off the supplier's, 300 orders."""
    rng = random.Random(14)
    off = {currency: D("0.07") for currency in TRUE_RATES}
    traffic = make_traffic(rng, 300, off)
    result = reconcile(list(traffic.ledger), list(traffic.orders), Settings())
    assert_invariants(result, traffic.ledger, traffic.orders)
    assert result.items[Bucket.UNEXPECTED_CHARGE] == []
    assert result.items[Bucket.NOT_CHARGED] == []
    assert_paired_with_their_own(traffic, result)
    assert_fx_explains_everything(result)
    assert {rate.currency for rate in result.observed_rates if rate.applied} == set(TRUE_RATES)
    for rate in result.observed_rates:
        assert rate.difference_pct is not None and D("-7.2") < rate.difference_pct < D("-6.3")
        assert rate.fx_variance < 0  # we expected 7 % more than the supplier took
    assert result.totals.purchase_fx_variance < 0


def test_a_table_that_is_right_reports_no_fx_variance():
    rng = random.Random(3)
    traffic = make_traffic(rng, 60, {currency: D(0) for currency in TRUE_RATES})
    result = reconcile(list(traffic.ledger), list(traffic.orders), Settings())
    assert_paired_with_their_own(traffic, result)
    assert result.totals.purchase_fx_variance == 0
    assert all(not rate.applied for rate in result.observed_rates)
    assert len(result.items[Bucket.MATCHED]) == 60


def test_one_order_in_a_currency_cannot_teach_its_rate():
    """A single pair cannot tell a wrong rate from a wrong price: the table stands."""
    orders = [order("a", "10.00", 0, 2, amount="1000", currency="RUB")]
    ledger = chain([(1, "-10.90", "PURCHASE")])
    result = reconcile(ledger, orders, Settings())
    assert [item.order_key for item in result.items[Bucket.NOT_CHARGED]] == ["a"]
    (rate,) = result.observed_rates
    assert not rate.applied and rate.pairs == 1


def test_a_partial_refund_whose_charge_row_is_missing_is_still_its_refund():
    """Order o1's purchase row is missing from the ledger (the chain break shows it) but its
    partial refund is there. Another order, o2, owed a refund of exactly that amount, was
    charged only later: a refund never comes before its charge, so the row is o1's. Finance
    needs the money that came back matched to the order it came back for (REFUND_MATCHED), and
    the charge side of o1 stays NOT_CHARGED: the ledger we hold shows no charge for it, and its
    note says it was refunded, pointing at the missing row."""
    o1 = order("o1", "12.51", 0, 100, refund=True, expected_refund="5.00")
    o2 = order("o2", "5.00", 150, 400, status="FAILED", refund=True)  # refund withheld
    rows = [
        (0, "1000.00", "DEPOSIT"),
        (1, "-12.51", "PURCHASE"),
        (100, "5.00", "REFUND"),
        (151, "-5.00", "PURCHASE"),
    ]
    ledger = [entry for entry in chain(rows, opening=D("0.00")) if entry.id != 2]
    result = reconcile(ledger, [o1, o2], Settings(opening_balance=D("0.00")))
    assert_invariants(result, ledger, [o1, o2])
    (refund,) = result.items[Bucket.REFUND_MATCHED]
    assert (refund.ledger_row.id, refund.order_key) == (3, "o1")
    assert "no charge was found for this order" in refund.note
    assert [item.order_key for item in result.items[Bucket.NOT_CHARGED]] == ["o1"]
    assert "refunded by ledger row 3" in result.items[Bucket.NOT_CHARGED][0].note
    assert [item.order_key for item in result.items[Bucket.REFUND_MISSING]] == ["o2"]
    assert [item.order_key for item in result.items[Bucket.MATCHED]] == ["o2"]
    assert len(result.chain_breaks) == 1


def test_a_row_that_names_the_product_pairs_with_that_order():
    """Two orders of the same amount sent a second apart; the supplier's rows name what was
    bought (as its descriptions do) and came in the other order: each row goes to the order
    whose product and offer it names, not merely to the nearer one."""
    pubg = replace(order("pubg", "0.99", 0, 30), label="PUBG Mobile 60 UC")
    stars = replace(order("stars", "0.99", 1, 30), label="Telegram Stars 50 Stars")
    ledger = chain(
        [
            (0.3, "-0.99", "PURCHASE", "API Purchase - Telegram Stars 50 Stars"),
            (1.4, "-0.99", "PURCHASE", "API Purchase - PUBG Mobile 60 UC"),
        ]
    )
    result = reconcile(ledger, [pubg, stars], Settings())
    assert {(item.ledger_row.id, item.order_key) for item in result.items[Bucket.MATCHED]} == {
        (1, "stars"),
        (2, "pubg"),
    }
    # Without what the rows carry, time alone decides.
    plain = [replace(pubg, label=""), replace(stars, label="")]
    again = reconcile(ledger, plain, Settings())
    assert {(item.ledger_row.id, item.order_key) for item in again.items[Bucket.MATCHED]} == {
        (1, "pubg"),
        (2, "stars"),
    }
