"""Example tests: one per bucket and per rule of the method (see finance/reconciliation/)."""

import gc
from datetime import datetime, timedelta

import pytest

from finance.reconciliation import (
    Bucket,
    LedgerEntry,
    Settings,
    reconcile,
)
from tests.finance_engine.builders import D, assert_invariants, at, chain, order
from tests.finance_engine.realistic import generate


def run(ledger, orders, settings=None):
    result = reconcile(ledger, orders, settings or Settings())
    assert_invariants(result, ledger, orders)
    return result


def only(result, bucket):
    (item,) = result.items[bucket]
    return item


def buckets_of(result):
    return {bucket: len(items) for bucket, items in result.items.items() if items}


def test_an_exact_charge_is_matched_with_its_implied_fx_rate():
    ledger = chain([(30, "-12.10", "PURCHASE")])
    orders = [order("A", "12.1011", amount="1100.10", currency="RUB")]
    result = run(ledger, orders)
    item = only(result, Bucket.MATCHED)
    assert (item.item_key, item.ledger_id, item.order_key) == ("L:1", 1, "A")
    assert item.expected_usd == D("12.10") and item.variance == D("0.00")
    assert item.implied_fx == D("0.0109990")
    assert buckets_of(result) == {Bucket.MATCHED: 1}


def test_fx_drift_inside_the_tolerance_is_a_variance_with_the_implied_rate():
    ledger = chain([(30, "-10.25", "PURCHASE")])  # 2.5 % above our estimate
    result = run(ledger, [order("A", "10.00", amount="1000", currency="RUB")])
    item = only(result, Bucket.MATCHED_WITH_VARIANCE)
    assert item.variance == D("0.25") and item.variance_pct == D("2.50")
    assert item.implied_fx == D("0.01025")
    assert result.totals.purchase_variance == D("0.25")


def test_the_absolute_tolerance_covers_small_amounts():
    ledger = chain([(30, "-0.52", "PURCHASE")])  # 4 % off, but only 2 cents
    result = run(ledger, [order("A", "0.50")])
    assert only(result, Bucket.MATCHED_WITH_VARIANCE).variance == D("0.02")


def test_fx_drift_outside_the_tolerance_is_not_charged_and_unexpected_with_a_hint():
    ledger = chain([(30, "-10.80", "PURCHASE")])  # 8 % off
    result = run(ledger, [order("A", "10.00")])
    unexpected = only(result, Bucket.UNEXPECTED_CHARGE)
    not_charged = only(result, Bucket.NOT_CHARGED)
    assert not_charged.item_key == "O:A"
    assert "nearest order in the window: A, expected 10.00 USD, +8.00 % off" in unexpected.note
    assert "ledger row 1 in the window: 10.80 USD, +8.00 % off" in not_charged.note
    assert result.totals.unexpected_charges == D("10.80")
    assert result.totals.not_charged == D("10.00")


def test_a_charge_outside_the_window_is_not_matched():
    # Submitted at 0, final at 5, slack 2 minutes: a row at 10 minutes is too late.
    ledger = chain([(600, "-10.00", "PURCHASE")])
    result = run(ledger, [order("A", "10.00", final=5)])
    assert buckets_of(result) == {Bucket.UNEXPECTED_CHARGE: 1, Bucket.NOT_CHARGED: 1}
    # ... and the slack counts: 2 minutes before submission is still inside.
    ledger = chain([(-119, "-10.00", "PURCHASE")])
    assert buckets_of(run(ledger, [order("A", "10.00")])) == {Bucket.MATCHED: 1}


def test_a_pending_order_waits_until_the_period_end():
    ledger = chain([(3000, "-10.00", "PURCHASE")])
    pending = order("A", "10.00", final=None, status="UNKNOWN")
    assert buckets_of(run(ledger, [pending])) == {Bucket.MATCHED: 1}
    early_end = Settings(period_end=at(60))
    result = run(ledger, [pending], early_end)
    # The row at 3000 s is the next period's (and outside the window): not this period's.
    assert buckets_of(result) == {Bucket.NOT_CHARGED: 1}
    assert result.ledger_count == 0
    assert "window ends after the period" in only(result, Bucket.NOT_CHARGED).note


