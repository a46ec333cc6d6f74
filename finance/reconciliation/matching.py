"""Step 2 of the method: ledger rows matched to orders one to one, PURCHASE rows to the orders
expected to be charged and REFUND rows to the orders owed a refund (see the package docstring):
candidate pairs found by a sweep over time, split into connected components, then per component
a greedy closest-first pass and short augmenting swaps.

The same machinery first pairs purchases by time alone, inside a wide band of amounts
(`pair_by_time`), to learn the rates the supplier really uses (`rates`); the matching proper then
expects those rates, so a wrong rate table does not break pairs apart."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from finance.money import ZERO
from finance.reconciliation.prepared import (
    END,
    PURCHASE_ANCHOR,
    REFUND_ANCHOR,
    REFUND_END,
    START,
    Prepared,
)
from finance.reconciliation.types import PURCHASE, REFUND

#: An unmatched row looks for a chain of at most this many swaps with matched pairs.
MAX_SWAPS = 3

#: A candidate pair: (sort key, amount difference, row, order, amount class); see `_components`.
Edge = tuple[float, float, int, int, int]


@dataclass(slots=True)
class Side:
    """One matching problem: rows of one type against the orders expected on that side."""

    refund: bool
    rows: list[int]  # ledger positions of this side's type
    orders: list[int]  # positions of the orders expected on this side
    row_of: list[int]  # order position -> matched ledger position, or -1
    order_of: list[int]  # ledger position -> matched order position, or -1
    tier_of: list[int]  # ledger position -> amount class of its match


@dataclass(frozen=True, slots=True)
class Rule:
    """How one pass finds and ranks its pairs: the relative amount tolerance, and whether the
    time alone ranks them (learning the rates) or the amount class first (the matching)."""

    tolerance: Decimal
    by_time: bool = False
    #: Only rows within the window slack of the order's submission (the supplier charges when
    #: it accepts the order): pairs that teach a rate must be close, and the pass stays cheap.
    near_submission: bool = False


def match_purchases(prepared: Prepared, expected: list[Decimal] | None = None) -> Side:
    """PURCHASE rows matched to the orders expected to be charged, by their charge (`expected`,
    per order position: at the supplier's rates where they were learned; else the table's)."""
    side = _side(prepared, refund=False)
    charges = prepared.charges if expected is None else expected
    _match(side, prepared, charges, Rule(prepared.settings.fx_tolerance))
    return side


def match_refunds(
    prepared: Prepared, owed: list[Decimal] | None = None, purchases: Side | None = None
) -> Side:
    """REFUND rows matched to the orders owed a refund, by the refund owed. A refund follows
    its charge: an order whose charge row is matched takes no refund row booked before it."""
    side = _side(prepared, refund=True)
    if owed is None:
        owed = [order.refund_usd if order.refund_expected else ZERO for order in prepared.orders]
    after: list[float] | None = None
    if purchases is not None:
        times = prepared.times
        after = [-math.inf if row < 0 else times[row] for row in purchases.row_of]
    _match(side, prepared, owed, Rule(prepared.settings.fx_tolerance), after)
    return side


def pair_by_time(prepared: Prepared, orders: list[int]) -> Side:
    """PURCHASE rows paired with the given orders one to one by time alone, amounts within
    `Settings.rate_band` of the table's: the pairs the supplier's rates are learned from."""
    side = _side(prepared, refund=False)
    side.orders = orders
    rule = Rule(prepared.settings.rate_band, by_time=True, near_submission=True)
    _match(side, prepared, prepared.charges, rule)
    return side


def _side(prepared: Prepared, *, refund: bool) -> Side:
    kind = REFUND if refund else PURCHASE
    orders, rows = len(prepared.orders), len(prepared.entries)
    return Side(
        refund=refund,
        rows=[i for i, row_kind in enumerate(prepared.kinds) if row_kind == kind],
        orders=[
            i
            for i, order in enumerate(prepared.orders)
            if (order.refund_expected if refund else order.charged_expected)
        ],
        row_of=[-1] * orders,
        order_of=[-1] * rows,
        tier_of=[0] * rows,
    )


def _match(
    side: Side,
    prepared: Prepared,
    expected: list[Decimal],
    rule: Rule,
    after: list[float] | None = None,
) -> None:
    """Greedy closest-first one-to-one matching, then short augmenting swaps, component by
    component. `expected` holds, per order position, the amount this side expects; `after`, per
    order position, the moment before which no row of this side can be its (its charge)."""
    for edges in _components(side, prepared, expected, rule, after):
        _assign(side, edges)


def _components(
    side: Side,
    prepared: Prepared,
    expected: list[Decimal],
    rule: Rule,
    after: list[float] | None,
) -> list[list[Edge]]:
    """The candidate pairs of the side, grouped in connected components.

    Candidate pairs only link rows and orders close in time, so the candidate graph falls apart
    into small connected components (found with a union-find over the orders, a row's
    candidates being joined to its first one). Greedy and swaps never cross a component, so
    each is solved on its own: small sorts over edges made together, instead of one sort over
    everything that touches memory at random (that costs more than n log n in practice).
    """
    refund = side.refund
    settings = prepared.settings
    times, spans = prepared.times, prepared.spans
    exact = settings.exact_tolerance
    fx = rule.tolerance
    by_time = rule.by_time
    absolute = settings.abs_tolerance
    rows, magnitudes = _rows(side, prepared, fx)
    windows = _windows(side, prepared, expected, after, rule.near_submission)
    unnamed = _Unnamed(prepared)
    anchor_index = REFUND_ANCHOR if refund else PURCHASE_ANCHOR
    # Each order's anchor moment; the sweep pairs rows only with orders that have windows.
    anchors = [math.nan if span is None else span[anchor_index] for span in spans]

    parent = list(range(len(expected)))

    def find(order: int) -> int:
        while parent[order] != order:
            parent[order] = parent[parent[order]]
            order = parent[order]
        return order

    # An edge sorts by (amount class, the row not naming the order, time distance, amount
    # difference, row, order); the first three are packed in one float (class * 1e10 + 1e9 when
    # the row does not name the order + seconds: no window is 30 years long), which sorts twice
    # as fast as a tuple led by the class. Rows and orders are positions in their
    # canonical order, so ties break the same way whatever the order of the inputs.
    components: dict[int, list[Edge]] = {}
    last_row, first_root = -1, -1
    for row, order in sweep(rows, windows):
        supplier = magnitudes[row]
        ours = expected[order]
        difference = abs(supplier - ours)
        if difference <= exact:
            rank = 0
        elif difference <= absolute or difference <= ours * fx:
            rank = 1
        elif refund and supplier < ours:
            rank = 2
        else:
            continue
        distance = abs(times[row] - anchors[order])
        key = distance if by_time else rank * 1e10 + distance + unnamed.penalty(row, order)
        edge = (key, float(difference), row, order, 0 if by_time else rank)
        root = find(order)
        if row != last_row:
            last_row, first_root = row, root
        elif root != first_root:
            # Join the smaller component into the larger one's root.
            keep, drop = first_root, root
            if len(components.get(keep, ())) < len(components.get(drop, ())):
                keep, drop = drop, keep
            parent[drop] = keep
            merged = components.pop(drop, None)
            if merged:
                components.setdefault(keep, []).extend(merged)
            first_root = root = keep
        components.setdefault(root, []).append(edge)
    return list(components.values())


def _windows(
    side: Side,
    prepared: Prepared,
    expected: list[Decimal],
    after: list[float] | None,
    near_submission: bool = False,
) -> list[tuple[float, float, float, int]]:
    """The side's orders as (window start, window end, amount expected, order), by start; a
    window starts no earlier than `after` (a refund's: its charge row), and ends within the
    slack after the submission when `near_submission`."""
    end_index = REFUND_END if side.refund else END
    spans = prepared.spans
    slack = prepared.settings.window_slack.total_seconds()
    return sorted(
        (
            span[START] if after is None else max(span[START], after[order]),
            min(span[end_index], span[PURCHASE_ANCHOR] + slack)
            if near_submission
            else span[end_index],
            float(expected[order]),
            order,
        )
        for order in side.orders
        if (span := spans[order]) is not None
    )


class _Unnamed:
    """What the supplier's rows name a purchase by: a row that does not name the order's
    product and offer ranks after one that does, in the same amount class (1e9 seconds later:
    no effect where the rows name nothing or the orders carry no label)."""

    def __init__(self, prepared: Prepared) -> None:
        self.labels = [order.label.lower() for order in prepared.orders]
        self.entries = prepared.entries
        self.descriptions: dict[int, str] = {}

    def penalty(self, row: int, order: int) -> float:
        label = self.labels[order]
        if not label:
            return 0.0
        description = self.descriptions.get(row)
        if description is None:
            description = self.descriptions[row] = self.entries[row].description.lower()
        return 0.0 if label in description else 1e9


def _rows(
    side: Side, prepared: Prepared, tolerance: Decimal
) -> tuple[list[tuple], dict[int, Decimal]]:
    """The side's rows that move money the right way, as (time, row, lowest and highest
    expected amount that fits) sorted by time, and each one's amount as a positive magnitude."""
    refund = side.refund
    settings = prepared.settings
    entries, times = prepared.entries, prepared.times
    fx_float, absolute_float = float(tolerance), float(settings.abs_tolerance)
    magnitudes: dict[int, Decimal] = {}
    rows = []
    for row in side.rows:
        amount = entries[row].amount
        magnitude = amount if refund else -amount
        if magnitude > 0:
            magnitudes[row] = magnitude
            low, high = _amount_range(float(magnitude), fx_float, absolute_float, not refund)
            rows.append((times[row], row, low, high))
    rows.sort()
    return rows, magnitudes


