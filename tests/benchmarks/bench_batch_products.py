"""How fast batch rows naming a product are previewed and confirmed.

A preview picks the route of each product row (the product's routes read once per file and the
pick made once per product and kind of customer details, so the queries do not grow with the
rows); a confirmation creates each product row's orders on the best route at that moment, one
row at a time (the product order page's path, with its attempt rows). Printed: rows per second
and queries of the preview for 20,000 rows over 200 products of two routes each, and orders per
second of the confirmation of 2,000 rows.
"""

import time
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.batches.parsing import parse_rows
from orders.batches.reading import read_rows
from orders.batches.validation import validate_rows
from tests.benchmarks.conftest import report

PRODUCTS = 200
PREVIEW_ROWS = 20_000
CONFIRM_ROWS = 2_000


def make_products():
    from catalog.models import Offer, Product, ProductRoute
    from suppliers.models import SupplierAccount

    accounts = [
        SupplierAccount.objects.create(
            name=f"bench-products-{n}",
            base_url="http://127.0.0.1:9",
            shop_token=str(n) * 32,
            balance_profile="FIAT",
        )
        for n in range(2)
    ]
    now = timezone.now()
    offers = Offer.objects.bulk_create(
        [
            Offer(
                account=account,
                offer_id=200_000 + n,
                product_name=f"Card {n}",
                offer_name="20 USD",
                price=Decimal("19.50") + side,
                currency="USD",
                in_stock=True,
                first_seen_at=now,
                synced_at=now,
            )
            for n in range(PRODUCTS)
            for side, account in enumerate(accounts)
        ]
    )
    products = Product.objects.bulk_create(
        [
            Product(code=f"card-{n}", name=f"Card {n}", denomination="20 USD")
            for n in range(PRODUCTS)
        ]
    )
    ProductRoute.objects.bulk_create(
        [
            ProductRoute(product=product, offer=offers[2 * n + side], position=side + 1)
            for n, product in enumerate(products)
            for side in range(2)
        ]
    )
    return accounts[0]


def make_csv(rows: int) -> bytes:
    lines = ["product;quantity;email;customer_reference"]
    for n in range(rows):
        lines.append(f"card-{n % PRODUCTS};1;buyer{n}@example.com;P-{n:06d}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.django_db
def test_preview_and_confirm_product_rows():
    from orders.batches.preview import (
        batch_preview_confirm,
        batch_preview_create,
        batch_preview_create_orders,
    )
    from orders.models import Batch, Order

    account = make_products()
    data = make_csv(PREVIEW_ROWS)
    started = time.perf_counter()
    rows = list(parse_rows(read_rows(data, "products.csv")))
    with CaptureQueriesContext(connection) as queries:
        preview = validate_rows(rows, account=account)
    preview_seconds = time.perf_counter() - started
    assert preview.rows_ok == PREVIEW_ROWS, preview.problem_rows[:1]

    small = make_csv(CONFIRM_ROWS)
    batch = batch_preview_create(
        account=account, uploaded_file=SimpleUploadedFile("p.csv", small), filename="p.csv"
    )
    assert batch.preview_summary["rows_ok"] == CONFIRM_ROWS
    batch_preview_confirm(batch=batch, by=None)
    started = time.perf_counter()
    batch = batch_preview_create_orders(batch_id=batch.pk)
    confirm_seconds = time.perf_counter() - started
    assert batch.status == Batch.Status.CONFIRMED, batch.preview_summary.get("confirm_error")
    orders = Order.objects.filter(batch=batch, product__isnull=False).count()
    assert orders == CONFIRM_ROWS

    report(
        f"batch rows by product ({connection.vendor})",
        {
            "preview (read+parse+validate)": (
                f"{PREVIEW_ROWS:,} rows, {PRODUCTS} products: {preview_seconds:.2f} s, "
                f"{PREVIEW_ROWS / preview_seconds:,.0f} rows/s, {len(queries)} queries"
            ),
            "confirmation (orders created)": (
                f"{orders:,} orders in {confirm_seconds:.2f} s, "
                f"{orders / confirm_seconds:,.0f} orders/s"
            ),
        },
    )
