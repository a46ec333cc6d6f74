"""The overview's charts, drawn on the server as SVG geometry (the template only places it):
the balance over the chosen days as a line, with the alert threshold and zero when they are in
range, and the net spend per day as bars. Plain Python over what the selectors read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone

from finance.money import ZERO, cents

if TYPE_CHECKING:
    from finance.selectors import DaySpend

#: The balance line keeps at most this many points (and the last one).
CHART_POINTS = 400


@dataclass(frozen=True)
class Chart:
    """A line (the balance) or bars (spend per day) in an SVG drawn on the server."""

    width: int
    height: int
    low: Decimal
    high: Decimal
    first_at: object
    last_at: object
    count: int
    points: str = ""
    bars: tuple = ()
    threshold_y: float | None = None
    zero_y: float | None = None
    axis_low: Decimal | None = None
    axis_high: Decimal | None = None


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


def balance_chart(
    rows: Sequence[tuple[dt.datetime, Decimal]],
    *,
    start: dt.datetime,
    end: dt.datetime,
    threshold: Decimal | None = None,
    width: int = 1200,
    height: int = 220,
) -> Chart | None:
    """The balance of the snapshots (taken_at, balance), oldest first, over [start, end),
    thinned to at most CHART_POINTS points."""
    rows = list(rows)
    if not rows:
        return None
    if len(rows) > CHART_POINTS:
        step = len(rows) / CHART_POINTS
        rows = [rows[int(i * step)] for i in range(CHART_POINTS)] + [rows[-1]]
    balances = [balance for _, balance in rows]
    low, high = min(balances), max(balances)
    # The axis spans the balances and the threshold, with some room when they barely move.
    bottom, top = low, high
    if threshold is not None:
        bottom, top = min(bottom, threshold), max(top, threshold)
    if top - bottom < max(abs(top) * Decimal("0.02"), Decimal(1)):
        room = max(abs(top) * Decimal("0.02"), Decimal(1))
        bottom, top = bottom - room, top + room
    begin = start.timestamp()
    finish = max(min(end, timezone.now()).timestamp(), rows[-1][0].timestamp())
    pad = 10

    def x(at: dt.datetime | float) -> float:
        moment = at if isinstance(at, float) else at.timestamp()
        span = finish - begin
        return pad + ((moment - begin) / span if span > 0 else 1) * (width - 2 * pad)

    def y(value: Decimal) -> float:
        return height - pad - float(value - bottom) / float(top - bottom) * (height - 2 * pad)

    coordinates = [(x(at), y(balance)) for at, balance in rows]
    # The last balance holds until now: carry the line to the right edge.
    coordinates.append((x(finish), coordinates[-1][1]))
    points = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coordinates)
    return Chart(
        width=width,
        height=height,
        low=cents(low),
        high=cents(high),
        first_at=rows[0][0],
        last_at=rows[-1][0],
        count=len(rows),
        points=points,
        threshold_y=y(threshold) if threshold is not None else None,
        zero_y=y(ZERO) if bottom < 0 < top else None,
        axis_low=cents(bottom),
        axis_high=cents(top),
    )


def spend_chart(days: list[DaySpend], *, width: int = 1200, height: int = 150) -> Chart | None:
    """Net spend per day as bars, oldest on the left."""
    if not days:
        return None
    ordered = days[::-1]
    high = max((day.net for day in ordered), default=ZERO)
    if high <= 0:
        return None
    pad = 10
    slot = (width - 2 * pad) / len(ordered)
    bars = []
    for index, day in enumerate(ordered):
        value = max(day.net, ZERO)
        bar_height = float(value / high) * (height - 2 * pad)
        bars.append(
            Bar(
                x=round(pad + index * slot + slot * 0.15, 1),
                y=round(height - pad - bar_height, 1),
                width=round(max(slot * 0.7, 1), 1),
                height=round(bar_height, 1),
                label=f"{day.day:%Y-%m-%d}: {day.net} USD",
            )
        )
    return Chart(
        width=width,
        height=height,
        low=ZERO,
        high=high,
        first_at=ordered[0].day,
        last_at=ordered[-1].day,
        count=len(ordered),
        bars=tuple(bars),
    )