def test_the_sandbox_double_charge_shows_as_a_supplier_charge_with_no_local_order():
    """A lost create-order response resent with a new transaction id: the supplier placed (and
    charged) two orders, we have one. One row matches, the other is an unexpected charge."""
    ledger = chain(
        [
            (0, "100.00", "DEPOSIT"),
            (2, "-4.62", "PURCHASE", "API Purchase - Steam US 5 USD"),
            (33, "-4.62", "PURCHASE", "API Purchase - Steam US 5 USD"),
        ]
    )
    ours = order("resent", "4.62", submitted=31, final=34, amount="4.62", currency="USD")
    result = run(ledger, [ours])
    matched = only(result, Bucket.MATCHED)
    extra = only(result, Bucket.UNEXPECTED_CHARGE)
    assert matched.ledger_id == 3  # the row closest to our (second) submission
    assert extra.ledger_id == 2
    assert extra.note == "possible double charge of order resent (already matched to ledger row 3)"
    assert result.counts[Bucket.UNEXPECTED_CHARGE] == 1
    assert "unexpected charges 1" in result.summary()


def test_a_charge_for_an_order_we_did_not_expect_to_be_charged():
    ledger = chain([(20, "-7.00", "PURCHASE")])
    rejected = order("R", "7.00", status="UNKNOWN", charged=False)
    result = run(ledger, [rejected])
    assert (
        "fits order R (status UNKNOWN), which was not expected"
        in only(result, Bucket.UNEXPECTED_CHARGE).note
    )
    no_charge = only(result, Bucket.NO_CHARGE_EXPECTED)
    assert no_charge.item_key == "O:R"
    assert "ledger row 1 fits this order" in no_charge.note


def test_an_order_never_submitted_is_not_charged():
    result = run([], [order("N", "3.00", submitted=None, final=None)])
    assert only(result, Bucket.NOT_CHARGED).note == "never submitted"


def test_refunds_matched_missing_and_unexpected():
    ledger = chain(
        [
            (10, "-20.00", "PURCHASE"),  # F, failed top-up
            (15, "-30.00", "PURCHASE"),  # C, canceled: its refund never comes
            (900, "20.00", "REFUND", "Refund - Top-up"),  # F's refund
            (100_000, "5.55", "REFUND", "Refund - something else"),  # nobody's, a day later
        ]
    )
    orders = [
        order("F", "20.00", submitted=0, final=905, status="FAILED", refund=True),
        order("C", "30.00", submitted=5, final=910, status="CANCELED", refund=True),
    ]
    result = run(ledger, orders)
    assert buckets_of(result) == {
        Bucket.MATCHED: 2,
        Bucket.REFUND_MATCHED: 1,
        Bucket.REFUND_MISSING: 1,
        Bucket.UNEXPECTED_REFUND: 1,
    }
    refunded = only(result, Bucket.REFUND_MATCHED)
    assert (refunded.item_key, refunded.order_key, refunded.variance) == ("L:3", "F", D("0.00"))
    missing = only(result, Bucket.REFUND_MISSING)
    assert (missing.item_key, missing.expected_usd) == ("R:C", D("30.00"))
    assert missing.note == "charged by ledger row 2"
    charge_of_f = next(i for i in result.items[Bucket.MATCHED] if i.order_key == "F")
    assert charge_of_f.note == "refunded by ledger row 3"
    assert only(result, Bucket.UNEXPECTED_REFUND).ledger_id == 4
    totals = result.totals
    assert (totals.expected_refunds, totals.refunds) == (D("50.00"), D("25.55"))
    assert totals.refunds - totals.expected_refunds == D("5.55") - D("30.00")


