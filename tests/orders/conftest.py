"""Fixtures for the orders engine: sandbox offers as catalog rows, sandbox settings and faults
that are put back afterwards, and a recorder in place of the broker."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Offer
from orders import tasks
from orders.models import Order
from suppliers.models import SupplierAccount

TASKS = (
    "submit_order",
    "submit_batch_orders",
    "poll_order",
    "check_account_queue",
    "deliver_order",
    "read_batch",
    "confirm_batch",
    "send_batch",
    "notify_spend_approval",
    "send_gift_report",
    "process_webhook_event",
)


class Broker:
    """Stands in for Celery: records every task sent (name → ids), runs nothing by itself."""

    def __init__(self):
        self.sent = defaultdict(list)
        self.countdowns = defaultdict(list)
        self.queues = defaultdict(list)  # the queue named when sent (None: the task's route)

    def ids(self, name: str) -> list[int]:
        return list(self.sent[name])

    def clear(self) -> None:
        self.sent.clear()
        self.countdowns.clear()
        self.queues.clear()

    def run(self, name: str) -> None:
        """Run (and forget) every recorded task of that name, as a worker would."""
        pending, self.sent[name] = self.sent[name], []
        for pk in pending:
            # A batch's orders travel a few to a task; run here one to a task.
            getattr(tasks, name).run([pk] if name == "submit_batch_orders" else pk)


@pytest.fixture(autouse=True)
def broker(monkeypatch):
    recorder = Broker()
    for name in TASKS:

        def apply_async(args=None, kwargs=None, countdown=None, _name=name, **options):
            ids = args[0] if isinstance(args[0], list) else [args[0]]
            recorder.sent[_name].extend(ids)
            recorder.countdowns[_name].extend([countdown] * len(ids))
            recorder.queues[_name].extend([options.get("queue")] * len(ids))

        monkeypatch.setattr(getattr(tasks, name), "apply_async", apply_async)
        monkeypatch.setattr(
            getattr(tasks, name), "delay", lambda pk, _name=name: recorder.sent[_name].append(pk)
        )
    return recorder


@pytest.fixture
def sandbox_settings(sandbox):
    """`with sandbox_settings(topup_delay_seconds=0.5): ...` and the old values come back."""

    @contextlib.contextmanager
    def change(**values):
        before = sandbox.admin("GET", "/sandbox/settings")
        sandbox.admin("POST", "/sandbox/settings", values)
        try:
            yield
        finally:
            sandbox.admin("POST", "/sandbox/settings", {name: before[name] for name in values})

    return change


@pytest.fixture
def reprice(sandbox):
    """Move a sandbox offer's price; the base price is put back afterwards."""
    moved = {}

    def move(offer: Offer, price) -> None:
        current = sandbox.admin("GET", f"/sandbox/offers/{offer.offer_id}")
        moved.setdefault(offer.offer_id, current["basePrice"])
        sandbox.admin("POST", f"/sandbox/offers/{offer.offer_id}", {"price": str(price)})

    yield move
    for offer_id, price in moved.items():
        sandbox.admin("POST", f"/sandbox/offers/{offer_id}", {"price": str(price)})


@pytest.fixture
def supplier(sandbox):
    """What the sandbox itself knows: purchases per transactionId and the request log."""

    class Supplier:
        def purchases(self, account, transaction_id) -> int:
            answer = sandbox.admin(
                "GET",
                f"/sandbox/accounts/{account.remote['token']}/purchases",
                params={"transactionId": transaction_id},
            )
            return answer["count"]

        def requests(self, account, endpoint: str) -> int:
            answer = sandbox.admin(
                "GET",
                "/sandbox/requests",
                params={"token": account.remote["token"], "endpoint": endpoint},
            )
            return answer["count"]

        def deposit(self, account, amount) -> None:
            sandbox.admin(
                "POST",
                f"/sandbox/accounts/{account.remote['token']}/deposit",
                {"amount": str(amount)},
            )

    return Supplier()


@pytest.fixture
def operator(make_staff):
    return make_staff("operator")


def place(offer, *, by=None, limit=None, **fields) -> Order:
    """One order of `offer` through the service (the broker fixture records its submit task)."""
    from orders.services import order_create

    if offer.requires_user_id and "game_user_id" not in fields:
        fields["game_user_id"] = "123456789"
    orders = order_create(
        offer=offer,
        max_unit_price=Decimal(limit) if limit is not None else offer.price,
        by=by,
        **fields,
    )
    return orders[0]


# --- rows without a supplier (the state machine itself) -----------------------------------------


@pytest.fixture
def offline_offer(db):
    """An account and an offer pointing nowhere: for tests that never call the supplier."""
    from suppliers.services import supplier_account_save

    account = supplier_account_save(
        account=SupplierAccount(name="offline", base_url="http://127.0.0.1:9"),
        shop_token="offline-token-0000",
    )
    now = timezone.now()
    return Offer.objects.create(
        account=account,
        offer_id=4242,
        product_name="Steam Wallet US",
        offer_name="10 USD",
        price=Decimal("10.00"),
        currency="USD",
        returns_key=True,
        first_seen_at=now,
        synced_at=now,
    )
