from decimal import Decimal

import pytest
from django.utils import timezone


@pytest.fixture
def account(db):
    from suppliers.models import SupplierAccount

    return SupplierAccount.objects.create(
        name="batch-account",
        base_url="http://127.0.0.1:9",
        shop_token="t" * 32,
        balance_profile="FIAT",
    )


@pytest.fixture
def make_offer(account):
    """Create a catalog offer of `account`: in stock, listed, 10.0000 RUB, nothing required."""
    from catalog.models import Offer

    def make(offer_id: int, **fields) -> Offer:
        now = timezone.now()
        values = {
            "product_name": f"Product {offer_id}",
            "offer_name": "Offer",
            "price": Decimal("10"),
            "currency": "RUB",
            "first_seen_at": now,
            "synced_at": now,
            **fields,
        }
        return Offer.objects.create(account=account, offer_id=offer_id, **values)

    return make