def test_a_partial_refund_may_be_smaller_and_is_said_to_be_partial():
    # A bundle of 5 delivered 2: the 3 missing units come back.
    ledger = chain([(10, "-50.00", "PURCHASE"), (11, "30.00", "REFUND", "Partial refund - x")])
    bundle = order("P", "50.00", final=12, refund=True, expected_refund="30.00")
    assert only(run(ledger, [bundle]), Bucket.REFUND_MATCHED).variance == D("0.00")
    # When we did not know how many units came, a smaller refund still matches, flagged.
    unknown = order("P", "50.00", final=12, refund=True)
    result = run(ledger, [unknown])
    item = only(result, Bucket.REFUND_MATCHED)
    assert item.variance == D("-20.00")
    assert "partial refund: 30.00 of 50.00 USD expected" in item.note
    assert result.totals.refund_variance == D("-20.00")  # the shortfall shows in the totals
    # A refund above the tolerance is not this order's.
    ledger = chain([(10, "-50.00", "PURCHASE"), (11, "60.00", "REFUND")])
    result = run(ledger, [unknown])
    assert Bucket.UNEXPECTED_REFUND in buckets_of(result)


def test_an_exact_refund_beats_a_partial_candidate():
    ledger = chain([(100, "10.00", "REFUND"), (101, "25.00", "REFUND")])
    orders = [
        order("small", "10.00", final=100, refund=True, status="FAILED"),
        order("big", "25.00", final=99, refund=True, status="FAILED"),
    ]
    result = run(ledger, orders)
    assert {(i.ledger_id, i.order_key) for i in result.items[Bucket.REFUND_MATCHED]} == {
        (1, "small"),
        (2, "big"),
    }


def test_deposits_and_unknown_types_are_listed():
    ledger = chain([(0, "500.00", "DEPOSIT"), (5, "-1.50", "FEE", "Monthly fee")])
    result = run(ledger, [])
    assert only(result, Bucket.DEPOSIT).item_key == "L:1"
    assert only(result, Bucket.OTHER).entry.type == "FEE"
    assert (result.totals.deposits, result.totals.other) == (D("500.00"), D("-1.50"))


def test_closest_in_time_wins_between_equal_amounts():
    ledger = chain([(62, "-10.00", "PURCHASE"), (65, "-10.00", "PURCHASE")])
    orders = [order("first", "10.00", submitted=0), order("second", "10.00", submitted=60)]
    result = run(ledger, orders)
    # Row 1 (t=62) is 2 s from "second": the closest pair goes first.
    assert {(i.ledger_id, i.order_key) for i in result.items[Bucket.MATCHED]} == {
        (1, "second"),
        (2, "first"),
    }


def test_an_exact_amount_beats_a_closer_time():
    # Two orders a second apart with prices 2 % apart: time alone would swap them.
    ledger = chain([(2, "10.00", "DEPOSIT"), (3, "-10.00", "PURCHASE"), (4, "-10.20", "PURCHASE")])
    orders = [order("A", "10.00", submitted=0), order("B", "10.20", submitted=2.5)]
    result = run(ledger, orders)
    assert {(i.ledger_id, i.order_key) for i in result.items[Bucket.MATCHED]} == {
        (2, "A"),
        (3, "B"),
    }


def test_a_swap_matches_everything_a_greedy_choice_would_leave_out():
    # A's window covers both rows, B's only row 1, and row 1 is closer to B: a plain greedy
    # pass gives row 1 to B and leaves row 2 and A unmatched.
    ledger = chain([(150, "-10.00", "PURCHASE"), (250, "-10.00", "PURCHASE")])
    orders = [
        order("A", "10.00", submitted=0, final=200),
        order("B", "10.00", submitted=100, final=100),
    ]
    settings = Settings(window_slack=timedelta(seconds=60))
    result = run(ledger, orders, settings)
    assert {(i.ledger_id, i.order_key) for i in result.items[Bucket.MATCHED]} == {
        (1, "B"),
        (2, "A"),
    }


def test_a_missing_row_breaks_the_chain_and_the_totals_do_not_tie_by_its_amount():
    ledger = chain([(0, "100.00", "DEPOSIT"), (10, "-5.00", "PURCHASE"), (20, "-7.00", "PURCHASE")])
    del ledger[1]  # lost in the sync
    result = run(ledger, [order("A", "5.00", submitted=5), order("B", "7.00", submitted=15)])
    (gap,) = result.chain_breaks
    assert gap.item_key == "B:1-3"
    assert (gap.expected_balance, gap.actual_balance, gap.gap) == (
        D("1093.00"),
        D("1088.00"),
        D("-5.00"),
    )
    assert "5.00 USD of debits missing" in gap.note
    # The rows around the break keep their buckets; the counts still sum to the inputs.
    assert buckets_of(result) == {Bucket.DEPOSIT: 1, Bucket.MATCHED: 1, Bucket.NOT_CHARGED: 1}
    assert result.counts[Bucket.CHAIN_BREAK] == 1
    totals = result.totals
    assert totals.chain_gaps == D("-5.00") and not totals.ties
    assert totals.computed_closing == D("1093.00") and totals.closing == D("1088.00")
    assert totals.tie_difference == D("-5.00")
    assert "DOES NOT TIE by -5.00 USD" in result.summary()
    # The identity: the gaps are exactly what the rows do not explain.
    assert totals.opening + totals.deposits - totals.purchases + totals.chain_gaps == D("1088.00")


