"""Reads of the catalog: the browser's query, an offer's history, sync jobs, banners."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from catalog.models import (
    COMPATIBLE_METHODS,
    CurrencyRate,
    Offer,
    OfferLookupJob,
    PriceHistory,
    ProfileChange,
    SyncJob,
)
from suppliers.models import SupplierAccount

SORTABLE = {
    "product": ("product_name", "offer_name", "offer_id"),
    "offer": ("offer_name", "offer_id"),
    "price": ("price", "offer_id"),
    "category": ("category", "product_name", "offer_id"),
    "id": ("offer_id",),
    "changed": ("price_changed_at", "offer_id"),
}


def catalog_accounts() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.filter(enabled=True).order_by("name")


def compatibility_q(profile: str, wanted: str) -> Q:
    """Offers compatible / incompatible with a balance profile, or not known to be either, as
    `Offer.is_compatible_with` decides: by the settlement method once find-one told it, else
    compatible while listed in the account's feed."""
    if not profile:
        return Q() if wanted == "unknown" else Q(pk__in=[])
    methods = COMPATIBLE_METHODS.get(profile, set())
    method_unknown = Q(settlement_method="")
    if wanted == "unknown":
        return method_unknown & Q(delisted_at__isnull=False)
    if wanted == "compatible":
        return Q(settlement_method__in=methods) | (method_unknown & Q(delisted_at__isnull=True))
    if wanted == "incompatible":
        return ~method_unknown & ~Q(settlement_method__in=methods)
    return Q()


def offer_list_for_catalog(*, account: SupplierAccount) -> QuerySet[Offer]:
    return Offer.objects.filter(account=account).only(
        "id",
        "account_id",
        "offer_id",
        "product_id",
        "product_name",
        "offer_name",
        "category",
        "price",
        "previous_price",
        "price_changed_at",
        "currency",
        "in_stock",
        "requires_user_id",
        "requires_server_id",
        "returns_key",
        "settlement_method",
        "delisted_at",
    )


def last_successful_sync(account: SupplierAccount) -> SyncJob | None:
    return SyncJob.objects.filter(account=account, status=SyncJob.Status.SUCCEEDED).first()


def last_catalog_update(account: SupplierAccount) -> SyncJob | OfferLookupJob | None:
    """The last complete pass over the account's offers: its last sync, or for a supplier without
    a feed its last refresh through find-one ("price changed since" starts there)."""
    if account.capabilities.catalog_feed:
        return last_successful_sync(account)
    return OfferLookupJob.objects.filter(
        account=account,
        status=OfferLookupJob.Status.SUCCEEDED,
        purpose=OfferLookupJob.Purpose.REFRESH,
    ).first()


def active_sync(account: SupplierAccount) -> SyncJob | None:
    return SyncJob.objects.filter(account=account, status__in=["queued", "running"]).first()


def sync_job_list(account: SupplierAccount | None = None) -> QuerySet[SyncJob]:
    jobs = SyncJob.objects.select_related("account", "started_by")
    return jobs.filter(account=account) if account else jobs


def offer_lookup_list(account: SupplierAccount) -> QuerySet[OfferLookupJob]:
    return OfferLookupJob.objects.filter(account=account).select_related("started_by")


def active_lookup(account: SupplierAccount) -> OfferLookupJob | None:
    return OfferLookupJob.objects.filter(account=account, status__in=["queued", "running"]).first()


def last_finished_lookup(account: SupplierAccount) -> OfferLookupJob | None:
    if account.capabilities.catalog_feed:
        return None
    return OfferLookupJob.objects.filter(
        account=account, status__in=["succeeded", "failed"]
    ).first()


def open_profile_changes(account: SupplierAccount | None = None) -> QuerySet[ProfileChange]:
    changes = ProfileChange.objects.filter(dismissed_at__isnull=True).select_related(
        "account", "synced_job"
    )
    return changes.filter(account=account) if account else changes


@dataclass(frozen=True)
class FilterChoices:
    """The categories and currencies the browser's filters offer: those of the listed offers."""

    categories: list[str]
    currencies: list[str]


def last_finished_sync(account: SupplierAccount) -> SyncJob | None:
    """The sync of the account that ended last, whether it succeeded or failed (a failed one may
    still have written pages)."""
    return (
        SyncJob.objects.filter(account=account, finished_at__isnull=False)
        .order_by("-finished_at", "-id")
        .only("id", "finished_at")
        .first()
    )


def filter_choices_cache_key(account: SupplierAccount) -> str:
    # Only a sync (and, for the currency, find-one: see services.offer_refresh_price) changes
    # which categories and currencies the listed offers carry, so the choices hold until the
    # account's next sync ends. The account's creation time keeps two accounts that came to share
    # a primary key (a database that reuses ids) from sharing choices.
    job = last_finished_sync(account)
    version = f"{job.pk}.{job.finished_at.timestamp()}" if job and job.finished_at else "never"
    return f"catalog:filter-choices:{account.pk}.{account.created_at.timestamp()}:{version}"


