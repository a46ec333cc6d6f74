"""The overview's charts are plain geometry over what the selectors read (no database)."""

import datetime as dt
from decimal import Decimal

from finance.charts import CHART_POINTS, balance_chart, spend_chart
from finance.selectors import DaySpend

START = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)


def test_no_snapshot_draws_no_balance_chart():
    assert balance_chart([], start=START, end=END) is None


def test_the_balance_line_runs_to_the_right_edge_with_the_threshold_on_the_axis():
    rows = [
        (START + dt.timedelta(hours=6), Decimal("120.0000")),
        (START + dt.timedelta(hours=12), Decimal("80.5000")),
    ]
    chart = balance_chart(rows, start=START, end=END, threshold=Decimal("50"), width=1000)
    points = [tuple(map(float, point.split(","))) for point in chart.points.split()]
    # Each snapshot, then the last balance carried to the end of the period.
    assert len(points) == 3 and points[-1] == (990.0, points[1][1])
    assert points[0][0] == 10 + 0.25 * 980
    assert (chart.low, chart.high, chart.count) == (Decimal("80.50"), Decimal("120.00"), 2)
    assert chart.axis_low <= Decimal("50") and chart.threshold_y is not None
    assert chart.zero_y is None  # zero is not in range


def test_a_long_history_is_thinned_to_the_chart_points():
    rows = [(START + dt.timedelta(minutes=minute), Decimal(minute)) for minute in range(1, 1000)]
    chart = balance_chart(rows, start=START, end=END)
    assert chart.count == CHART_POINTS + 1 and chart.last_at == rows[-1][0]


def test_spend_bars_run_oldest_first_and_no_spend_draws_none():
    days = [  # newest first, as spend_per_day gives them
        DaySpend(dt.date(2025, 7, 3), Decimal("30.00"), Decimal("0.00"), Decimal("0.00")),
        DaySpend(dt.date(2025, 7, 2), Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),
        DaySpend(dt.date(2025, 7, 1), Decimal("20.00"), Decimal("5.00"), Decimal("0.00")),
    ]
    chart = spend_chart(days, width=320, height=150)
    assert [bar.label for bar in chart.bars] == [
        "2025-07-01: 15.00 USD",
        "2025-07-02: 0.00 USD",
        "2025-07-03: 30.00 USD",
    ]
    assert chart.bars[2].height == 130.0 and chart.bars[0].height == 65.0
    assert chart.high == Decimal("30.00")
    assert spend_chart(days[1:2]) is None