def test_the_reviewers_missing_row_and_wrong_opening_do_not_tie():
    """Opening 100.00, rows -10 -> 90 and -10 -> 60: a -20 row is missing between them."""
    rows = [
        LedgerEntry(1, D("-10.00"), "PURCHASE", "", D("90.00"), at(0)),
        LedgerEntry(3, D("-10.00"), "PURCHASE", "", D("60.00"), at(20)),
    ]
    result = run(rows, [], Settings(opening_balance=D("100.00")))
    (gap,) = result.chain_breaks
    assert gap.gap == D("-20.00")
    assert not result.totals.ties and result.totals.tie_difference == D("-20.00")
    assert result.totals.computed_closing == D("80.00")
    # A wrong opening balance does not tie either.
    wrong = run(rows, [], Settings(opening_balance=D("500.00")))
    assert not wrong.totals.ties and wrong.totals.tie_difference == D("-420.00")
    assert [b.gap for b in wrong.chain_breaks] == [D("-400.00"), D("-20.00")]
    # The closing from our orders stands beside it, with the difference.
    line = next(
        line for line in result.totals.lines() if line.label == "Closing balance, last ledger row"
    )
    assert (line.ledger, line.orders, line.difference) == (D("60.00"), D("100.00"), D("-40.00"))


def test_an_extra_row_breaks_the_chain_too():
    ledger = chain([(0, "100.00", "DEPOSIT"), (10, "-5.00", "PURCHASE")])
    # A row that follows from its predecessor but that the next row does not know about.
    extra = LedgerEntry(9, D("-3.00"), "PURCHASE", "?", ledger[0].balance_after - 3, at(5))
    result = run([*ledger, extra], [])
    (gap,) = result.chain_breaks
    assert (gap.item_key, gap.gap) == ("B:9-2", D("3.00"))
    assert "3.00 USD of credits missing between them (or an extra row)" in gap.note


def test_a_known_opening_balance_is_checked_against_the_first_row():
    ledger = chain([(0, "-5.00", "PURCHASE")], opening=D("50.00"))
    assert run(ledger, [], Settings(opening_balance=D("50.00"))).chain_breaks == []
    result = run(ledger, [], Settings(opening_balance=D("60.00")))
    (gap,) = result.chain_breaks
    assert gap.item_key == "B:opening-1" and gap.gap == D("-10.00")
    assert result.totals.opening == D("60.00") and not result.totals.ties
    # With the last row before the period known, the break is keyed as a longer run keys it.
    keyed = run(ledger, [], Settings(opening_balance=D("60.00"), opening_row_id=77))
    assert keyed.chain_breaks[0].item_key == "B:77-1"


def test_an_empty_period_ties_at_the_opening_balance():
    result = run([], [], Settings(opening_balance=D("12.34")))
    assert result.totals.closing == D("12.34") and result.totals.ties
    assert "ties" in result.summary()


def test_item_keys_are_stable_across_runs():
    base = [(0, "100.00", "DEPOSIT"), (10, "-5.00", "PURCHASE"), (20, "-9.99", "PURCHASE")]
    orders = [order("A", "5.00", submitted=5), order("Z", "1.00", submitted=5)]
    first = run(chain(base), orders)
    # A later run over a longer period: one more row, one more order.
    later = run(chain([*base, (40, "-3.00", "PURCHASE")]), [*orders, order("B", "3.00", 38)])
    keys = {item.item_key: item.bucket for item in first.iter_items()}
    again = {item.item_key: item.bucket for item in later.iter_items()}
    assert keys.items() <= again.items()
    assert keys == {
        "L:1": Bucket.DEPOSIT,
        "L:2": Bucket.MATCHED,
        "L:3": Bucket.UNEXPECTED_CHARGE,
        "O:Z": Bucket.NOT_CHARGED,
    }


