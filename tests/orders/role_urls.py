"""Rows of the role x URL table (tests/core/test_role_url_table.py) for the orders pages."""

from tests.core.role_table import SIGN_IN, expect


def _order(f):
    return {"order_pk": f["single_order"].pk}


# url name -> (function making reverse() kwargs from the fixtures, expected status per role)
ROWS: dict = {
    # Finance reads orders (list, detail, CSV) but cannot place them or act on them.
    "orders:order_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:order_export": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:order_create": (None, expect(SIGN_IN, 200, 403, 200)),
    "orders:order_detail": (_order, expect(SIGN_IN, 200, 200, 200)),
    "orders:offer_orders": (
        lambda f: {"offer_pk": f["single_order"].offer_id},
        expect(SIGN_IN, 200, 200, 200),
    ),
    # POST only. Anyone who may read the order may ask; the service refuses (and audits) those
    # without orders.reveal_key, so a GET is refused by method for every role.
    "orders:order_key_reveal": (_order, expect(SIGN_IN, 405, 405, 405)),
    # POST only, after the whitelist lookup and the action's permission.
    "orders:order_action": (
        lambda f: {**_order(f), "action": "recheck"},
        expect(SIGN_IN, 405, 403, 405),
    ),
    # Spend controls: everyone who orders or watches spending sees the limits and what waits;
    # only admins set limits and approve (operators order, they do not approve).
    "orders:spend_limits": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:spend_limit_save": (None, expect(SIGN_IN, 403, 403, 405)),
    "orders:approval_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:approval_decide": (
        lambda f: {"approval_pk": f["approval"].pk},
        expect(SIGN_IN, 403, 403, 405),
    ),
    "orders:account_queue_resume": (
        lambda f: {"account_pk": f["single_order"].account_id},
        expect(SIGN_IN, 405, 403, 405),
    ),
    # Telegram reports: everyone who reads orders reads them; operators and admins retry one.
    "orders:gift_report_list": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:gift_report_export": (None, expect(SIGN_IN, 200, 200, 200)),
    "orders:gift_report_export_xlsx": (None, expect(SIGN_IN, 200, 200, 200)),
    # A gift sale made elsewhere is recorded by finance or an admin.
    "orders:gift_sale_create": (None, expect(SIGN_IN, 403, 200, 200)),
    "orders:gift_sale_import": (None, expect(SIGN_IN, 403, 200, 200)),
    "orders:gift_report_retry": (
        lambda f: {"report_pk": f["gift_report"].pk},
        expect(SIGN_IN, 405, 403, 405),
    ),
    # A supplier's webhook receiver: POST only, for anyone (its signature is the proof).
    "orders:supplier_webhook": (
        lambda f: {"account_id": f["single_order"].account_id},
        expect(405, 405, 405, 405),
    ),
    # The events received: an admins' page, like the supplier accounts' settings.
    "orders:webhook_event_list": (None, expect(SIGN_IN, 403, 403, 200)),
    "orders:webhook_event_replay": (
        lambda f: {"event_pk": f["webhook_event"].pk},
        expect(SIGN_IN, 403, 403, 405),
    ),
}


def fixtures(make_staff) -> dict:
    """Objects the orders URLs name (an order, a batch ...), created for the table test."""
    from decimal import Decimal

    from django.utils import timezone

    from catalog.models import Offer
    from orders.models import GiftReport, Order, SpendApproval, WebhookEvent
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(
        name="Orders table", base_url="http://127.0.0.1:9", shop_token="o" * 32
    )
    now = timezone.now()
    offer = Offer.objects.create(
        account=account,
        offer_id=77,
        product_name="Steam Wallet US",
        offer_name="10 USD",
        price=Decimal("10"),
        currency="USD",
        returns_key=True,
        first_seen_at=now,
        synced_at=now,
    )
    order = Order.objects.create(
        account=account,
        offer=offer,
        transaction_id="rb-role-table-order",
        status="COMPLETED",
        max_unit_price=Decimal("10"),
        quoted_price=Decimal("10"),
        currency="USD",
        final_at=now,
    )
    approval = SpendApproval.objects.create(
        account=account,
        amount_usd=Decimal("500"),
        requested_by=make_staff("operator", username="asks-approval"),
        order_ids=[order.pk],
    )
    report = GiftReport.objects.create(
        order=order, transaction_id=order.transaction_id, transaction_at=now
    )
    event = WebhookEvent.objects.create(
        account=account, webhook_id="msg_table", status="PROCESSED", received_at=now, body="{}"
    )
    return {
        "single_order": order,
        "approval": approval,
        "gift_report": report,
        "webhook_event": event,
    }
