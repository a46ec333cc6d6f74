"""A catalog without a feed (CodeGames): offers added by id and refreshed through find-one, against
the sandbox over HTTP."""

import io

import pytest

from catalog import offer_lookup
from catalog.models import Offer, OfferLookupJob, PriceHistory, SyncJob
from catalog.sync import NoCatalogFeed, catalog_sync_run, catalog_sync_start
from catalog.tasks import sync_all_catalogs
from suppliers.models import SupplierAccount

pytestmark = pytest.mark.django_db


def remote_offer(sandbox, skip=0, **filters) -> dict:
    query = {"settlement": "MIXED", "in_stock": "true", "listed": "true", "limit": skip + 1}
    return sandbox.admin("GET", "/sandbox/offers", params={**query, **filters})["offers"][skip]


def run_lookup(account, offer_ids, purpose=OfferLookupJob.Purpose.ADD) -> OfferLookupJob:
    job = OfferLookupJob.objects.create(account=account, offer_ids=offer_ids, purpose=purpose)
    offer_lookup.offer_lookup_run(job.pk)
    return OfferLookupJob.objects.get(pk=job.pk)


def test_ids_are_read_from_a_paste_and_a_csv_file():
    found = offer_lookup.offer_ids_read(text="2061, 2062\n2063 2061;abc")
    assert found.ids == [2061, 2062, 2063]
    assert found.problems == ["line 2: 'abc' is not an offer id (a whole number)"]
    csv_file = io.BytesIO("\ufeffname;offer_id\nPUBG;2070\nFree Fire;2071\n;\n".encode())
    found = offer_lookup.offer_ids_read(csv_file=csv_file)
    assert found.ids == [2070, 2071] and not found.problems
    found = offer_lookup.offer_ids_read(csv_file=io.BytesIO(b"5\n6\n7\n"))
    assert found.ids == [5, 6, 7]
    assert offer_lookup.offer_ids_read(csv_file=io.BytesIO(b"\xff\xfe1")).problems


def test_offers_added_by_id_are_filled_from_find_one(sandbox_account, sandbox):
    account = sandbox_account(kind="codegames")
    key = remote_offer(sandbox, kind="key")
    top_up = remote_offer(sandbox, kind="topup", req_server="false")
    job = run_lookup(account, [key["offerId"], top_up["offerId"], 987654321])

    assert job.status == "succeeded", job.message
    assert (job.offers_done, job.offers_added, job.offers_failed) == (3, 2, 1)
    assert job.problems == [
        {
            "offer_id": 987654321,
            "reason": "the supplier does not know this offer (OFFER_NOT_FOUND): not added",
        }
    ]
    stored_key = Offer.objects.get(account=account, offer_id=key["offerId"])
    assert stored_key.product_name == key["productName"]
    assert stored_key.offer_name == key["offerName"]
    assert stored_key.currency == key["currency"]
    assert stored_key.returns_key is True and stored_key.required_fields == []
    assert stored_key.category == "Gift Cards" and stored_key.product_type == "Key"
    stored_top_up = Offer.objects.get(account=account, offer_id=top_up["offerId"])
    assert stored_top_up.returns_key is False
    assert stored_top_up.required_fields == ["gameUserId"] and stored_top_up.requires_user_id
    assert stored_top_up.category == "Top Up"
    # The first price is history's first row, as a sync writes it.
    assert PriceHistory.objects.filter(offer=stored_key, source="find-one").count() == 1
    # Test connection now has a known offer to ask find-one for.
    account.refresh_from_db()
    assert account.check_offer_id in (key["offerId"], top_up["offerId"])


def test_the_refresh_records_price_changes_and_delists_what_find_one_no_longer_knows(
    sandbox_account, sandbox
):
    account = sandbox_account(kind="codegames")
    moved = remote_offer(sandbox, kind="key", skip=3)
    gone = remote_offer(sandbox, kind="key", skip=4)
    run_lookup(account, [moved["offerId"], gone["offerId"]])
    before = Offer.objects.get(account=account, offer_id=moved["offerId"]).price
    sandbox.admin("POST", f"/sandbox/offers/{moved['offerId']}", {"price": str(before * 2)})
    sandbox.admin("POST", f"/sandbox/offers/{gone['offerId']}", {"listed": False})
    try:
        job = run_lookup(
            account, [moved["offerId"], gone["offerId"]], purpose=OfferLookupJob.Purpose.REFRESH
        )
    finally:
        sandbox.admin("POST", f"/sandbox/offers/{moved['offerId']}", {"price": moved["price"]})
        sandbox.admin("POST", f"/sandbox/offers/{gone['offerId']}", {"listed": True})

    assert job.status == "succeeded"
    assert (job.offers_updated, job.price_changes, job.offers_gone) == (1, 1, 1)
    refreshed = Offer.objects.get(account=account, offer_id=moved["offerId"])
    assert refreshed.price != before and refreshed.previous_price == before
    assert list(refreshed.price_history.values_list("source", flat=True)) == [
        "find-one",
        "find-one",
    ]
    delisted = Offer.objects.get(account=account, offer_id=gone["offerId"])
    assert delisted.delisted_at is not None and not delisted.in_stock
    # Test connection keeps asking about an offer find-one still knows.
    account.refresh_from_db()
    assert account.check_offer_id == moved["offerId"]

    # Found again: listed again.
    again = run_lookup(account, [gone["offerId"]], purpose=OfferLookupJob.Purpose.REFRESH)
    assert again.offers_updated == 1
    assert Offer.objects.get(pk=delisted.pk).delisted_at is None


