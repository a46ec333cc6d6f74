"""Step 4 of the method: the totals that tie (see the package docstring)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from finance.money import ZERO
from finance.reconciliation.chain import ChainCheck
from finance.reconciliation.prepared import Prepared
from finance.reconciliation.rates import Learned
from finance.reconciliation.types import (
    DEPOSIT,
    PURCHASE,
    REFUND,
    Bucket,
    ObservedRate,
    ReconItem,
    Totals,
)

_MATCHED_PURCHASES = (Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE)


def totals_of(
    prepared: Prepared, chain: ChainCheck, items: dict[Bucket, list[ReconItem]]
) -> Totals:
    """The money of the period's own rows; a match with a row of a neighbouring period counts
    in that period's totals, not in these."""
    entries, settings = prepared.period_entries, prepared.settings
    opening = chain.opening
    sums = {PURCHASE: ZERO, REFUND: ZERO, DEPOSIT: ZERO}
    other = ZERO
    for entry in entries:
        kind = entry.type.upper()
        if kind in sums:
            sums[kind] += entry.amount
        else:
            other += entry.amount
    contains = settings.contains

    def ours(item: ReconItem) -> bool:
        return item.entry is None or contains(item.entry.created_at)

    def ledger_sum(bucket: Bucket, sign: int) -> Decimal:
        return sum((item.ledger_row.amount * sign for item in items[bucket] if ours(item)), ZERO)

    def fx_sum(*buckets: Bucket) -> Decimal:
        return sum(
            (
                item.fx_variance
                for bucket in buckets
                for item in items[bucket]
                if ours(item) and item.fx_variance is not None
            ),
            ZERO,
        )

    def expected_sum(*buckets: Bucket) -> Decimal:
        return sum(
            (item.expected for bucket in buckets for item in items[bucket] if ours(item)),
            ZERO,
        )

    return Totals(
        opening=opening,
        opening_known=settings.opening_balance is not None,
        deposits=sums[DEPOSIT],
        purchases=-sums[PURCHASE],
        refunds=sums[REFUND],
        other=other,
        chain_gaps=chain.gaps,
        closing=entries[-1].balance_after if entries else opening,
        matched_purchases=ledger_sum(Bucket.MATCHED, -1)
        + ledger_sum(Bucket.MATCHED_WITH_VARIANCE, -1),
        matched_purchases_expected=expected_sum(Bucket.MATCHED, Bucket.MATCHED_WITH_VARIANCE),
        unexpected_charges=ledger_sum(Bucket.UNEXPECTED_CHARGE, -1),
        not_charged=expected_sum(Bucket.NOT_CHARGED),
        matched_refunds=ledger_sum(Bucket.REFUND_MATCHED, 1),
        matched_refunds_expected=expected_sum(Bucket.REFUND_MATCHED),
        unexpected_refunds=ledger_sum(Bucket.UNEXPECTED_REFUND, 1),
        missing_refunds=expected_sum(Bucket.REFUND_MISSING),
        purchase_fx_variance=fx_sum(*_MATCHED_PURCHASES),
        refund_fx_variance=fx_sum(Bucket.REFUND_MATCHED),
    )


def observed_with_variance(
    prepared: Prepared, learned: Learned, items: dict[Bucket, list[ReconItem]]
) -> list[ObservedRate]:
    """Each currency's observed rate with the FX variance of the period's matched pairs in it
    (counted like the totals: a pair whose row is a neighbouring period's counts there)."""
    contains = prepared.settings.contains
    purchases: dict[str, Decimal] = {}
    refunds: dict[str, Decimal] = {}
    for buckets, sums in ((_MATCHED_PURCHASES, purchases), ((Bucket.REFUND_MATCHED,), refunds)):
        for bucket in buckets:
            for item in items[bucket]:
                if item.fx_variance is None or not contains(item.ledger_row.created_at):
                    continue
                currency = item.local_order.currency or ""
                sums[currency] = sums.get(currency, ZERO) + item.fx_variance
    return [
        replace(
            rate,
            fx_variance=purchases.get(rate.currency, ZERO),
            refund_fx_variance=refunds.get(rate.currency, ZERO),
        )
        for rate in learned.observed
    ]
