"""The overview's charts, drawn on the server as SVG geometry (the template only places it):
the balance over the chosen days as a line, and the net spend per day as bars. Both have real
axes: amounts on the left with round ticks, dates (or hours, within one day) along the bottom.
Every point and bar carries its date and amount as a `<title>` (shown on hover, read by screen
readers). No script runs: the strict CSP stays as it is.

States a chart cannot draw well say so instead: no snapshot (None), one snapshot only
(`Chart.single`: one balance, not a blip), no spend; runs of days without spend are folded into
one narrow slot ("5 days without spend"), in the chart and in the table (`fold_quiet_days`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone

from finance.money import ZERO, cents

if TYPE_CHECKING:
    from finance.selectors import DaySpend

#: The balance line keeps at most this many points (and the last one).
CHART_POINTS = 400
#: Room for the amount labels on the left and the date labels below.
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 24, 30
#: A run of at least this many days without spend is folded into one slot.
FOLD_AFTER = 3


@dataclass(frozen=True)
class Tick:
    """A labelled mark on an axis: its position in the SVG and its text."""

    at: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # "2025-07-01 12:00 · 9,980.05 USD"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    folded: bool = False  # a run of days without spend, not a day


@dataclass(frozen=True)
class Chart:
    """A line (the balance) or bars (spend per day) with its axes, in an SVG drawn on the
    server. `single` is the one balance of a period with one snapshot only (nothing drawn)."""

    width: int
    height: int
    low: Decimal
    high: Decimal
    first_at: object
    last_at: object
    count: int
    points: str = ""
    dots: tuple[Point, ...] = ()
    bars: tuple[Bar, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    threshold_y: float | None = None
    zero_y: float | None = None
    axis_low: Decimal | None = None
    axis_high: Decimal | None = None
    single: bool = False
    one_day: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_width(self) -> int:
        return self.width - RIGHT - LEFT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def x_label_y(self) -> int:
        return self.height - 10


@dataclass(frozen=True)
class QuietDays:
    """A run of days without purchases, refunds or deposits, folded into one line."""

    first: dt.date
    last: dt.date
    count: int

    @property
    def label(self) -> str:
        return f"{self.count} days without spend ({self.first:%Y-%m-%d} to {self.last:%Y-%m-%d})"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values from at or below `low` to at or above `high`, about `count` of them (steps
    of 1, 2 or 5 times a power of ten)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    ticks = []
    value = first
    while value <= last + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _amount(value: float) -> str:
    return f"{value:,.2f}"


def _date_ticks(begin: float, finish: float, x) -> tuple[list[Tick], bool]:
    """Ticks along a time axis: hours within one day, else days (at most about 8 labels)."""
    span = finish - begin
    zone = timezone.get_current_timezone()
    start = dt.datetime.fromtimestamp(begin, zone)
    if span <= 86400 * 1.5:
        step = dt.timedelta(hours=max(1, math.ceil(span / 3600 / 8)))
        moment = start.replace(minute=0, second=0, microsecond=0)
        fmt, one_day = "%H:%M", True
    else:
        days = max(1, math.ceil(span / 86400 / 8))
        step = dt.timedelta(days=days)
        moment = start.replace(hour=0, minute=0, second=0, microsecond=0)
        fmt, one_day = "%b %d", False
    ticks = []
    # A label at the very right edge would be cut in half: the last one stops short of it.
    while moment.timestamp() < finish - span * 0.02:
        if moment.timestamp() >= begin:
            ticks.append(Tick(round(x(moment.timestamp()), 1), moment.strftime(fmt)))
        moment += step
    return ticks, one_day


def balance_chart(
    rows: Sequence[tuple[dt.datetime, Decimal]],
    *,
    start: dt.datetime,
    end: dt.datetime,
    threshold: Decimal | None = None,
    width: int = 1200,
    height: int = 240,
) -> Chart | None:
    """The balance of the snapshots (taken_at, balance), oldest first, over [start, end),
    thinned to at most CHART_POINTS points. None without a snapshot; one snapshot is `single`
    (the page says the balance instead of drawing a blip)."""
    rows = list(rows)
    if not rows:
        return None
    if len(rows) == 1:
        at, balance = rows[0]
        return Chart(width, height, cents(balance), cents(balance), at, at, 1, single=True)
    if len(rows) > CHART_POINTS:
        step = len(rows) / CHART_POINTS
        rows = [rows[int(i * step)] for i in range(CHART_POINTS)] + [rows[-1]]
    balances = [balance for _, balance in rows]
    low, high = min(balances), max(balances)
    bottom, top = float(low), float(high)
    if threshold is not None:
        bottom, top = min(bottom, float(threshold)), max(top, float(threshold))
    room = max(abs(top) * 0.02, 1.0)
    if top - bottom < room:
        bottom, top = bottom - room, top + room
    values = nice_ticks(bottom, top)
    bottom, top = values[0], values[-1]
    # The time axis spans the snapshots, not the empty days before the first one.
    begin = rows[0][0].timestamp()
    finish = max(min(end, timezone.now()).timestamp(), rows[-1][0].timestamp())
    plot_width, plot_bottom = width - LEFT - RIGHT, height - BOTTOM

    def x(moment: float) -> float:
        span = finish - begin
        return LEFT + ((moment - begin) / span if span > 0 else 1) * plot_width

    def y(value: float) -> float:
        return plot_bottom - (value - bottom) / (top - bottom) * (plot_bottom - TOP)

    dots = tuple(
        Point(
            round(x(at.timestamp()), 1),
            round(y(float(balance)), 1),
            f"{timezone.localtime(at):%Y-%m-%d %H:%M} · {cents(balance):,.2f} USD",
        )
        for at, balance in rows
    )
    # The last balance holds until now: carry the line to the right edge.
    coordinates = [(dot.x, dot.y) for dot in dots] + [(round(x(finish), 1), dots[-1].y)]
    x_ticks, one_day = _date_ticks(begin, finish, x)
    notes = []
    if one_day:
        notes.append(
            f"All snapshots are from {timezone.localtime(rows[0][0]):%Y-%m-%d}: "
            "the axis shows its hours."
        )
    return Chart(
        width=width,
        height=height,
        low=cents(low),
        high=cents(high),
        first_at=rows[0][0],
        last_at=rows[-1][0],
        count=len(rows),
        points=" ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coordinates),
        dots=dots if len(dots) <= 120 else (),
        y_ticks=tuple(Tick(round(y(value), 1), _amount(value)) for value in values),
        x_ticks=tuple(x_ticks),
        threshold_y=round(y(float(threshold)), 1) if threshold is not None else None,
        zero_y=round(y(0.0), 1) if bottom < 0 < top else None,
        axis_low=cents(Decimal(str(bottom))),
        axis_high=cents(Decimal(str(top))),
        one_day=one_day,
        notes=tuple(notes),
    )


def fold_quiet_days(days: Sequence[DaySpend]) -> list[DaySpend | QuietDays]:
    """The days in their order with each run of FOLD_AFTER or more days without purchases,
    refunds or deposits folded into one `QuietDays` (for the chart and the table)."""
    folded: list[DaySpend | QuietDays] = []
    run: list[DaySpend] = []

    def flush() -> None:
        if len(run) >= FOLD_AFTER:
            ends = sorted((run[0].day, run[-1].day))
            folded.append(QuietDays(ends[0], ends[1], len(run)))
        else:
            folded.extend(run)
        run.clear()

    for day in days:
        if not (day.purchases or day.refunds or day.deposits):
            run.append(day)
            continue
        flush()
        folded.append(day)
    flush()
    return folded


def spend_chart(days: list[DaySpend], *, width: int = 1200, height: int = 190) -> Chart | None:
    """Net spend per day as bars, oldest on the left, quiet runs folded into a narrow slot.
    None when nothing was spent in the period (the page says so)."""
    if not days:
        return None
    ordered = fold_quiet_days(days[::-1])
    spent = [entry for entry in ordered if not isinstance(entry, QuietDays)]
    high = max((day.net for day in spent), default=ZERO)
    if high <= 0:
        return None
    values = nice_ticks(0.0, float(high))
    top = values[-1]
    plot_width, plot_bottom = width - LEFT - RIGHT, height - BOTTOM
    # A folded run takes a third of a day's slot.
    weights = [0.35 if isinstance(entry, QuietDays) else 1.0 for entry in ordered]
    unit = plot_width / sum(weights)

    def y(value: float) -> float:
        return plot_bottom - value / top * (plot_bottom - TOP)

    bars, x_ticks = [], []
    left = float(LEFT)
    label_every = max(1, math.ceil(len(spent) / 12))
    shown = 0
    for entry, weight in zip(ordered, weights, strict=True):
        slot = unit * weight
        if isinstance(entry, QuietDays):
            bars.append(
                Bar(round(left, 1), round(plot_bottom - 4.0, 1), round(slot, 1), 4.0,
                    entry.label, folded=True)
            )  # fmt: skip
        else:
            value = max(float(entry.net), 0.0)
            bar_top = y(value)
            bars.append(
                Bar(
                    x=round(left + slot * 0.15, 1),
                    y=round(bar_top, 1),
                    width=round(max(slot * 0.7, 1), 1),
                    height=round(plot_bottom - bar_top, 1),
                    label=f"{entry.day:%Y-%m-%d}: {entry.net:,.2f} USD net "
                    f"({entry.purchases:,.2f} bought, {entry.refunds:,.2f} refunded)",
                )
            )
            if shown % label_every == 0:
                x_ticks.append(Tick(round(left + slot / 2, 1), f"{entry.day:%b %d}"))
            shown += 1
        left += slot
    notes = []
    if len(spent) == 1:
        notes.append(f"Spend on one day only: {spent[0].day:%Y-%m-%d}.")
    folded = sum(entry.count for entry in ordered if isinstance(entry, QuietDays))
    if folded:
        notes.append(f"{folded} days without spend are folded into the grey slots.")
    return Chart(
        width=width,
        height=height,
        low=ZERO,
        high=high,
        first_at=days[-1].day,
        last_at=days[0].day,
        count=len(spent),
        bars=tuple(bars),
        y_ticks=tuple(Tick(round(y(value), 1), _amount(value)) for value in values),
        x_ticks=tuple(x_ticks),
        one_day=len(spent) == 1,
        notes=tuple(notes),
    )
