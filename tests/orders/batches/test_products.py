"""Batch rows that name a product (its code) instead of an offer id: the preview shows the route
each would take now and its cost; confirming creates product orders, routed when they are sent,
so a route that runs out of stock after the preview hands the order to the next one.

Two sandbox accounts over real HTTP deliver the product with two different key offers (stock
in the sandbox is per offer); the broker fixture records tasks, and the tests run them."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Offer, Product
from catalog.products import product_route_attach
from orders import tasks
from orders.models import Batch, BatchPreviewRow, Order, OrderAttempt, OrderStatus
from orders.services import order_submit

S = OrderStatus
HEADER = "offer_id,quantity,email,customer_reference,max_unit_price,product"


@pytest.fixture
def two_routes(sandbox_account, sandbox_offer):
    """A key product delivered by one USD key offer at a first account, then (second in the
    preference order) another USD key offer at a second account."""
    first, second = sandbox_account(balance="100000"), sandbox_account(balance="100000")
    offers = [
        sandbox_offer(first, kind="key", currency="USD", skip=7),
        sandbox_offer(second, kind="key", currency="USD", skip=8),
    ]
    product = Product.objects.create(
        code="gift-card-20",
        name=offers[0].product_name,
        denomination=offers[0].offer_name,
        kind=Product.Kind.KEY,
        policy=Product.Policy.PREFERENCE,
    )
    for offer in offers:
        product_route_attach(product=product, offer=offer)
    return product, (first, second), offers


@pytest.fixture
def out_of_stock_at_sandbox(sandbox):
    """Take a sandbox offer out of stock (the supplier's side only: our catalog has not synced
    since); back in stock after the test."""
    changed = []

    def take(offer: Offer) -> None:
        sandbox.admin("POST", f"/sandbox/offers/{offer.offer_id}", {"inStock": False})
        changed.append(offer.offer_id)

    yield take
    for offer_id in changed:
        sandbox.admin("POST", f"/sandbox/offers/{offer_id}", {"inStock": True})


def upload(client, account, content: bytes, name: str) -> Batch:
    """Post the upload form and read the file as the batches worker would."""
    response = client.post(
        reverse("orders:batch_upload"),
        {"account": account.pk, "name": "", "file": SimpleUploadedFile(name, content)},
    )
    assert response.status_code == 302
    batch = Batch.objects.latest("pk")
    tasks.read_batch.run(batch.pk)
    batch.refresh_from_db()
    return batch


def confirm(client, batch: Batch) -> Batch:
    client.post(reverse("orders:batch_action", args=[batch.pk, "confirm"]), follow=True)
    tasks.confirm_batch.run(batch.pk)
    batch.refresh_from_db()
    return batch


def rows_of(batch: Batch) -> dict[int, BatchPreviewRow]:
    return {row.row_number: row for row in BatchPreviewRow.objects.filter(batch=batch)}


def test_a_csv_of_product_rows_previews_the_route_each_takes_now_and_its_cost(
    client_as, two_routes, broker
):
    product, (first, _), offers = two_routes
    content = "\r\n".join(
        [
            HEADER,
            ",2,a@example.com,P-1,,gift-card-20",  # 2: ok, on the first route
            ",1,,P-2,,no-such-product",  # 3: unknown product
            f"{offers[0].offer_id},1,,P-3,,gift-card-20",  # 4: both an offer and a product
            ",1,,P-4,,",  # 5: neither
            ",1,,P-5,9.99,gift-card-20",  # 6: a price limit on a product row
            f"{offers[0].offer_id},1,,P-6,,",  # 7: an offer row still works beside them
        ]
    ).encode()
    client = client_as("operator")
    batch = upload(client, first, content, "products.csv")
    assert batch.status == Batch.Status.PREVIEW
    rows = rows_of(batch)

    ok = rows[2]
    assert not ok.has_problems and ok.product == product and ok.offer == offers[0]
    assert ok.route_account == first.name
    assert ok.unit_price == offers[0].price and ok.currency == "USD"
    assert ok.route_usd_cost == offers[0].price * (offers[0].units or 1)
    assert rows[3].problems == ["product 'no-such-product' is not a product of this back-office"]
    assert rows[3].product is None and rows[3].bad_values == {}
    assert rows[4].problems == [
        "offer_id in cell A4 and product in cell F4 are both filled: a row orders an offer or a "
        "product, keep one of them"
    ]
    assert rows[5].problems == [
        "the row names neither an offer_id (cell A5) nor a product (cell F5): fill one of them"
    ]
    assert rows[6].problems[0].startswith("max_unit_price is for offer rows")
    assert not rows[7].has_problems and rows[7].product is None
    # The estimate counts the product row at its route's price, beside the offer row.
    assert batch.preview_summary["rows_ok"] == 2 and batch.preview_summary["units_ok"] == 3

    url = reverse("orders:batch_detail", args=[batch.pk])
    page = client.get(f"{url}?show=all").content.decode()
    route = page.split('data-row="2"')[1].split("</tr>")[0]
    assert "gift-card-20" in route and f"route now: {first.name}" in route
    assert "USD each" in route
    assert "not a product of this back-office" in page


def test_an_xlsx_with_only_a_product_column_previews_its_routes_and_the_reason_none_is_usable(
    client_as, two_routes, broker
):
    from openpyxl import Workbook

    product, (first, second), offers = two_routes
    empty = Product.objects.create(code="no-routes", name="Nothing", denomination="1")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Product code", "Qty", "Email"])
    sheet.append(["gift-card-20", 1, "a@example.com"])
    sheet.append(["no-routes", 1, "b@example.com"])
    out = io.BytesIO()
    workbook.save(out)
    # Our catalog knows the first route is out of stock: the preview shows the second one.
    Offer.objects.filter(pk=offers[0].pk).update(in_stock=False)

    batch = upload(client_as("operator"), first, out.getvalue(), "products.xlsx")
    assert batch.status == Batch.Status.PREVIEW, batch.preview_summary
    rows = rows_of(batch)
    assert not rows[2].has_problems and rows[2].product == product
    assert rows[2].offer == offers[1] and rows[2].route_account == second.name
    assert rows[3].product == empty
    assert rows[3].problems == [
        "product 'no-routes': The product has no active route: attach an offer on its page."
    ]


def test_confirming_creates_product_orders_routed_as_things_are_at_confirmation(
    client_as, two_routes, broker
):
    product, (first, second), offers = two_routes
    content = f"{HEADER}\r\n,2,a@example.com,C-1,,gift-card-20\r\n".encode()
    client = client_as("operator")
    batch = upload(client, first, content, "products.csv")
    assert rows_of(batch)[2].route_account == first.name
    # After the preview the first route ran out in our catalog: the batch pinned nothing.
    Offer.objects.filter(pk=offers[0].pk).update(in_stock=False)

    batch = confirm(client, batch)
    assert batch.status == Batch.Status.CONFIRMED, batch.preview_summary
    orders = list(Order.objects.filter(batch=batch).order_by("pk"))
    assert len(orders) == 2
    for order in orders:
        assert order.product == product and order.account == second and order.row_number == 2
        assert order.status == S.QUEUED and order.customer_reference == "C-1"
        attempt = OrderAttempt.objects.get(order=order)
        assert attempt.account == second and attempt.transaction_id == order.transaction_id
    assert len({order.transaction_id for order in orders}) == 2
    assert not BatchPreviewRow.objects.filter(batch=batch, has_problems=False).exists()


def test_a_product_row_with_no_usable_route_at_confirmation_orders_nothing(
    client_as, two_routes, broker
):
    _, (first, _), offers = two_routes
    content = "\r\n".join(
        [HEADER, f"{offers[0].offer_id},1,,N-1,,", ",1,a@example.com,N-2,,gift-card-20"]
    ).encode()
    client = client_as("operator")
    batch = upload(client, first, content, "products.csv")
    Offer.objects.filter(pk__in=[offer.pk for offer in offers]).update(in_stock=False)

    batch = confirm(client, batch)
    assert batch.status == Batch.Status.PREVIEW
    assert batch.preview_summary["confirm_error"].startswith(
        "Row 3: No route can take the order now"
    )
    assert not Order.objects.filter(batch=batch).exists()  # not even the offer row's


def test_a_route_out_of_stock_between_preview_and_send_hands_the_order_to_the_next_route(
    client_as, two_routes, broker, supplier, out_of_stock_at_sandbox
):
    product, (first, second), offers = two_routes
    content = f"{HEADER}\r\n,1,a@example.com,S-1,,gift-card-20\r\n".encode()
    client = client_as("operator")
    batch = upload(client, first, content, "products.csv")
    assert rows_of(batch)[2].route_account == first.name
    batch = confirm(client, batch)
    order = Order.objects.get(batch=batch)
    assert order.account == first
    first_id = order.transaction_id
    # The supplier runs out before the order is sent; our catalog does not know yet.
    out_of_stock_at_sandbox(offers[0])

    order = order_submit(order_id=order.pk)
    assert order.status == S.COMPLETED, order.last_error
    assert order.product == product and order.account == second
    assert order.transaction_id != first_id
    assert supplier.purchases(first, first_id) == 0
    assert supplier.purchases(second, order.transaction_id) == 1
    assert [attempt.account for attempt in order.attempts.order_by("pk")] == [first, second]
    assert order.events.filter(data__reroute=True).count() == 1


def test_orders_of_a_batch_waiting_on_a_queue_held_since_confirmation_take_the_next_route(
    client_as, two_routes, broker, supplier
):
    from django.utils import timezone

    from orders.services.account_queue import account_queue_hold

    product, (first, second), _ = two_routes
    content = f"{HEADER}\r\n,2,a@example.com,H-1,,gift-card-20\r\n".encode()
    client = client_as("operator")
    batch = confirm(client, upload(client, first, content, "products.csv"))
    orders = list(Order.objects.filter(batch=batch).order_by("pk"))
    assert [order.account for order in orders] == [first, first]
    # The first account's balance ran out (another order's INSUFFICIENT_BALANCE) before these
    # were sent: they go to the next route rather than wait on hold.
    account_queue_hold(account_id=first.pk, reason="INSUFFICIENT_BALANCE", now=timezone.now())

    for order in orders:
        sent = order_submit(order_id=order.pk)
        assert sent.status == S.QUEUED and sent.account == second
        assert sent.transaction_id != order.transaction_id
        sent = order_submit(order_id=order.pk)
        assert sent.status == S.COMPLETED, sent.last_error
        assert supplier.purchases(first, order.transaction_id) == 0
        assert supplier.purchases(second, sent.transaction_id) == 1
        assert [attempt.account for attempt in sent.attempts.order_by("pk")] == [first, second]


def test_retrying_a_failed_product_order_retries_the_product_not_the_route_it_took(
    client_as, two_routes, broker, make_staff
):
    from orders.batches.failed_rows import batch_retry_failed

    product, (first, _), _ = two_routes
    content = f"{HEADER}\r\n,1,a@example.com,F-1,,gift-card-20\r\n".encode()
    client = client_as("operator")
    batch = confirm(client, upload(client, first, content, "products.csv"))
    Order.objects.filter(batch=batch).update(status=S.FAILED)

    retry = batch_retry_failed(batch=batch, by=make_staff(role="operator"))
    tasks.read_batch.run(retry.pk)
    row = BatchPreviewRow.objects.get(batch=retry)
    assert not row.has_problems, row.problems
    assert row.product == product and row.product_ref == "gift-card-20"
    assert row.offer_ref is None and row.max_unit_price is None
    assert row.customer_reference == "F-1" and row.email == "a@example.com"
