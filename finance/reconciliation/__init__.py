"""Reconcile the supplier's transaction ledger against our own orders: pure Python, no ORM.

The supplier's ledger rows carry no order id, so which row belongs to which order is inferred from
the amount and the time. Finance checks every number, so every rule is spelled out here, and every
input ends up somewhere in the result.

Inputs are plain frozen records: `LedgerEntry` (a ledger row as the supplier sent it),
`LocalOrder` (what we expect of one of our orders) and `Settings` (tolerances, window slack, the
period and the opening balance when it is known). `reconcile()` returns a `ReconciliationResult`.

The method
==========

1. **Chain check.** The ledger is sorted by (created_at, id). Each row must satisfy
   ``balance_after == previous balance_after + amount`` exactly (Decimal). The first row is
   checked against `Settings.opening_balance` when that is known; otherwise the opening balance is
   derived from the first row (``balance_after - amount``) and only the later rows are checked.
   A break becomes a `ChainBreak` (the two rows, the expected and actual balance, and the gap
   ``actual - expected``: the sum of the rows missing between them, or minus an extra row).
   **Chain breaks are listed in addition to the buckets:** a row involved in a break still lands
   in its own bucket (a purchase is still matched or unexpected), so the bucket counts sum to the
   inputs whether or not the chain breaks. The breaks explain why the totals do not tie: see 4.

2. **The supplier's rates, then matching one to one.** Our expected USD comes from our rate
   table (each order keeps the rate it was sent at); the supplier converts at its own rates. So
   first (`rates`), purchases are paired with the orders in other currencies by time alone,
   inside a wide band of amounts (`rate_band`, 15 %), and the rate most pairs agree on to the
   cent is learned per currency. Where it fits the pairs better than the table, the matching
   below expects every order of that currency at the supplier's rate (E below), and the
   difference to the table is the pair's *FX variance*, reported per item, per currency
   (`ReconciliationResult.observed_rates`: observed against the table's) and in the totals. A
   wrong table thus shows as FX variance, never as a false unexpected charge beside a "not
   charged" order.

   PURCHASE rows are then matched to orders with `charged_expected`, REFUND rows to orders with
   `refund_expected`; each row and each order is used at most once per side.

   * *Window:* the row's time must lie inside ``[submitted_at - slack, (final_at or period end) +
     slack]``. An order never submitted (`submitted_at` None) has no window and matches nothing.
   * *Amount, purchases:* with ``L = -amount`` (the USD the supplier took) and ``E`` the
     expected charge (`expected_usd` to the cent, half up: the ledger only knows cents; at the
     supplier's learned rate where one applies), a pair is a candidate when ``|L - E| <=
     max(E * fx_tolerance, abs_tolerance)`` (relative OR absolute).
   * *Amount, refunds:* with ``L = amount`` and ``R = expected_refund_usd`` (or `expected_usd`
     when that is None), rounded to the cent: ``0 < L <= R + max(R * fx_tolerance, abs_tolerance)``. A refund may be
     smaller than expected (a partial delivery refunds only the missing units), so anything up
     to the tolerance above R is a candidate; the smaller ones rank last and are marked partial.
   * *Closest first:* candidate pairs are ranked by (amount class, time distance, amount
     difference) and taken greedily, skipping pairs whose row or order is already used. The amount
     class comes first (0: the amounts agree within `exact_tolerance`, i.e. to the cent; 1: within
     the tolerance; 2, refunds only: a partial refund), because an exact cent match is far stronger
     evidence than a few seconds: two orders of similar price submitted a second apart would
     otherwise swap their charges and both show a variance. The time distance is measured from
     `submitted_at` for a purchase (the supplier charges when it accepts the order) and from
     `final_at` for a refund (it refunds when the order fails). Within one amount class a row
     whose description names the order's product and offer (`LocalOrder.label`: what the
     supplier's rows carry) ranks before one that does not. Ties are broken by ledger id, then
     by the order's (submitted_at, key), so the result does not depend on the order of the inputs.
   * *A refund follows its charge:* an order whose charge is matched to a row takes no refund
     row booked before that row (an order charged later cannot have been refunded earlier).
   * *Augmenting swaps:* a greedy pass can leave a row and an order unmatched although a swap
     with an already matched pair would match all of them (order A's window covers rows 1 and 2,
     order B's only row 1, and the greedy pass gave row 1 to B). Each unmatched row then looks for
     a chain of at most `MAX_SWAPS` swaps that frees a compatible order; this never lowers the
     number of matches and keeps every pair inside the window and the tolerance.
   * *Cost:* O((n + m) log(n + m) + P log c): rows and orders are sorted by time and swept
     once; the orders whose window covers the current row are kept in a list sorted by amount, so
     only pairs that already fit the window and lie in the amount range are ever looked at (P of
     them, about the number of orders of a similar price in flight at the same time). Never all
     pairs. The candidate graph splits into small connected components (union-find), and the
     greedy pass and the swaps run per component (c: its size), which gives the same result as
     one global pass with far better memory locality. The cyclic garbage collector is paused
     during a run (see `_gc_paused`).

3. **Buckets.** Every ledger row lands in exactly one of MATCHED, MATCHED_WITH_VARIANCE,
   UNEXPECTED_CHARGE, REFUND_MATCHED, UNEXPECTED_REFUND, DEPOSIT, OTHER (a type we do not know).
   Every order lands in exactly one of MATCHED, MATCHED_WITH_VARIANCE, NOT_CHARGED,
   NO_CHARGE_EXPECTED (the charge side). An order that also owes a refund (a FAILED top-up was
   charged and refunded) has a second expectation, which lands in exactly one of REFUND_MATCHED
   and REFUND_MISSING (the refund side). A matched item holds the row and the order together, so
   it counts once for each. Hence::

       ledger rows  = MATCHED + MATCHED_WITH_VARIANCE + UNEXPECTED_CHARGE + REFUND_MATCHED
                      + UNEXPECTED_REFUND + DEPOSIT + OTHER
       orders       = MATCHED + MATCHED_WITH_VARIANCE + NOT_CHARGED + NO_CHARGE_EXPECTED
       refunds owed = REFUND_MATCHED + REFUND_MISSING

   A match is MATCHED when ``|L - E| <= exact_tolerance`` (default 0: the amounts agree to the
   cent at the supplier's rate), MATCHED_WITH_VARIANCE otherwise, with the variance ``L - T``
   against our table's expectation T (positive: the supplier took more than we expected), the
   part of it the supplier's rate explains (``fx_variance = E - T``), the variance in percent, and the implied FX rate ``L /
   amount`` (USD per unit of the order's currency) when the order carries its currency amount.
   UNEXPECTED_CHARGE (a supplier charge with no order of ours: that is how a double purchase shows)
   is the most serious. Unmatched rows and orders get a *hint* when an order or row in the same
   window comes close: "possible double charge of order X (already matched to row N)", "fits order
   X, which was not expected to be charged", or "nearest order, 7.5 % off (outside the tolerance)".
   Hints are notes only; they never move anything between buckets.

4. **Totals that tie.** The tie finance sees is ``opening + deposits - purchases + refunds +
   other = closing`` over the rows we hold, *without* the chain gaps: a missing row, an extra row
   or a wrong opening balance makes it fail by exactly the amount involved (`Totals.ties`,
   `Totals.tie_difference`), and the chain breaks say where. As an arithmetic identity
   ``opening + amounts + chain gaps = closing`` always holds (the gaps telescope the balance
   chain), so the totals tie exactly when the gaps sum to zero, in particular when the chain has
   no break. Beside it the same from our orders (expected charges of the matched and
   not-charged orders, expected refunds of the refund-owed orders), the closing they lead to and
   the ledger's difference to it, which splits exactly into variance on matched pairs +
   unexpected rows - orders never charged (refunds likewise) + the chain gaps.

5. **Periods and their neighbours.** With `period_start` / `period_end` set, the period is
   ``[start, end)``; a row belongs to it by its time, an order's charge by its submission and a
   refund owed by the moment the order failed (`final_at`, else its submission). The caller may
   pass rows and orders of the neighbouring periods too, as matching candidates: an order
   submitted at 23:59:59.5 and charged at 00:00:00.4 is then matched on both days. A match
   across the edge is listed (with a note: "ledger row N of the next period", "order #K of the
   previous period") and counts on this period's side only; whatever of a neighbour stays
   unmatched is not listed at all, and the chain check and the ledger totals use the period's own
   rows. The counts above hold for the period's own rows, orders and refunds owed
   (`ledger_rows_by_bucket()` and the others count those only).

   *Refunds* come later than charges: a refund row may lie up to `refund_window` (default 24 h)
   after the order failed, and is ranked by its distance from that moment.

   *A ledger synced only up to `ledger_synced_until`* cannot show what came after: an order not
   charged, or a refund missing, that was due after it carries a note starting "UNSYNCED".

Item keys
=========

Each item has a stable `item_key`, so an explanation written on it is kept by a later run over
the same rows: ``L:<ledger id>`` for every item that holds a ledger row (matched or not),
``O:<order key>`` for a charge-side order item without a row (NOT_CHARGED, NO_CHARGE_EXPECTED),
``R:<order key>`` for a refund owed and not received, and ``B:<previous id>-<id>`` for a chain
break; a break at the period's first row is keyed with the last row before the period
(`opening_row_id`) when that is known, as a run over a longer period keys it, else
``B:opening-<id>``.

The modules
===========

One module per step; everything other modules and the tests use is imported here:

- `types`: the buckets and the records in and out (`LedgerEntry`, `LocalOrder`, `Settings`,
  `ReconItem`, `ChainBreak`, `Totals`, `ReconciliationResult`);
- `engine`: `reconcile()`, which runs the steps below in turn;
- `prepared`: the inputs checked and put in canonical order, and what the steps read of them by
  position (each row's time and type, each order's windows, which belong to the period);
- `chain` (1), `rates` and `matching` (2), `hints` and `buckets` (3), `totals` (4).

`storing` is the exception to "no ORM": it writes a result as `ReconciliationItem` rows and
reads them back. It is not imported here (the models import this package for the bucket
labels); import it as `finance.reconciliation.storing`.
"""

