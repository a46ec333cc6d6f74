"""The overview's charts are plain geometry over what the selectors read (no database): real
axes, a label on every point and bar, and states that say what they are instead of a blip."""

import datetime as dt
from decimal import Decimal

from finance.charts import (
    BOTTOM,
    CHART_POINTS,
    LEFT,
    RIGHT,
    TOP,
    QuietDays,
    balance_chart,
    fold_quiet_days,
    nice_ticks,
    spend_chart,
)
from finance.selectors import DaySpend

START = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=7)
D = Decimal


def day(date: dt.date, purchases="0.00", refunds="0.00", deposits="0.00") -> DaySpend:
    return DaySpend(date, D(purchases), D(refunds), D(deposits))


def test_ticks_are_round_and_cover_the_values():
    assert nice_ticks(9980.05, 10000) == [9980, 9985, 9990, 9995, 10000]
    assert nice_ticks(0, 37) == [0, 10, 20, 30, 40]
    ticks = nice_ticks(-12.5, 130)
    assert ticks[0] <= -12.5 and ticks[-1] >= 130 and 0 in ticks


def test_no_snapshot_draws_nothing_and_one_snapshot_is_said_not_drawn():
    assert balance_chart([], start=START, end=END) is None
    one = balance_chart([(START, D("10000.0000"))], start=START, end=END)
    assert one.single and one.low == D("10000.00") and one.points == ""


def test_the_balance_has_amount_and_date_axes_and_a_label_on_every_point():
    rows = [
        (START + dt.timedelta(days=1, hours=6), D("120.0000")),
        (START + dt.timedelta(days=3, hours=12), D("80.5000")),
        (START + dt.timedelta(days=5), D("95.2500")),
    ]
    chart = balance_chart(rows, start=START, end=END, threshold=D("50"), width=1000)
    # Amounts: round ticks from at or below the threshold to at or above the highest balance.
    assert [tick.label for tick in chart.y_ticks] == ["40.00", "60.00", "80.00", "100.00", "120.00"]
    assert all(TOP <= tick.at <= chart.height - BOTTOM for tick in chart.y_ticks)
    # Dates along the bottom, inside the plot.
    assert [tick.label for tick in chart.x_ticks] == [
        "Jul 03",
        "Jul 04",
        "Jul 05",
        "Jul 06",
        "Jul 07",
    ]
    assert all(LEFT <= tick.at <= 1000 - RIGHT for tick in chart.x_ticks)
    # Every snapshot is a labelled dot; the line runs on to the right edge.
    assert [dot.label for dot in chart.dots] == [
        "2025-07-02 06:00 · 120.00 USD",
        "2025-07-04 12:00 · 80.50 USD",
        "2025-07-06 00:00 · 95.25 USD",
    ]
    points = [tuple(map(float, point.split(","))) for point in chart.points.split()]
    assert points[0][0] == LEFT and points[-1][0] == 1000 - RIGHT
    assert chart.threshold_y is not None and chart.zero_y is None and not chart.one_day


def test_one_day_of_snapshots_gets_an_hour_axis_and_says_so():
    rows = [(START + dt.timedelta(hours=hour), D(10000 - hour)) for hour in (9, 11, 15)]
    chart = balance_chart(rows, start=START, end=START + dt.timedelta(hours=16), width=1000)
    assert chart.one_day and chart.notes == (
        "All snapshots are from 2025-07-01: the axis shows its hours.",
    )
    assert {tick.label for tick in chart.x_ticks} >= {"10:00", "12:00", "14:00"}


def test_a_long_history_is_thinned_to_the_chart_points():
    rows = [(START + dt.timedelta(minutes=minute), D(minute)) for minute in range(1, 1000)]
    chart = balance_chart(rows, start=START, end=END)
    assert chart.count == CHART_POINTS + 1 and chart.last_at == rows[-1][0]
    assert chart.dots == ()  # too many to hover one by one: the line and the axes say it


def test_quiet_runs_are_folded_in_the_table_and_the_chart():
    days = [  # newest first, as spend_per_day gives them
        day(dt.date(2025, 7, 7), "30.00"),
        *[day(dt.date(2025, 7, d)) for d in (6, 5, 4, 3)],
        day(dt.date(2025, 7, 2)),
        day(dt.date(2025, 7, 1), "20.00", "5.00"),
    ]
    rows = fold_quiet_days(days)
    assert rows[0] == days[0] and rows[-1] == days[-1]
    assert rows[1] == QuietDays(dt.date(2025, 7, 2), dt.date(2025, 7, 6), 5)
    assert rows[1].label == "5 days without spend (2025-07-02 to 2025-07-06)"
    # Two quiet days in a row stay as they are.
    assert fold_quiet_days(days[4:]) == days[4:]

    chart = spend_chart(days, width=600, height=190)
    spent = [bar for bar in chart.bars if not bar.folded]
    folded = [bar for bar in chart.bars if bar.folded]
    assert [bar.label for bar in spent] == [
        "2025-07-01: 15.00 USD net (20.00 bought, 5.00 refunded)",
        "2025-07-07: 30.00 USD net (30.00 bought, 0.00 refunded)",
    ]
    assert [bar.label for bar in folded] == ["5 days without spend (2025-07-02 to 2025-07-06)"]
    assert folded[0].width < spent[0].width / 0.7  # a narrow slot, not five days wide
    assert [tick.label for tick in chart.y_ticks][-1] == "30.00"
    assert [tick.label for tick in chart.x_ticks] == ["Jul 01", "Jul 07"]
    # The tallest bar reaches the top tick.
    assert spent[1].y == min(tick.at for tick in chart.y_ticks)
    assert "5 days without spend are folded into the grey slots." in chart.notes


def test_one_day_of_spend_says_so_and_no_spend_draws_nothing():
    days = [day(dt.date(2025, 7, d)) for d in range(30, 0, -1)]
    assert spend_chart(days) is None
    days[0] = day(dt.date(2025, 7, 30), "12.00")
    chart = spend_chart(days)
    assert chart.one_day and chart.notes[0] == "Spend on one day only: 2025-07-30."
    assert len(fold_quiet_days(days)) == 2  # the day, and 29 quiet days in one line