def _assign(side: Side, edges: list[Edge]) -> None:
    """Match one component: closest pairs first, then a swap chain for each row left over."""
    order_of = side.order_of
    row_of = side.row_of
    tier_of = side.tier_of
    if len(edges) == 1:
        _key, _difference, row, order, rank = edges[0]
        order_of[row], row_of[order], tier_of[row] = order, row, rank
        return
    edges.sort()
    for _key, _difference, row, order, rank in edges:
        if order_of[row] >= 0 or row_of[order] >= 0:
            continue
        order_of[row], row_of[order], tier_of[row] = order, row, rank
    left = sorted({edge[2] for edge in edges if order_of[edge[2]] < 0})
    if left:
        neighbours: dict[int, list[tuple[int, int]]] = {}
        for _key, _difference, row, order, rank in edges:
            neighbours.setdefault(row, []).append((order, rank))
        for row in left:
            _augment(row, neighbours, side)


def sweep(
    rows: list[tuple[float, int, float, float]],
    windows: list[tuple[float, float, float, int]],
) -> Iterator[tuple[int, int]]:
    """Yield (row, order) pairs where the row time is inside the order window and the order
    amount (as a float, to be re-checked exactly) lies in the row's amount range.

    `rows` are (time, row, lowest amount, highest amount) sorted by time; `windows` are (start,
    end, amount, order) sorted by start. The orders whose window covers the current time are kept
    sorted by amount, so each row only looks at orders that already fit the window and the amount
    range.
    """
    active: list[tuple[float, int]] = []
    expiry: list[tuple[float, float, int]] = []
    next_window = 0
    total = len(windows)
    for time, row, low, high in rows:
        while next_window < total and windows[next_window][0] <= time:
            start, end, amount, order = windows[next_window]
            next_window += 1
            if end >= time:
                insort(active, (amount, order))
                heapq.heappush(expiry, (end, amount, order))
        while expiry and expiry[0][0] < time:
            _end, amount, order = heapq.heappop(expiry)
            del active[bisect_left(active, (amount, order))]
        if not active:
            continue
        position = bisect_left(active, (low, -1))
        while position < len(active):
            amount, order = active[position]
            if amount > high:
                break
            yield row, order
            position += 1