from finance.money import CENT, ZERO
from finance.reconciliation.engine import reconcile
from finance.reconciliation.matching import MAX_SWAPS
from finance.reconciliation.types import (
    BUCKET_LABELS,
    DEFAULT_REFUND_WINDOW,
    DEPOSIT,
    HUNDRED,
    LEDGER_BUCKETS,
    ORDER_BUCKETS,
    PURCHASE,
    REFUND,
    REFUND_BUCKETS,
    Bucket,
    ChainBreak,
    LedgerEntry,
    LocalOrder,
    ObservedRate,
    ReconciliationResult,
    ReconItem,
    Settings,
    Totals,
    TotalsLine,
)

__all__ = [
    "BUCKET_LABELS",
    "CENT",
    "DEFAULT_REFUND_WINDOW",
    "DEPOSIT",
    "HUNDRED",
    "LEDGER_BUCKETS",
    "MAX_SWAPS",
    "ORDER_BUCKETS",
    "PURCHASE",
    "REFUND",
    "REFUND_BUCKETS",
    "ZERO",
    "Bucket",
    "ChainBreak",
    "LedgerEntry",
    "LocalOrder",
    "ObservedRate",
    "ReconItem",
    "ReconciliationResult",
    "Settings",
    "Totals",
    "TotalsLine",
    "reconcile",
]
