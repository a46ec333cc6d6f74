"""A supplier's garbage: bad rows are skipped and listed, broken paging fails the sync plainly."""

import json
from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import DataError
from django.urls import reverse

from catalog import rows as checks
from catalog import sync
from catalog.models import Offer, SyncJob
from suppliers.clients import GamesDropClient, SyncPage, SyncRow

pytestmark = pytest.mark.django_db(transaction=True)

# Each hostile row of the issue, as the supplier's JSON text.
HOSTILE = [
    '{"offerGroupId": 900000001, "price": 1e309, "currency": "USD"}',
    '{"offerGroupId": 900000002, "price": "1e309", "currency": "USD"}',
    '{"offerGroupId": 900000003, "price": 1e30, "currency": "USD"}',
    '{"offerGroupId": 900000004, "price": -5, "currency": "USD"}',
    '{"offerGroupId": 900000005, "price": -0.01, "currency": "USD"}',
    '{"offerGroupId": 900000006, "price": 1e-30, "currency": "USD"}',
    '{"offerGroupId": 1180591620717411303424, "price": 1, "currency": "USD"}',
    '{"offerGroupId": 900000008, "price": 1, "currency": "' + "C" * 60 + '"}',
    '{"offerGroupId": 900000009, "price": 1, "offerGroupName": {"html": "<b>x</b>"}}',
]


def run_sync(account):
    job = SyncJob.objects.create(account=account)
    sync.catalog_sync_run(job.pk)
    job.refresh_from_db()
    return job


def hostile_page(count: int) -> SyncPage:
    text = f'{{"count": {count}, "rows": [{", ".join(HOSTILE)}]}}'
    return SyncPage.from_json(json.loads(text, parse_float=Decimal))


def one_pass(monkeypatch, page_size=60):
    monkeypatch.setattr(sync, "PAGE_SIZE", page_size)
    monkeypatch.setattr(sync, "_plan_passes", lambda client: (["Gift Cards"], 0))


def test_hostile_rows_are_skipped_counted_and_listed_and_the_rest_syncs(
    private_sandbox, private_account, monkeypatch, client_as
):
    account = private_account()
    one_pass(monkeypatch)
    real_sync_page = GamesDropClient.sync_page

    def with_garbage(self, *args, **kwargs):
        page = real_sync_page(self, *args, **kwargs)
        if kwargs.get("page") != 1:
            return page
        bad = hostile_page(page.count)
        return replace(page, rows=page.rows + bad.rows, rejected=bad.rejected)

    monkeypatch.setattr(GamesDropClient, "sync_page", with_garbage)
    job = run_sync(account)
    assert job.status == "succeeded", job.message
    assert job.rows_rejected == len(HOSTILE) == len(job.rejected_rows)
    assert "9 rows skipped" in job.message
    offers = Offer.objects.filter(account=account)
    assert offers.count() == job.rows_new > 60
    assert not offers.filter(offer_id__gte=900000000).exists()
    assert not offers.filter(price__lte=0).exists()
    assert {(row["category"], row["page"]) for row in job.rejected_rows} == {("Gift Cards", 1)}
    by_id = {row["offer_id"]: row["reason"] for row in job.rejected_rows}
    assert "larger than a price can be" in by_id[900000001] == by_id[900000002]
    assert "not positive" in by_id[900000004] and "not positive" in by_id[900000005]
    assert "smallest price" in by_id[900000006]
    assert "not an id the catalog can hold" in by_id[str(2**70)]
    assert "60 characters" in by_id[900000008]
    assert by_id[900000009] == "offerGroupName: expected text, got dict"

    html = client_as("admin").get(reverse("catalog:sync_detail", args=[job.pk])).content.decode()
    assert 'data-testid="rejected-rows"' in html and "expected text, got dict" in html
    assert str(2**70) in html and "<b>x</b>" not in html


def test_only_the_first_50_rejections_are_listed_but_all_are_counted(
    private_sandbox, private_account, monkeypatch
):
    account = private_account()
    one_pass(monkeypatch)
    real_sync_page = GamesDropClient.sync_page

    def negative_prices(self, *args, **kwargs):
        page = real_sync_page(self, *args, **kwargs)
        return replace(page, rows=tuple(replace(row, price=-row.price) for row in page.rows))

    monkeypatch.setattr(GamesDropClient, "sync_page", negative_prices)
    job = run_sync(account)
    assert job.status == "succeeded", job.message
    assert job.rows_rejected == job.rows_fetched > checks.KEPT_REJECTIONS == 50
    assert len(job.rejected_rows) == 50 and job.rows_written == 0
    assert not Offer.objects.filter(account=account).exists()


