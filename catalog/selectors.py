"""Reads of the catalog: the browser's query, an offer's history, sync jobs, banners."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet

from catalog.models import COMPATIBLE_METHODS, Offer, PriceHistory, ProfileChange, SyncJob
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
    """Offers compatible / incompatible with a balance profile, or whose method is unknown."""
    methods = COMPATIBLE_METHODS.get(profile, set())
    if wanted == "unknown":
        return Q(settlement_method="")
    if wanted == "compatible":
        return Q(settlement_method__in=methods)
    if wanted == "incompatible":
        return ~Q(settlement_method="") & ~Q(settlement_method__in=methods)
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


def active_sync(account: SupplierAccount) -> SyncJob | None:
    return SyncJob.objects.filter(account=account, status__in=["queued", "running"]).first()


def sync_job_list(account: SupplierAccount | None = None) -> QuerySet[SyncJob]:
    jobs = SyncJob.objects.select_related("account", "started_by")
    return jobs.filter(account=account) if account else jobs


def open_profile_changes(account: SupplierAccount | None = None) -> QuerySet[ProfileChange]:
    changes = ProfileChange.objects.filter(dismissed_at__isnull=True).select_related(
        "account", "synced_job"
    )
    return changes.filter(account=account) if account else changes


def category_choices(account: SupplierAccount) -> list[str]:
    return list(
        Offer.objects.filter(account=account)
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def currency_choices(account: SupplierAccount) -> list[str]:
    return list(
        Offer.objects.filter(account=account)
        .order_by("currency")
        .values_list("currency", flat=True)
        .distinct()
    )


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