def test_inputs_must_be_timezone_aware_and_unique():
    naive = LedgerEntry(1, D("1"), "DEPOSIT", "", D("1"), datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        reconcile([naive], [])
    with pytest.raises(ValueError, match="unique"):
        reconcile([], [order("A", "1"), order("A", "2")])
    with pytest.raises(ValueError, match="below 1"):
        Settings(fx_tolerance=D("1.5"))


def test_settings_accept_plain_numbers_and_are_kept_as_text():
    settings = Settings(fx_tolerance=0.05, abs_tolerance="0.10", opening_balance=5)
    assert settings.fx_tolerance == D("0.05") and settings.opening_balance == D("5")
    assert settings.as_dict()["window_slack_seconds"] == "120.0"
    full = Settings(
        fx_tolerance=0,
        opening_balance=D("10.50"),
        period_start=at(0),
        period_end=at(3600),
        window_slack=timedelta(seconds=30),
        refund_window=timedelta(hours=6),
        opening_row_id=12,
        ledger_synced_until=at(1800),
    )
    assert Settings.from_dict(full.as_dict()) == full
    assert Settings.from_dict({}) == Settings()


def test_progress_is_reported():
    seen = []
    reconcile([], [], progress=lambda fraction, label: seen.append((fraction, label)))
    assert seen[-1] == (1.0, "done") and [f for f, _ in seen] == sorted(f for f, _ in seen)


def test_a_realistic_month_finds_every_injected_anomaly():
    traffic = generate(3000, seed=7, doubles=3, gaps=2, never_charged=3, withheld=2, drifted=2)
    result = run(traffic.ledger, traffic.orders, Settings(opening_balance=traffic.opening))
    unexpected = result.items[Bucket.UNEXPECTED_CHARGE]
    for key in traffic.double_charged:
        assert any(f"possible double charge of order {key} " in i.note for i in unexpected), key
    not_charged = {item.order_key for item in result.items[Bucket.NOT_CHARGED]}
    assert set(traffic.never_charged) <= not_charged
    # Our rate for the drifted orders was 12 % off the supplier's: the rate the other orders of
    # their currency show explains the whole difference, as FX variance, not as unmatched rows.
    drifted = [item for item in result.items[Bucket.MATCHED] if item.order_key in traffic.drifted]
    assert len(drifted) == len(traffic.drifted)
    assert all(item.variance == item.fx_variance != 0 for item in drifted)
    assert all(rate.applied for rate in result.observed_rates)
    missing = {item.order_key for item in result.items[Bucket.REFUND_MISSING]}
    assert missing == set(traffic.refund_withheld)
    assert len(result.chain_breaks) == len(traffic.removed_rows)
    assert len(unexpected) == len(traffic.double_charged)
    assert len(not_charged) == len(traffic.never_charged) + len(traffic.removed_rows)


def test_the_garbage_collector_is_left_as_it_was():
    assert gc.isenabled()
    reconcile([], [])
    assert gc.isenabled()
    gc.disable()
    try:
        reconcile([], [])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_charge_just_after_midnight_belongs_to_the_order_of_the_day_before():
    """Submitted 23:59:59.5, charged 00:00:00.4: neither day reports it as a problem."""
    midnight = 3600
    ledger = chain([(0, "100.00", "DEPOSIT"), (midnight + 0.4, "-10.00", "PURCHASE")])
    late = order("L", "10.00", submitted=midnight - 0.5, final=midnight + 3)
    first_day = Settings(period_start=at(0), period_end=at(midnight))
    result = run(ledger, [late], first_day)
    item = only(result, Bucket.MATCHED)
    assert item.order_key == "L" and item.ledger_id == 2
    assert "ledger row 2 of the next period" in item.note
    assert result.ledger_count == 1 and result.order_count == 1
    assert result.ledger_rows_by_bucket()[Bucket.MATCHED] == 0
    assert result.orders_by_bucket()[Bucket.MATCHED] == 1
    # Its totals are the day's own rows; the order's charge is in the next day's ledger.
    assert result.totals.purchases == D("0.00") and result.totals.expected_purchases == D("0.00")

    second_day = Settings(period_start=at(midnight), period_end=at(2 * midnight))
    result = run(ledger, [late], second_day)
    item = only(result, Bucket.MATCHED)
    assert "order #L of the previous period" in item.note
    assert result.ledger_count == 1 and result.order_count == 0
    assert result.items[Bucket.UNEXPECTED_CHARGE] == []
    assert result.totals.purchases == D("10.00") == result.totals.expected_purchases


def test_a_refund_just_after_midnight_for_an_order_that_failed_before_it():
    midnight = 3600
    ledger = chain(
        [(10, "-8.00", "PURCHASE"), (midnight + 5, "8.00", "REFUND")], opening=D("100.00")
    )
    failed = order("F", "8.00", submitted=5, final=midnight - 2, status="FAILED", refund=True)
    first_day = Settings(period_start=at(0), period_end=at(midnight))
    result = run(ledger, [failed], first_day)
    assert result.items[Bucket.REFUND_MISSING] == []
    assert "ledger row 2 of the next period" in only(result, Bucket.REFUND_MATCHED).note
    second_day = Settings(period_start=at(midnight), period_end=at(2 * midnight))
    result = run(ledger, [failed], second_day)
    assert result.items[Bucket.UNEXPECTED_REFUND] == []
    assert "order #F of the previous period" in only(result, Bucket.REFUND_MATCHED).note
    assert result.refund_owed_count == 0 and sum(result.refunds_by_bucket().values()) == 0


def test_an_order_of_a_neighbouring_period_that_matches_nothing_here_is_not_listed():
    ledger = chain([(100, "-3.00", "PURCHASE")])
    orders = [order("A", "3.00", submitted=99), order("Old", "5.00", submitted=-50, final=-40)]
    result = run(ledger, orders, Settings(period_start=at(0), period_end=at(3600)))
    assert buckets_of(result) == {Bucket.MATCHED: 1}
    assert result.order_count == 1


def test_a_refund_booked_hours_after_the_failure_is_matched_once():
    ledger = chain([(10, "-20.00", "PURCHASE"), (4 * 3600, "20.00", "REFUND")])
    failed = order("F", "20.00", submitted=0, final=60, status="FAILED", refund=True)
    result = run(ledger, [failed])
    assert buckets_of(result) == {Bucket.MATCHED: 1, Bucket.REFUND_MATCHED: 1}
    # With the refund window cut to the slack it is both unexpected and missing, as before.
    short = Settings(refund_window=timedelta(minutes=2))
    result = run(ledger, [failed], short)
    assert buckets_of(result) == {
        Bucket.MATCHED: 1,
        Bucket.UNEXPECTED_REFUND: 1,
        Bucket.REFUND_MISSING: 1,
    }
    with pytest.raises(ValueError, match="refund window"):
        Settings(refund_window=timedelta(seconds=30))


def test_a_late_refund_goes_to_the_order_that_failed_closest_before_it():
    ledger = chain(
        [
            (10, "-20.00", "PURCHASE"),
            (20, "-20.00", "PURCHASE"),
            (2 * 3600, "20.00", "REFUND"),
        ]
    )
    early = order("E", "20.00", submitted=5, final=600, status="FAILED", refund=True)
    late = order("L", "20.00", submitted=15, final=3600, status="FAILED", refund=True)
    result = run(ledger, [early, late])
    assert only(result, Bucket.REFUND_MATCHED).order_key == "L"
    assert only(result, Bucket.REFUND_MISSING).order_key == "E"


def test_orders_due_after_the_last_sync_are_marked_unsynced():
    ledger = chain([(0, "50.00", "DEPOSIT")])
    orders = [order("Before", "2.00", submitted=100), order("After", "3.00", submitted=5000)]
    result = run(ledger, orders, Settings(ledger_synced_until=at(1000)))
    notes = {item.order_key: item.note for item in result.items[Bucket.NOT_CHARGED]}
    assert "UNSYNCED" not in notes["Before"]
    assert notes["After"].startswith("UNSYNCED: the ledger was last synced at")