def filter_choices(account: SupplierAccount) -> FilterChoices:
    """Read through the cache: the distinct values of 200,000 offers take tens of milliseconds,
    too much for every page of the browser, and they change only with a sync."""
    key = filter_choices_cache_key(account)
    cached = cache.get(key)
    if cached is None:
        listed = Offer.objects.filter(account=account, delisted_at__isnull=True)
        cached = (
            list(listed.order_by("category").values_list("category", flat=True).distinct()),
            list(listed.order_by("currency").values_list("currency", flat=True).distinct()),
        )
        # Kept for a day at most: a key no sync replaced in that time costs one recount.
        cache.set(key, cached, timeout=24 * 3600)
    categories, currencies = cached
    return FilterChoices(categories=list(categories), currencies=list(currencies))


@dataclass(frozen=True)
class PriceChart:
    """An offer's price history as an SVG polyline, drawn on the server (no script needed)."""

    points: str
    width: int
    height: int
    low: Decimal
    high: Decimal
    first_at: object
    last_at: object
    count: int


def price_chart(
    offer: Offer, *, width: int = 560, height: int = 140, limit: int = 200
) -> PriceChart | None:
    history = list(
        PriceHistory.objects.filter(offer=offer)
        .order_by("-recorded_at", "-id")
        .values_list("recorded_at", "price")[:limit]
    )[::-1]
    if not history:
        return None
    prices = [price for _, price in history]
    low, high = min(prices), max(prices)
    start, end = history[0][0].timestamp(), history[-1][0].timestamp()
    pad = 8

    def x(at) -> float:
        return pad + ((at.timestamp() - start) / (end - start) if end > start else 0) * (
            width - 2 * pad
        )

    def y(price) -> float:
        if high == low:
            return height / 2  # a price that never moved: a level line through the middle
        return height - pad - float(price - low) / float(high - low) * (height - 2 * pad)

    coordinates = [(x(at), y(price)) for at, price in history]
    # The last known price holds until now: carry the line to the right edge.
    coordinates.append((width - pad, coordinates[-1][1]))
    points = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coordinates)
    return PriceChart(points, width, height, low, high, history[0][0], history[-1][0], len(history))


# --- currency rates ------------------------------------------------------------------------------

ONE = Decimal(1)


@dataclass(frozen=True)
class RateTable:
    """Every currency's rates by the moment each became valid (one query), to price any number
    of moments: the rate at a moment is the latest one valid from then or earlier. USD, and no
    currency at all, are worth 1 USD."""

    starts: dict[str, list[datetime]]
    rates: dict[str, list[Decimal]]

    @classmethod
    def load(cls, until: datetime | None = None) -> RateTable:
        rows = CurrencyRate.objects.order_by("currency", "valid_from")
        if until is not None:
            rows = rows.filter(valid_from__lte=until)
        starts: dict[str, list[datetime]] = {}
        rates: dict[str, list[Decimal]] = {}
        for currency, valid_from, rate in rows.values_list(
            "currency", "valid_from", "usd_per_unit"
        ):
            starts.setdefault(currency, []).append(valid_from)
            rates.setdefault(currency, []).append(rate)
        return cls(starts, rates)

    def at(self, currency: str | None, moment: datetime) -> Decimal | None:
        """USD per unit of `currency` at `moment`; None when no rate of it was valid yet."""
        if not currency or currency == "USD":
            return ONE
        starts = self.starts.get(currency)
        if not starts:
            return None
        index = bisect_right(starts, moment) - 1
        return None if index < 0 else self.rates[currency][index]

    def all_at(self, moment: datetime) -> dict[str, Decimal]:
        """Every currency's rate at `moment` (the currencies with none valid yet left out)."""
        found = {currency: self.at(currency, moment) for currency in self.starts}
        return {currency: rate for currency, rate in found.items() if rate is not None}


def currency_rates_at(moment: datetime | None = None) -> dict[str, Decimal]:
    """Each currency's rate in force at `moment` (now by default)."""
    moment = moment or timezone.now()
    return RateTable.load(until=moment).all_at(moment)


def currency_rate_at(currency: str, moment: datetime | None = None) -> Decimal | None:
    """One currency's rate in force at `moment` (now by default); 1 for USD; None without one."""
    if not currency or currency == "USD":
        return ONE
    return (
        CurrencyRate.objects.filter(currency=currency, valid_from__lte=moment or timezone.now())
        .order_by("-valid_from")
        .values_list("usd_per_unit", flat=True)
        .first()
    )


def currency_rate_history() -> QuerySet[CurrencyRate]:
    """Every rate ever set, by currency, newest first (the rates page)."""
    return CurrencyRate.objects.order_by("currency", "-valid_from", "-id")
