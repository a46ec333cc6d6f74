"""The order pages: the manual order against the sandbox, the list with its filters and CSV, one
order with its actions and key vault, the held-queue banner and the dashboard figures."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import AccountQueue, Order, OrderKey, OrderStatus
from orders.services import order_create
from reseller.core.models import AuditEvent

S = OrderStatus
HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str, trigger: str | None = None) -> dict:
    headers = {**HTMX, "HTTP_HX_TARGET": target}
    if trigger:
        headers["HTTP_HX_TRIGGER"] = trigger
    return headers


def make_order(offer, *, status=S.QUEUED, **fields) -> Order:
    """An order row in any status, without the supplier (the engine has its own tests)."""
    order = order_create(offer=offer, max_unit_price=offer.price, **fields)[0]
    if status != S.QUEUED:
        Order.objects.filter(pk=order.pk).update(status=status)
        order.refresh_from_db()
    return order


def form_page(client, offer):
    return client.get(reverse("orders:order_create"), {"offer": offer.pk})


def order_post(client, offer, **fields):
    data = {"offer": offer.pk, "quantity": 1, "max_unit_price": offer.price, **fields}
    return client.post(reverse("orders:order_create"), data)


def audited(action, order) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(order.pk)))


# --- the manual order against the sandbox -------------------------------------------------------


@pytest.fixture
def account(sandbox_account):
    return sandbox_account()


def test_the_picker_finds_listed_offers_by_name_or_id(client_as, account, sandbox_offer):
    offer = sandbox_offer(account, kind="key")
    client = client_as("operator")
    page = client.get(reverse("orders:order_create"))
    assert page.status_code == 200 and b"Find an offer" in page.content

    found = client.get(
        reverse("orders:order_create"),
        {"account": account.pk, "q": str(offer.offer_id)},
        **htmx("offer-results"),
    )
    assert b"<html" not in found.content  # the results partial only
    assert f"?offer={offer.pk}".encode() in found.content
    assert found["HX-Push-Url"].endswith(f"q={offer.offer_id}")

    # As a sync writes it (the engine's fixture leaves it out).
    offer.search_text = f"{offer.product_name} {offer.offer_name}".lower()
    offer.save(update_fields=["search_text"])
    words = f"{offer.product_name.split()[0]} {offer.offer_name.split()[0]}".upper()
    by_name = client.get(reverse("orders:order_create"), {"account": account.pk, "q": words})
    assert by_name.status_code == 200 and f"?offer={offer.pk}".encode() in by_name.content


def test_the_form_shows_the_live_price_and_a_key_order_of_two_places_two_orders(
    client_as, account, sandbox_offer, reprice
):
    offer = sandbox_offer(account, kind="key", skip=1)
    reprice(offer, offer.price + Decimal("1.00"))  # the synced price is stale now
    live = offer.price + Decimal("1.00")
    client = client_as("operator")

    page = form_page(client, offer)
    assert page.status_code == 200
    shown = re.search(rb'data-testid="live-price">([^<]+)<', page.content).group(1).decode()
    assert Decimal(shown.split()[0]) == live and shown.split()[1] == offer.currency
    assert page.context["form"]["max_unit_price"].value() == live  # the default limit

    response = order_post(
        client,
        offer,
        quantity=2,
        max_unit_price=live,
        email="buyer@example.com",
        customer_reference="T-1001",
    )
    orders = list(Order.objects.filter(offer=offer).order_by("pk"))
    assert len(orders) == 2
    assert len({order.transaction_id for order in orders}) == 2
    assert all(order.quoted_price == live and order.max_unit_price == live for order in orders)
    assert all(order.customer_reference == "T-1001" for order in orders)
    assert response.status_code == 302
    assert response.url == f"{reverse('orders:order_list')}?ids={orders[0].pk},{orders[1].pk}"
    listed = client.get(response.url)
    assert [row.pk for row in listed.context["page"]] == [orders[1].pk, orders[0].pk]
    assert b"2 orders placed" in listed.content


def test_one_order_redirects_to_its_page(client_as, account, sandbox_offer):
    offer = sandbox_offer(account, kind="key")
    response = order_post(client_as("operator"), offer)
    order = Order.objects.get(offer=offer)
    assert response.status_code == 302 and response.url == order.get_absolute_url()


def test_the_same_form_sent_twice_places_its_orders_once(client_as, account, sandbox_offer):
    """A double click or the browser sending the form again: the form's one-time key is seen
    again, and the operator is shown the orders the first sending placed."""
    offer = sandbox_offer(account, kind="key", skip=2)
    client = client_as("operator")
    page = form_page(client, offer).content.decode()
    key = re.search(r'name="request_key" value="([0-9a-f]{32})"', page).group(1)
    assert key not in form_page(client, offer).content.decode()  # a new key per form shown

    first = order_post(client, offer, quantity=2, request_key=key)
    again = order_post(client, offer, quantity=2, request_key=key)
    orders = list(Order.objects.filter(offer=offer).order_by("pk"))
    assert len(orders) == 2
    assert again.status_code == 302 and again.url == first.url
    shown = client.get(again.url).content.decode()
    assert "This order form was sent already: its orders were placed once." in shown

    # A form refused for a reason keeps its key, and the corrected one places the orders.
    key = re.search(
        r'name="request_key" value="([0-9a-f]{32})"', form_page(client, offer).content.decode()
    ).group(1)
    refused = order_post(client, offer, request_key=key, max_unit_price=offer.price / 2)
    assert refused.status_code == 200 and f'value="{key}"' in refused.content.decode()
    assert order_post(client, offer, request_key=key).status_code == 302
    assert Order.objects.filter(offer=offer).count() == 3


def test_a_price_above_the_operators_limit_is_refused(client_as, account, sandbox_offer):
    offer = sandbox_offer(account, kind="key")
    response = order_post(
        client_as("operator"), offer, max_unit_price=offer.price - Decimal("0.01")
    )
    assert response.status_code == 200
    assert "above the highest price you accept" in " ".join(
        response.context["form"].non_field_errors()
    )
    assert not Order.objects.filter(offer=offer).exists()


def test_no_live_price_no_order(client_as, account, sandbox_offer, fault):
    offer = sandbox_offer(account, kind="key")
    fault(account, endpoint="find-one", kind="http_503", count=20)
    client = client_as("operator")
    page = form_page(client, offer)
    assert page.status_code == 200
    assert b'data-testid="live-price-error"' in page.content
    assert b"SERVICE_UNAVAILABLE" in page.content
    assert re.search(rb"<button[^>]*disabled[^>]*>Place order", page.content)

    response = order_post(client, offer)
    assert response.status_code == 200
    assert "No live price" in " ".join(response.context["form"].non_field_errors())
    assert not Order.objects.filter(offer=offer).exists()


def test_a_top_up_needs_the_player_id_and_an_invalid_player_is_refused(
    client_as, account, sandbox_offer
):
    offer = sandbox_offer(account, kind="topup", req_server="false")
    client = client_as("operator")
    assert b"Check player" in form_page(client, offer).content

    missing = order_post(client, offer)
    assert missing.status_code == 200
    assert "game_user_id" in missing.context["form"].errors

    invalid = client.post(
        reverse("orders:order_create"),
        {"offer": offer.pk, "action": "check_player", "game_user_id": "not-a-player"},
        **htmx("player-check"),
    )
    assert invalid.status_code == 200 and b"<html" not in invalid.content
    assert b"INVALID" in invalid.content and b"check-bad" in invalid.content

    refused = order_post(client, offer, game_user_id="not-a-player")
    assert "INVALID" in " ".join(refused.context["form"].errors["game_user_id"])
    assert not Order.objects.filter(offer=offer).exists()

    valid = client.post(
        reverse("orders:order_create"),
        {"offer": offer.pk, "action": "check_player", "game_user_id": "51234567"},
        **htmx("player-check"),
    )
    assert b"VALID" in valid.content and b"check-ok" in valid.content
    login = re.search(rb"player <strong>([^<]+)</strong>", valid.content).group(1)
    assert login and login != b"51234567"

    placed = order_post(client, offer, game_user_id="51234567")
    assert placed.status_code == 302
    assert Order.objects.get(offer=offer).game_user_id == "51234567"


def test_a_top_up_with_servers_offers_the_supplier_s_server_list(client_as, account, sandbox_offer):
    offer = sandbox_offer(account, kind="topup", req_server="true")
    client = client_as("operator")
    page = form_page(client, offer)
    choices = dict(page.context["form"].fields["game_server_id"].choices)
    servers = {value for value in choices if value}
    assert servers
    server = sorted(servers)[0]

    no_server = order_post(client, offer, game_user_id="51234567")
    assert "game_server_id" in no_server.context["form"].errors
    unknown = order_post(client, offer, game_user_id="51234567", game_server_id="moon")
    assert "game_server_id" in unknown.context["form"].errors

    checked = client.post(
        reverse("orders:order_create"),
        {
            "offer": offer.pk,
            "action": "check_player",
            "game_user_id": "51234567",
            "game_server_id": server,
        },
        **htmx("player-check"),
    )
    assert b"check-ok" in checked.content
    placed = order_post(client, offer, game_user_id="51234567", game_server_id=server)
    assert placed.status_code == 302
    assert Order.objects.get(offer=offer).game_server_id == server


def test_telegram_stars_resolve_the_username_or_ask_for_the_bot(client_as, account, sandbox_offer):
    offer = sandbox_offer(account, kind="stars")
    client = client_as("operator")
    page = form_page(client, offer)
    assert b"Telegram @username" in page.content and b"Check player" not in page.content

    unknown = client.post(
        reverse("orders:order_create"),
        {"offer": offer.pk, "action": "resolve_telegram", "telegram_username": "@nobody_here_77"},
        **htmx("telegram-check"),
    )
    assert b"@gamesdrop_api_bot" in unknown.content and b"message" in unknown.content

    refused = order_post(client, offer, telegram_username="@nobody_here_77")
    errors = " ".join(refused.context["form"].errors["telegram_username"])
    assert "Ask the user to message @gamesdrop_api_bot first" in errors
    assert not Order.objects.filter(offer=offer).exists()

    known = client.post(
        reverse("orders:order_create"),
        {"offer": offer.pk, "action": "resolve_telegram", "telegram_username": "@igoryan34"},
        **htmx("telegram-check"),
    )
    assert b"143594291" in known.content

    placed = order_post(client, offer, telegram_username="@igoryan34")
    assert placed.status_code == 302
    order = Order.objects.get(offer=offer)
    assert order.game_user_id == "143594291" and order.telegram_username == "@igoryan34"


@pytest.mark.parametrize(
    "field, value",
    [
        ("quantity", "abc"),
        ("quantity", "0"),
        ("quantity", "101"),
        ("max_unit_price", "-1"),
        ("max_unit_price", "0"),
        ("max_unit_price", "1e100"),
        ("max_unit_price", "NaN"),
        ("email", "not-an-email"),
        ("customer_reference", "x" * 121),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(client_as, offline_offer, field, value):
    # Field validation comes before any supplier call: the offline offer is enough.
    response = order_post(client_as("operator"), offline_offer, **{field: value})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Order.objects.exists()


def test_an_unknown_offer_is_a_404(client_as):
    client = client_as("operator")
    assert client.get(reverse("orders:order_create"), {"offer": "999999"}).status_code == 404
    assert client.get(reverse("orders:order_create"), {"offer": "x"}).status_code == 404


def test_finance_reads_orders_but_cannot_place_them_or_act(client_as, offline_offer):
    order = make_order(offline_offer)
    client = client_as("finance")
    assert client.get(reverse("orders:order_list")).status_code == 200
    assert client.get(order.get_absolute_url()).status_code == 200
    assert client.get(reverse("orders:order_create")).status_code == 403
    posted = client.post(
        reverse("orders:order_create"),
        {"offer": offline_offer.pk, "quantity": 1, "max_unit_price": "10"},
    )
    assert posted.status_code == 403
    action = reverse("orders:order_action", kwargs={"order_pk": order.pk, "action": "withdraw"})
    assert client.post(action).status_code == 403
    order.refresh_from_db()
    assert order.status == S.QUEUED and Order.objects.count() == 1


# --- the order list and its CSV -----------------------------------------------------------------


@pytest.fixture
def orders(offline_offer):
    queued = make_order(offline_offer, customer_reference="REF-queued")
    done = make_order(offline_offer, status=S.COMPLETED, customer_reference="REF-done")
    Order.objects.filter(pk=done.pk).update(supplier_order_id=987654)
    attention = make_order(offline_offer, status=S.NEEDS_ATTENTION, customer_reference="REF-att")
    return {"queued": queued, "done": done, "attention": attention}


def listed(response) -> set[int]:
    return {order.pk for order in response.context["page"]}


def test_the_list_filters_and_searches(client_as, orders):
    client = client_as("operator")
    url = reverse("orders:order_list")
    everything = client.get(url)
    assert everything.status_code == 200 and listed(everything) == {o.pk for o in orders.values()}
    assert b'class="pill s-completed"' in everything.content

    assert listed(client.get(url, {"status": "COMPLETED"})) == {orders["done"].pk}
    both = client.get(url, {"status": ["COMPLETED", "QUEUED"]})
    assert listed(both) == {orders["done"].pk, orders["queued"].pk}
    assert listed(client.get(url, {"attention": "on"})) == {orders["attention"].pk}
    assert listed(client.get(url, {"stage": "final"})) == {orders["done"].pk}
    assert listed(client.get(url, {"reference": "ref-done"})) == {orders["done"].pk}
    assert listed(client.get(url, {"offer": "4242"})) == {o.pk for o in orders.values()}
    assert listed(client.get(url, {"offer": "1"})) == set()
    today = timezone.localdate().isoformat()
    assert len(listed(client.get(url, {"created_from": today, "created_to": today}))) == 3
    assert (
        listed(client.get(url, {"created_from": "2001-01-01", "created_to": "2001-01-02"})) == set()
    )

    # One search box: transaction id, supplier order id, customer reference.
    tid = orders["queued"].transaction_id
    assert listed(client.get(url, {"q": tid[-12:]})) == {orders["queued"].pk}
    assert listed(client.get(url, {"q": "987654"})) == {orders["done"].pk}
    assert listed(client.get(url, {"q": "REF-at"})) == {orders["attention"].pk}

    oldest = client.get(url, {"sort": "created"})
    assert [o.pk for o in oldest.context["page"]][0] == orders["queued"].pk

    junk = client.get(url, {"batch": "x", "created_from": "yesterday"})
    assert junk.status_code == 200 and b"not understood" in junk.content


def test_the_results_are_an_htmx_partial_that_polls_only_while_orders_move(client_as, orders):
    client = client_as("operator")
    url = reverse("orders:order_list")
    # A queued order scheduled to be sent is about to move: the results re-poll.
    partial = client.get(url, {"status": "QUEUED", "q": ""}, **htmx("results"))
    assert b"<html" not in partial.content and b'id="results"' in partial.content
    assert b'hx-trigger="every 3s"' in partial.content
    assert partial["HX-Push-Url"] == f"{url}?status=QUEUED"  # empty values left out

    poll = client.get(url, {"status": "QUEUED"}, **htmx("results", trigger="results"))
    assert poll.status_code == 200 and "HX-Push-Url" not in poll

    settled = client.get(url, {"status": "COMPLETED"}, **htmx("results"))
    assert b"every 3s" not in settled.content


def test_the_csv_has_no_keys_and_neutralises_formulas(client_as, orders):
    done = orders["done"]
    OrderKey.objects.create(order=done, unit_index=0, secret="SECRET-KEY-ABCD-1234")
    Order.objects.filter(pk=done.pk).update(customer_reference='=HYPERLINK("http://x","y")')
    response = client_as("operator").get(reverse("orders:order_export"), {"status": "COMPLETED"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    assert "SECRET-KEY" not in body and "key" not in body.splitlines()[0].lower().split(",")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert [int(row["order_id"]) for row in rows] == [done.pk]
    assert rows[0]["customer_reference"].startswith("'=HYPERLINK")
    assert rows[0]["transaction_id"] == done.transaction_id


def test_a_held_queue_shows_a_banner_with_resume(client_as, offline_offer):
    held = make_order(offline_offer, status=S.ON_HOLD)
    AccountQueue.objects.create(
        account=offline_offer.account,
        on_hold=True,
        hold_reason="INSUFFICIENT_BALANCE on create-order.",
        held_since=timezone.now(),
    )
    resume = reverse("orders:account_queue_resume", kwargs={"account_pk": offline_offer.account_id})

    finance = client_as("finance")
    page = finance.get(reverse("orders:order_list"))
    assert (
        b'data-testid="queue-on-hold"' in page.content and b"INSUFFICIENT_BALANCE" in page.content
    )
    assert resume.encode() not in page.content
    assert finance.post(resume).status_code == 403

    operator = client_as("operator")
    assert resume.encode() in operator.get(reverse("orders:order_list")).content
    response = operator.post(resume)
    assert response.status_code == 302
    assert not AccountQueue.objects.get(account=offline_offer.account).on_hold
    held.refresh_from_db()
    assert held.status == S.QUEUED
    assert AuditEvent.objects.filter(action="order_queue.resumed").exists()


def test_the_dashboard_counts_orders_and_links_to_the_lists(client_as, orders):
    page = client_as("finance").get(reverse("dashboard:dashboard"))
    assert page.context["order_counts"]["needs_attention"] == 1
    assert b"?attention=on" in page.content and b"?stage=in_flight" in page.content
    nav = [item["label"] for item in page.context["nav_items"]]
    assert "Orders" in nav and "Place order" not in nav


# --- one order: detail, actions, key vault ------------------------------------------------------


@pytest.fixture
def completed(offline_offer):
    order = make_order(offline_offer, status=S.COMPLETED, email="buyer@example.com")
    OrderKey.objects.create(order=order, unit_index=0, secret="KEY-AAAA-BBBB-CCCC")
    return order


def test_the_detail_shows_masked_keys_history_and_transaction_ids(client_as, completed):
    page = client_as("operator").get(completed.get_absolute_url())
    assert page.status_code == 200
    assert "••••CCCC".encode() in page.content
    assert b"KEY-AAAA-BBBB-CCCC" not in page.content
    assert completed.transaction_id.encode() in page.content
    assert b'data-testid="order-events"' in page.content and b"created" in page.content
    assert b">Reveal</button>" in page.content
    actions = [name for name, _ in page.context["actions"]]
    assert actions == ["resend"]  # final: no "Re-check status"
    assert b"Re-check status" not in page.content
    assert b"every 2s" not in page.content  # a final order does not poll


def test_the_status_block_refreshes_itself_while_in_flight(client_as, offline_offer):
    order = make_order(offline_offer, status=S.SUBMITTED)
    client = client_as("operator")
    page = client.get(order.get_absolute_url())
    assert b'hx-trigger="every 2s"' in page.content
    partial = client.get(order.get_absolute_url(), **htmx("order-live"))
    assert b"<html" not in partial.content and b'id="order-live"' in partial.content


def test_reveal_shows_the_keys_once_and_is_audited(client_as, completed):
    url = reverse("orders:order_key_reveal", kwargs={"order_pk": completed.pk})
    client = client_as("operator")
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 200
    assert b"KEY-AAAA-BBBB-CCCC" in response.content
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    event = audited("order.key_revealed", completed)[0]
    assert event.data == {"units": 1} and "KEY-AAAA" not in str(event.data)

    partial = client.post(url, **htmx("keys"))
    assert b"<html" not in partial.content and b"KEY-AAAA-BBBB-CCCC" in partial.content
    assert len(audited("order.key_revealed", completed)) == 2
    # The page itself still shows only the masked key.
    assert b"KEY-AAAA-BBBB-CCCC" not in client.get(completed.get_absolute_url()).content


def test_reveal_without_the_permission_is_refused_and_audited(client_as, completed):
    url = reverse("orders:order_key_reveal", kwargs={"order_pk": completed.pk})
    client = client_as("finance")
    page = client.get(completed.get_absolute_url())
    assert b">Reveal</button>" not in page.content

    response = client.post(url)
    assert response.status_code == 403
    assert b"You are not allowed to reveal keys" in response.content
    assert b"KEY-AAAA-BBBB-CCCC" not in response.content
    assert len(audited("order.key_reveal_denied", completed)) == 1

    partial = client.post(url, **htmx("keys"))
    assert b"not allowed" in partial.content and b"KEY-AAAA" not in partial.content
    assert len(audited("order.key_reveal_denied", completed)) == 2
    assert not audited("order.key_revealed", completed)


def test_the_action_endpoint_follows_the_whitelist(client_as, offline_offer):
    order = make_order(offline_offer)
    client = client_as("operator")

    def act(action, **data):
        return client.post(
            reverse("orders:order_action", kwargs={"order_pk": order.pk, "action": action}), data
        )

    assert act("delete").status_code == 404
    assert act("order_key_reveal").status_code == 404
    get = client.get(
        reverse("orders:order_action", kwargs={"order_pk": order.pk, "action": "retry"})
    )
    assert get.status_code == 405

    # An action that does not apply is a message, not an error page.
    refused = act("retry")
    assert refused.status_code == 302 and refused.url == order.get_absolute_url()
    page = client.get(order.get_absolute_url())
    assert b"Only a rejected order can be retried." in page.content

    assert act("withdraw", reason="customer cancelled").status_code == 302
    order.refresh_from_db()
    assert order.status == S.WITHDRAWN
    assert audited("order.withdrawn", order)[0].data == {"reason": "customer cancelled"}


def test_mark_resolved_needs_a_comment(client_as, offline_offer):
    order = make_order(offline_offer, status=S.NEEDS_ATTENTION)
    client = client_as("operator")
    url = reverse("orders:order_action", kwargs={"order_pk": order.pk, "action": "mark_resolved"})
    page = client.get(order.get_absolute_url())
    assert b'name="comment"' in page.content

    client.post(url, {"comment": "  "})
    order.refresh_from_db()
    assert order.status == S.NEEDS_ATTENTION
    assert b"Say how it was resolved." in client.get(order.get_absolute_url()).content

    client.post(url, {"comment": "Supplier refunded by hand."})
    order.refresh_from_db()
    assert order.status == S.RESOLVED
    assert order.events.last().reason == "Supplier refunded by hand."


def test_resend_emails_the_customer_again(client_as, completed, mailoutbox):
    client = client_as("operator")
    url = reverse("orders:order_action", kwargs={"order_pk": completed.pk, "action": "resend"})
    client.post(url)
    client.post(url)
    completed.refresh_from_db()
    assert len(mailoutbox) == 2 and completed.delivery_count == 2
    assert mailoutbox[0].to == ["buyer@example.com"]
    assert len(audited("order.delivery_resent", completed)) == 2


def test_an_offer_s_orders_are_a_page_and_the_catalog_s_offer_page_loads_them(
    client_as, offline_offer
):
    placed = order_create(
        offer=offline_offer, max_unit_price=Decimal("10"), customer_reference="REF-77"
    )
    client = client_as("operator")
    url = reverse("orders:offer_orders", args=[offline_offer.pk])
    page = client.get(url).content.decode()
    assert "REF-77" in page and "<html" in page.lower() and placed[0].transaction_id in page
    section = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "REF-77" in section and "<html" not in section.lower()
    offer_page = client.get(
        reverse("catalog:offer_detail", args=[offline_offer.pk])
    ).content.decode()
    assert f'hx-get="{url}"' in offer_page and f'href="{url}"' in offer_page


# --- cards and actions only where they apply ----------------------------------------------------


@pytest.mark.parametrize(
    ("product", "returns_key", "requires_user_id", "card"),
    [
        ("Steam Wallet US", True, False, "Keys"),
        ("Telegram Stars", True, True, None),  # delivered as fulfillment data, never keys
        ("PUBG Mobile", False, True, None),  # a top-up credits the player
    ],
)
@pytest.mark.parametrize("status", [S.ON_HOLD, S.QUEUED, S.PROCESSING])
def test_the_keys_card_shows_only_for_products_delivered_as_keys(
    client_as, offline_offer, product, returns_key, requires_user_id, card, status
):
    offline_offer.product_name = product
    offline_offer.telegram_kind = "stars" if product == "Telegram Stars" else ""
    offline_offer.returns_key = returns_key
    offline_offer.requires_user_id = requires_user_id
    offline_offer.save()
    order = make_order(offline_offer, status=status, game_user_id="143594291")
    html = client_as("operator").get(order.get_absolute_url()).content.decode()
    if card is None:
        assert 'id="keys"' not in html and "<h2>Keys</h2>" not in html
    else:
        assert "<h2>Keys</h2>" in html and "Keys are stored, encrypted, when the order" in html


def test_a_stars_order_shows_its_delivery_data_once_completed(client_as, offline_offer):
    offline_offer.product_name, offline_offer.returns_key = "Telegram Stars", True
    offline_offer.telegram_kind = "stars"
    offline_offer.save()
    order = make_order(offline_offer, status=S.COMPLETED, game_user_id="143594291")
    Order.objects.filter(pk=order.pk).update(fulfillment_data={"telegram_user_id": 143594291})
    html = client_as("operator").get(order.get_absolute_url()).content.decode()
    assert "<h2>Delivery data</h2>" in html and "143594291" in html
    assert "<h2>Keys</h2>" not in html


@pytest.mark.parametrize("status", sorted(S.values))
def test_re_check_is_offered_only_while_the_supplier_may_still_change_the_order(
    client_as, offline_offer, status
):
    from orders.states import FINAL_STATUSES, POLLED_STATUSES

    order = make_order(offline_offer, status=status)
    page = client_as("operator").get(order.get_absolute_url())
    actions = [name for name, _ in page.context["actions"]]
    assert ("recheck" in actions) == (status in POLLED_STATUSES)
    if status in FINAL_STATUSES:
        assert b"Re-check status" not in page.content