def test_a_refused_token_stops_the_look_up(sandbox_account, sandbox):
    account = sandbox_account(kind="codegames")
    SupplierAccount.objects.filter(pk=account.pk).update(shop_token="not-the-token-" + "x" * 20)
    account.refresh_from_db()
    job = run_lookup(account, [remote_offer(sandbox, kind="key")["offerId"], 2, 3])
    assert job.status == "failed" and "refused the account's token" in job.message
    assert job.offers_done == 0 and not Offer.objects.filter(account=account).exists()


def test_an_account_without_a_feed_is_never_synced(sandbox_account, sandbox):
    account = sandbox_account(kind="codegames")
    with pytest.raises(NoCatalogFeed):
        catalog_sync_start(account=account)
    # A sync row left from before (or made by hand) fails with the reason, calling nothing.
    job = catalog_sync_run(SyncJob.objects.create(account=account).pk)
    assert job is not None and job.status == "failed" and "no catalog feed" in job.message


def test_the_schedule_refreshes_accounts_without_a_feed_and_syncs_the_others(
    sandbox_account, sandbox
):
    codegames = sandbox_account(kind="codegames")
    gamesdrop = sandbox_account()
    run_lookup(codegames, [remote_offer(sandbox, kind="key")["offerId"]])
    sync_all_catalogs()
    refresh = OfferLookupJob.objects.get(account=codegames, purpose=OfferLookupJob.Purpose.REFRESH)
    assert refresh.trigger == "schedule" and len(refresh.offer_ids) == 1
    assert not SyncJob.objects.filter(account=codegames).exists()
    assert SyncJob.objects.filter(account=gamesdrop).exists()
    assert not OfferLookupJob.objects.filter(account=gamesdrop).exists()


def test_a_look_up_is_refused_for_an_account_with_a_feed_and_without_ids(sandbox_account):
    with pytest.raises(offer_lookup.OfferLookupRefused):
        offer_lookup.offer_lookup_start(account=sandbox_account(), offer_ids=[1])
    with pytest.raises(offer_lookup.OfferLookupRefused):
        offer_lookup.offer_lookup_start(account=sandbox_account(kind="codegames"), offer_ids=[])


def test_the_add_page_starts_a_look_up_and_shows_bad_input(client_as, sandbox_account):
    account = sandbox_account(kind="codegames")
    client = client_as("admin")
    page = client.get(f"/catalog/lookups/?account={account.pk}")
    assert page.status_code == 200 and b"Look up and add" in page.content
    bad = client.post("/catalog/lookups/start/", {"account": account.pk, "offer_ids": "12, x1"})
    assert bad.status_code == 400 and b"is not an offer id" in bad.content
    assert not OfferLookupJob.objects.exists()
    upload = io.BytesIO(b"offer_id\n2061\n2062\n")
    upload.name = "offers.csv"
    started = client.post(
        "/catalog/lookups/start/",
        {"account": account.pk, "offer_ids": "2063", "csv_file": upload},
    )
    job = OfferLookupJob.objects.get()
    assert started.status_code == 302 and started.url == f"/catalog/lookups/{job.pk}/"
    assert job.offer_ids == [2063, 2061, 2062] and job.status == "queued"
    detail = client.get(started.url)
    assert detail.status_code == 200 and b"0 of 3 offers" in detail.content


def test_a_long_look_up_hands_the_rest_to_a_new_job(sandbox_account, sandbox, monkeypatch):
    account = sandbox_account(kind="codegames")
    ids = [remote_offer(sandbox, kind="key", skip=n)["offerId"] for n in range(3)]
    monkeypatch.setattr(offer_lookup, "RUN_BUDGET_SECONDS", 0)
    job = run_lookup(account, ids)
    assert job.status == "succeeded" and job.offers_done == 1
    follow = OfferLookupJob.objects.exclude(pk=job.pk).get()
    assert follow.offer_ids == ids[1:] and follow.status == "queued"
    assert f"the other 2 offers go on in look-up #{follow.pk}" in job.message
    offer_lookup.offer_lookup_run(follow.pk)
    assert Offer.objects.filter(account=account).count() == 2  # one more each run
