"""Rows of the role x URL table (tests/core/test_role_url_table.py) for the batch pages.

Operators upload, confirm and run batches; finance reads them (pages, results CSV) and changes
nothing; exporting a batch's keys is for admins only (operators hand keys out one at a time).
"""

from tests.core.role_table import SIGN_IN, expect

_BATCH = lambda f: {"batch_pk": f["batch"].pk}  # noqa: E731

# url name -> (function making reverse() kwargs from the fixtures, expected status per role)
ROWS: dict = {
    "orders:batch_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:batch_upload": (None, expect(SIGN_IN, 200, 403, 200)),
    "orders:batch_template_csv": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:batch_template_xlsx": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:batch_detail": (_BATCH, expect(SIGN_IN, 200, 200, 200)),
    "orders:batch_results": (_BATCH, expect(SIGN_IN, 200, 200, 200)),
    # POST only (a link or a prefetch exports nothing); a POST's own permission is checked
    # (and a refusal audited) by the service.
    "orders:batch_keys_export": (_BATCH, expect(SIGN_IN, 405, 405, 405)),
    # Retrying the failed rows makes a new batch: operators and admins; POST only.
    "orders:batch_retry": (_BATCH, expect(SIGN_IN, 405, 403, 405)),
    "orders:batch_fix_rows": (_BATCH, expect(SIGN_IN, 200, 200, 200)),
    # POST only, once the action's permission has passed.
    "orders:batch_action": (
        lambda f: {"batch_pk": f["batch"].pk, "action": "pause"},
        expect(SIGN_IN, 405, 403, 405),
    ),
}


def fixtures(make_staff) -> dict:
    """A confirmed batch with one order (its account points nowhere: nothing is sent)."""
    from decimal import Decimal

    from django.utils import timezone

    from catalog.models import Offer
    from orders.models import Batch
    from orders.services import OrderLine, batch_create, batch_orders_create
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(
        name="Batch table", base_url="http://127.0.0.1:9", shop_token="b" * 32
    )
    now = timezone.now()
    offer = Offer.objects.create(
        account=account, offer_id=7001, price=Decimal("2.50"), currency="USD",
        product_name="Steam Wallet US", offer_name="5 USD", first_seen_at=now, synced_at=now,
    )  # fmt: skip
    batch = batch_create(name="Table batch", source_filename="table.csv")
    batch_orders_create(
        batch=batch, lines=[OrderLine(offer=offer, max_unit_price=Decimal("2.50"), row_number=2)]
    )
    Batch.objects.filter(pk=batch.pk).update(
        status=Batch.Status.CONFIRMED, confirmed_at=now, account=account
    )
    return {"batch": batch}