def _amount_range(
    value: float, relative: float, absolute: float, upper: bool
) -> tuple[float, float]:
    """The float range of expected amounts E with |L - E| <= max(E * relative, absolute) (or,
    without `upper`, with L <= E + that), widened a little so float rounding never drops a
    candidate: the exact Decimal test comes after."""
    margin = 1e-6 + value * 1e-9
    low = min(value / (1 + relative), value - absolute) - margin
    if not upper:
        return low, math.inf
    return low, max(value / (1 - relative), value + absolute) + margin


def _augment(start: int, neighbours: dict[int, list[tuple[int, int]]], side: Side) -> bool:
    """Find a path start -> order -> its row -> another order ... ending at a free order within
    MAX_SWAPS swaps, and flip it (depth-limited Kuhn step: the match count grows by one)."""
    visited: set[int] = set()
    order_of, row_of, tier_of = side.order_of, side.row_of, side.tier_of

    def search(row: int, depth: int) -> bool:
        for order, rank in neighbours.get(row, ()):
            if order in visited:
                continue
            visited.add(order)
            holder = row_of[order]
            if holder < 0 or (depth < MAX_SWAPS and search(holder, depth + 1)):
                order_of[row] = order
                row_of[order] = row
                tier_of[row] = rank
                return True
        return False

    return search(start, 0)
