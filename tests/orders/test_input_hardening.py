"""Whatever an operator types or a link carries, the order pages answer with a page, never a 500:
Unicode digits ("²".isdigit() is True, int("²") is not a number), ids beyond the database's
integers (SQLite raises OverflowError on them), and the batch links go to the batch page.
"""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.errors import OrderError
from orders.models import Batch, Order, OrderKey
from orders.selectors import offers_for_ordering
from orders.services import batch_create, order_create
from reseller.core.models import AuditEvent

HUGE = "99999999999999999999999"
BEYOND_BIGINT = str(2**63)  # one more than the largest id any database stores


def make_order(offer, **fields) -> Order:
    return order_create(offer=offer, max_unit_price=offer.price, **fields)[0]


@pytest.fixture
def batch_order(offline_offer):
    batch = batch_create(name="Spring keys", source_filename="spring.csv")
    Batch.objects.filter(pk=batch.pk).update(
        status=Batch.Status.CONFIRMED, confirmed_at=timezone.now(), account=offline_offer.account
    )
    return make_order(offline_offer, batch=batch, row_number=2)


# --- Unicode digits -----------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["²", "١٢٣", "1²"])
def test_the_list_search_takes_unicode_digits_as_text(client_as, offline_offer, digits):
    order = make_order(offline_offer, customer_reference=f"REF-{digits}")
    response = client_as("operator").get(reverse("orders:order_list"), {"q": digits})
    assert response.status_code == 200
    assert {o.pk for o in response.context["page"]} == {order.pk}


@pytest.mark.parametrize("digits", ["²", "١٢٣"])
def test_the_offer_picker_takes_unicode_digits_as_words(client_as, offline_offer, digits):
    response = client_as("operator").get(reverse("orders:order_create"), {"q": digits})
    assert response.status_code == 200
    assert list(offers_for_ordering(account=offline_offer.account, search=digits)) == []


def test_the_offer_picker_finds_an_offer_by_its_id_and_not_beyond_the_largest_id(
    client_as, offline_offer
):
    account = offline_offer.account
    assert list(offers_for_ordering(account=account, search="4242")) == [offline_offer]
    for search in (HUGE, BEYOND_BIGINT):
        assert list(offers_for_ordering(account=account, search=search)) == []
        assert (
            client_as("operator").get(reverse("orders:order_create"), {"q": search}).status_code
            == 200
        )


# --- ids beyond the database's integers ---------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"batch": HUGE},
        {"batch": BEYOND_BIGINT},
        {"batch": "1e20"},
        {"batch": "-" + HUGE},
        {"batch": "0"},
        {"batch": "1.5"},
        {"batch": "²"},
        {"offer": HUGE},
        {"offer": "1e20"},
        {"ids": "1e20"},
        {"ids": HUGE},
        {"ids": f"1,{BEYOND_BIGINT}"},
        {"ids": "²"},
    ],
    ids=lambda params: "-".join(f"{k}={v}" for k, v in params.items()),
)
def test_an_id_out_of_range_is_not_understood_never_a_500(client_as, batch_order, params):
    client = client_as("operator")
    page = client.get(reverse("orders:order_list"), params)
    assert page.status_code == 200 and b"not understood" in page.content
    export = client.get(reverse("orders:order_export"), params)
    assert export.status_code == 200
    body = b"".join(export.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff") and len(body.splitlines()) == 2  # header and the one order


def test_the_largest_id_is_still_a_filter(client_as, batch_order):
    client = client_as("operator")
    largest = str(2**63 - 1)
    for name in ("batch", "offer", "ids"):
        response = client.get(reverse("orders:order_list"), {name: largest})
        assert response.status_code == 200 and list(response.context["page"]) == [], name
    by_batch = client.get(reverse("orders:order_list"), {"batch": batch_order.batch_id})
    assert [o.pk for o in by_batch.context["page"]] == [batch_order.pk]
    by_ids = client.get(reverse("orders:order_list"), {"ids": f"{batch_order.pk},{largest}"})
    assert [o.pk for o in by_ids.context["page"]] == [batch_order.pk]


# --- the batch's keys leave only on a POST ------------------------------------------------------


def test_the_keys_export_refuses_a_get_and_writes_no_audit_event(client_as, batch_order):
    OrderKey.objects.create(order=batch_order, unit_index=0, secret="KEY-GET-NEVER-0001")
    url = reverse("orders:batch_keys_export", args=[batch_order.batch_id])
    admin = client_as("admin")
    refused = admin.get(url)
    assert refused.status_code == 405 and b"KEY-GET-NEVER" not in refused.content
    assert not AuditEvent.objects.filter(action__startswith="batch.keys_export").exists()
    exported = admin.post(url)
    assert exported.status_code == 200 and b"KEY-GET-NEVER-0001" in exported.content
    assert AuditEvent.objects.filter(action="batch.keys_exported").count() == 1


# --- "batch #N" goes to the batch ---------------------------------------------------------------


def test_the_order_pages_link_batch_numbers_to_the_batch_page(client_as, batch_order):
    client = client_as("operator")
    batch_url = reverse("orders:batch_detail", args=[batch_order.batch_id])
    detail = client.get(batch_order.get_absolute_url()).content.decode()
    assert detail.count(f'href="{batch_url}"') == 2  # the crumbs and the Batch line
    listing = client.get(reverse("orders:order_list")).content.decode()
    assert f'href="{batch_url}"' in listing
    # The batch page links each of its orders to the order's own page.
    batch_page = client.get(batch_url).content.decode()
    assert f'href="{batch_order.get_absolute_url()}"' in batch_page


def test_unicode_digits_in_the_order_form_are_not_an_offer_or_a_telegram_id(
    client_as, offline_offer
):
    """ "²" passes str.isdigit() but is no number: no offer is chosen by it, and no Stars order
    is sent to it; never a 500."""
    client = client_as("operator")
    assert client.get(reverse("orders:order_create"), {"offer": "²"}).status_code == 404
    assert client.post(reverse("orders:order_create"), {"offer": "1²"}).status_code == 404
    type(offline_offer).objects.filter(pk=offline_offer.pk).update(
        product_name="Telegram Stars", telegram_kind="stars", requires_user_id=True
    )
    offline_offer.refresh_from_db()
    with pytest.raises(OrderError, match="numeric"):
        order_create(offer=offline_offer, max_unit_price=Decimal(10), game_user_id="²")
