"""Step 2a of the method: the rates the supplier really converts at, learned from its rows.

Our expected USD comes from our rate table; the supplier converts at its own rates, and a table a
few percent off would otherwise turn every pair into an unexpected charge beside a "not charged"
order. So before matching, per currency:

1. Purchases are paired with the orders in other currencies than USD (at most `LEARN_FROM` of
   each currency, spread over the period) by time alone, within the window slack of their
   submission (`matching.pair_by_time`: the
   row nearest the order's submission, one to one), with amounts only checked to lie within
   `Settings.rate_band` of the table's expectation.
2. Each pair implies a range of rates: the supplier debits ``units x round(unit price x rate, 2)``,
   so the rates that give exactly the row's amount form an interval. The rate inside the most
   intervals is the one most pairs agree on to the cent (a sweep over the interval ends).
3. That rate is *applied* when at least two pairs agree on it to the cent, more than agree with
   the table, and either it brings more pairs within the matching tolerance than the table does,
   or as many while nine in ten pairs or more agree on it (the table is then merely off, and
   its difference becomes FX variance instead of a variance on every pair). The matching then expects every order of the currency at it (refunds in
   proportion), and the difference to the table is reported as FX variance, per pair and per
   currency. Otherwise the table stands (one pair cannot tell a wrong rate from a wrong price,
   and a rate two pairs happen to share must not push the others out of the tolerance), and the
   observed rate is still reported.

USD orders, orders without their currency amount and never-submitted orders are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

from finance.money import CENT, ZERO
from finance.reconciliation.matching import pair_by_time
from finance.reconciliation.prepared import Prepared
from finance.reconciliation.types import ObservedRate

#: A currency's rate is learned from at most this many of its orders, spread evenly over the
#: period (thousands of pairs agree on a rate as well as a hundred thousand, at a fraction of
#: the cost of a second full matching).
LEARN_FROM = 2000

#: Rates keep ten significant digits (far finer than a cent on any amount).
_RATE = Context(prec=10)
_HALF_CENT = 0.005


@dataclass(frozen=True, slots=True)
class Learned:
    """Per order position the charge and the refund the matching expects (at the supplier's
    rate where one was applied), and per currency what was observed."""

    charges: list[Decimal]
    owed: list[Decimal]
    observed: list[ObservedRate]


def learn_rates(prepared: Prepared) -> Learned:
    orders = prepared.orders
    charges = list(prepared.charges)
    owed = [order.refund_usd if order.refund_expected else ZERO for order in orders]
    by_currency: dict[str, list[int]] = {}
    for position, order in enumerate(orders):
        if (
            order.currency
            and order.currency.upper() != "USD"
            and order.amount
            and order.amount > 0
            and order.charged_expected
            and prepared.spans[position] is not None
        ):
            by_currency.setdefault(order.currency, []).append(position)
    # One pass for all currencies: a row goes to the order nearest in time, whatever its currency.
    learning = sorted(
        position for positions in by_currency.values() for position in _spread(positions)
    )
    side = pair_by_time(prepared, learning)
    pairs_of: dict[str, list[tuple[int, int]]] = {}
    for position, row in enumerate(side.row_of):
        if row >= 0:
            pairs_of.setdefault(orders[position].currency or "", []).append((row, position))
    observed = []
    for currency in sorted(by_currency):
        rate = _learn(prepared, currency, pairs_of.get(currency, []))
        if rate.applied and rate.observed is not None:
            for position in range(len(orders)):
                order = orders[position]
                if order.currency != currency or not order.amount or order.amount <= 0:
                    continue
                charge = _at_rate(order.amount, order.units, rate.observed)
                table = charges[position]
                charges[position] = charge
                if order.refund_expected:
                    owed[position] = (
                        (owed[position] * charge / table).quantize(CENT, ROUND_HALF_UP)
                        if table
                        else owed[position]
                    )
        observed.append(rate)
    return Learned(charges, owed, observed)


def _learn(prepared: Prepared, currency: str, pairs: list[tuple[int, int]]) -> ObservedRate:
    """The rate most pairs agree on to the cent, and whether it beats the table's."""
    entries, orders, charges = prepared.entries, prepared.orders, prepared.charges
    ends: list[tuple[float, int]] = []
    table_agrees = 0
    amount_sum = ZERO
    table_sum = ZERO
    for row, position in pairs:
        order = orders[position]
        supplier = -entries[row].amount
        units = max(order.units, 1)
        unit_price = float(order.amount) / units  # type: ignore[arg-type]
        per_unit = float(supplier) / units
        ends.append(((per_unit - _HALF_CENT) / unit_price, 1))
        ends.append(((per_unit + _HALF_CENT) / unit_price, -1))
        if supplier == charges[position]:
            table_agrees += 1
        amount_sum += order.amount or ZERO
        table_sum += order.expected_usd
    table = _RATE.divide(table_sum, amount_sum) if amount_sum else None
    if not pairs:
        return ObservedRate(currency, 0, 0, table, None, False)
    # The point inside the most intervals: ends sorted, closing ends before opening ones at the
    # same value (the intervals are half open), the best segment's middle taken.
    ends.sort(key=lambda end: (end[0], end[1]))
    best, inside, best_low, best_high = 0, 0, 0.0, 0.0
    for index, (value, step) in enumerate(ends):
        inside += step
        if step > 0 and inside > best:
            best = inside
            best_low = value
            best_high = ends[index + 1][0]
    observed = _RATE.create_decimal_from_float((best_low + best_high) / 2)
    settings = prepared.settings
    fits_table = fits_observed = 0
    for row, position in pairs:
        order = orders[position]
        supplier = -entries[row].amount
        fits_table += _fits(
            supplier, charges[position], settings.fx_tolerance, settings.abs_tolerance
        )
        at_rate = _at_rate(order.amount or ZERO, order.units, observed)
        fits_observed += _fits(supplier, at_rate, settings.fx_tolerance, settings.abs_tolerance)
    applied = (
        best >= 2
        and best > table_agrees
        and (
            fits_observed > fits_table
            or (fits_observed == fits_table and best * 10 >= len(pairs) * 9)
        )
    )
    return ObservedRate(currency, len(pairs), best, table, observed, applied)


def _fits(supplier: Decimal, expected: Decimal, relative: Decimal, absolute: Decimal) -> bool:
    difference = abs(supplier - expected)
    return difference <= absolute or difference <= expected * relative


def _spread(positions: list[int]) -> list[int]:
    """At most LEARN_FROM of the positions, evenly spread (all of them when fewer)."""
    if len(positions) <= LEARN_FROM:
        return positions
    step = len(positions) / LEARN_FROM
    return [positions[int(index * step)] for index in range(LEARN_FROM)]


def _at_rate(amount: Decimal, units: int, rate: Decimal) -> Decimal:
    """What the supplier debits for `amount` (the order's total in its currency) at `rate`."""
    units = max(units, 1)
    return (amount / units * rate).quantize(CENT, ROUND_HALF_UP) * units
