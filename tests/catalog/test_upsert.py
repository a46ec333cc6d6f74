"""The sync's page writer against the database itself (COPY on PostgreSQL, upsert on SQLite)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import sync
from catalog.models import Offer, PriceHistory
from suppliers.clients.types import SyncRow
from suppliers.models import SupplierAccount


@pytest.fixture
def account(db):
    return SupplierAccount.objects.create(
        name="Main", base_url="http://127.0.0.1:9", shop_token="t" * 32
    )


def row(offer_id, price="1.00", product="Game", name="10 coins", **extra):
    fields = {
        "offer_id": offer_id,
        "offer_name": name,
        "product_id": 7,
        "product_name": product,
        "price": Decimal(price),
        "currency": "USD",
        "in_stock": True,
        "requires_game_user_id": False,
        "requires_game_server_id": None,
        "category": None,
        **extra,
    }
    return SyncRow(**fields)


def write(account, rows):
    return sync.upsert_offers(
        account=account, rows=rows, category="Top Up", now=timezone.now(), seen=set()
    )


def test_names_with_tabs_backslashes_and_line_breaks_are_stored_as_sent(account):
    awkward = "Tab\there, back\\slash, new\nline, \\N, carriage\rreturn"
    result = write(
        account,
        [
            row(1, product=awkward, name="\\t literally"),
            row(2, product_id=None, currency=None, offer_name=None),
        ],
    )
    assert result.new == result.written == 2
    first, second = Offer.objects.order_by("offer_id")
    assert first.product_name == awkward and first.offer_name == "\\t literally"
    assert first.search_text == f"{awkward} \\t literally".lower()
    assert first.category == "Top Up" and first.settlement_method == ""
    assert first.required_fields == [] and first.delisted_at is None
    assert second.product_id is None and second.currency == "" and second.offer_name == ""
    assert second.requires_server_id is False


def test_only_new_and_changed_offers_are_written(account):
    write(account, [row(1, "1.00"), row(2, "2.00"), row(3, "3.00", product="A\tB")])
    Offer.objects.filter(offer_id=3).update(delisted_at=timezone.now())
    result = write(
        account,
        [row(1, "1.00"), row(2, "2.50"), row(3, "3.00", product="A\tB"), row(4, "4.00")],
    )
    assert (result.new, result.changed, result.price_changes, result.relisted) == (1, 1, 1, 1)
    assert result.written == 3
    moved = Offer.objects.get(offer_id=2)
    assert moved.price == Decimal("2.50") and moved.previous_price == Decimal("2.00")
    assert Offer.objects.get(offer_id=3).delisted_at is None
    assert Offer.objects.get(offer_id=3).product_name == "A\tB"
    assert list(
        PriceHistory.objects.filter(offer=moved)
        .order_by("recorded_at")
        .values_list("price", flat=True)
    ) == [Decimal("2.00"), Decimal("2.50")]
    assert PriceHistory.objects.count() == 5  # four first prices and one move


def test_a_first_sync_meeting_an_offer_again_on_a_later_page_updates_it(account):
    seen: set[int] = set()
    now = timezone.now()
    first_page = sync.upsert_offers(
        account=account, rows=[row(1), row(2)], category="Top Up", now=now, seen=seen, first=True
    )
    again = sync.upsert_offers(
        account=account,
        rows=[row(2, "2.00"), row(3)],
        category="Top Up",
        now=now,
        seen=seen,
        first=True,
    )
    assert (first_page.new, again.new, again.changed, again.price_changes) == (2, 1, 1, 1)
    assert Offer.objects.filter(account=account).count() == 3
    assert Offer.objects.get(offer_id=2).price == Decimal("2.00")
    assert seen == {1, 2, 3}


def test_a_bundle_count_the_feed_tells_is_stored_and_one_it_leaves_out_is_kept(account):
    write(account, [row(1, name="5 x 310 Diamonds", count=5), row(2), row(3)])
    assert dict(Offer.objects.values_list("offer_id", "units")) == {1: 5, 2: None, 3: None}
    Offer.objects.filter(offer_id=2).update(units=3)  # find-one told it
    result = write(
        account,
        [row(1, name="5 x 310 Diamonds"), row(2), row(3, count=1)],
    )
    # Row 1 lost its count and row 2 never had one: both keep theirs, unchanged, not rewritten.
    assert (result.changed, result.written) == (1, 1)
    assert dict(Offer.objects.values_list("offer_id", "units")) == {1: 5, 2: 3, 3: 1}
    write(account, [row(1, name="5 x 310 Diamonds", count=10)])
    assert Offer.objects.get(offer_id=1).units == 10