def fake_pages(monkeypatch, make_page):
    def sync_page(self, page=1, limit=5000, search=None, category=None):
        return make_page(page, limit)

    monkeypatch.setattr(GamesDropClient, "sync_page", sync_page)


def full_page(page: int, limit: int, count: int, first_id: int | None = None) -> SyncPage:
    start = first_id if first_id is not None else page * limit
    rows = tuple(
        SyncRow(start + n, "o", 1, "p", Decimal("1.00"), "USD", True, None, None, None)
        for n in range(limit)
    )
    return SyncPage(count=count, rows=rows, page=page, limit=limit)


def test_a_repeated_page_fails_the_sync_plainly_and_delists_nothing(
    private_sandbox, private_account, monkeypatch
):
    account = private_account()
    run_sync(account)
    one_pass(monkeypatch, page_size=10)
    fake_pages(monkeypatch, lambda page, limit: full_page(page, limit, 1000, first_id=1))
    job = run_sync(account)
    assert job.status == "failed"
    assert "sent page 2 with the same offers as page 1 of Gift Cards" in job.message
    assert "nothing was delisted" in job.message and job.pages_done == 1
    assert not Offer.objects.filter(account=account, delisted_at__isnull=False).exists()


def test_a_feed_of_full_pages_with_a_huge_count_stops_at_the_page_cap(
    private_sandbox, private_account, monkeypatch
):
    account = private_account()
    one_pass(monkeypatch, page_size=10)
    monkeypatch.setattr(sync, "MAX_PAGES", 7)
    fake_pages(monkeypatch, lambda page, limit: full_page(page, limit, 10**9))
    job = run_sync(account)
    assert job.status == "failed" and job.pages_done == 7
    assert "went on past 7 pages (70 offers)" in job.message


def test_a_feed_still_full_past_its_own_count_fails_after_one_more_page(
    private_sandbox, private_account, monkeypatch
):
    account = private_account()
    one_pass(monkeypatch, page_size=10)
    fake_pages(monkeypatch, lambda page, limit: full_page(page, limit, 25))
    job = run_sync(account)
    # 25 offers are 3 pages of 10; a fourth is allowed (the feed may shift), a full fourth is not.
    assert job.status == "failed" and job.pages_done == 4
    assert "past its own count of 25 offers of Gift Cards (page 4 was still full)" in job.message


def test_a_feed_that_ends_within_its_count_plus_one_page_succeeds(
    private_sandbox, private_account, monkeypatch
):
    account = private_account()
    one_pass(monkeypatch, page_size=10)

    def page_of(page, limit):
        full = full_page(page, limit, 20)
        return full if page < 3 else replace(full, rows=full.rows[:4])

    fake_pages(monkeypatch, page_of)
    job = run_sync(account)
    assert job.status == "succeeded", job.message
    assert job.pages_done == 3 and job.rows_new == 24


def test_a_database_error_never_shows_its_text_on_the_sync(
    private_sandbox, private_account, monkeypatch
):
    account = private_account()
    one_pass(monkeypatch)

    def refused(*args, **kwargs):
        raise DataError(
            'value "1180591620717411303424" is out of range for type bigint\n'
            "CONTEXT: COPY catalog_offer, line 3"
        )

    monkeypatch.setattr(sync.upsert, "upsert_offers", refused)
    with pytest.raises(DataError):
        run_sync(account)
    job = SyncJob.objects.get(account=account)
    assert job.status == "failed"
    assert "the database could not store a page" in job.message
    assert "bigint" not in job.message and "COPY" not in job.message


def test_a_sync_stores_an_unknown_balance_profile_as_unknown(
    private_sandbox, private_account, monkeypatch
):
    account = private_account()
    real_balance = GamesDropClient.balance

    def odd_profile(self):
        balance = real_balance(self)
        return replace(balance, balance_profile="<script>alert(1)</script>" * 3)

    monkeypatch.setattr(GamesDropClient, "balance", odd_profile)
    job = run_sync(account)
    account.refresh_from_db()
    assert job.status == "succeeded", job.message
    assert account.balance_profile == job.balance_profile == ""
