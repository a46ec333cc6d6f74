"""The one routing function: which route an order for a product takes, and why others wait."""

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from catalog.routing import CHEAPEST, PREFERENCE, RouteFacts, route_best, routes_ranked


def route(route_id, *, position=None, price="1.00", currency="USD", rate="1", **more):
    return RouteFacts(
        route_id=route_id,
        offer_pk=route_id,
        offer_label=f"offer {route_id}",
        account_id=route_id,
        account_name=f"account {route_id}",
        position=route_id if position is None else position,
        unit_price=Decimal(price),
        currency=currency,
        units=more.pop("units", 1),
        usd_rate=None if rate is None else Decimal(rate),
        in_stock=more.pop("in_stock", True),
        delisted=more.pop("delisted", False),
        compatible=more.pop("compatible", True),
        **more,
    )


def test_cheapest_compares_in_usd_at_the_rate():
    # 90 RUB at 0.0105 = 0.95 USD beats 1.00 USD, though listed second.
    usd = route(1, price="1.00")
    rub = route(2, price="90", currency="RUB", rate="0.0105")
    ranked = routes_ranked([usd, rub], policy=CHEAPEST, retail_price=Decimal("1.50"))
    assert [choice.facts.route_id for choice in ranked] == [2, 1]
    assert ranked[0].usd_cost == Decimal("0.95") and ranked[0].margin == Decimal("0.55")


def test_bundle_cost_is_units_times_the_unit_price():
    choice = route_best([route(1, price="0.333", units=3)], policy=CHEAPEST)
    assert choice is not None and choice.usd_cost == Decimal("0.99")


def test_preference_keeps_the_admins_order():
    ranked = routes_ranked(
        [route(1, position=2, price="0.5"), route(2, position=1, price="9")],
        policy=PREFERENCE,
        retail_price=None,
    )
    assert [choice.facts.route_id for choice in ranked] == [2, 1]
    assert ranked[0].margin is None


def test_each_skip_has_its_reason():
    cases = {
        "Out of stock.": route(1, in_stock=False),
        "The offer is delisted.": route(2, delisted=True),
        "The offer's settlement is incompatible with the account's balance.": route(
            3, compatible=False
        ),
        "The account's order queue is on hold (balance).": route(4, queue_on_hold=True),
        "The supplier is failing (most answers lost in the last minutes).": route(
            5, supplier_failing=True
        ),
        "Already tried for this order.": route(6, already_tried=True),
        "The supplier account is disabled.": route(7, account_enabled=False),
        "No exchange rate for XYZ: its cost cannot be compared.": route(
            8, currency="XYZ", rate=None
        ),
    }
    ranked = routes_ranked(cases.values(), policy=CHEAPEST, retail_price=None)
    assert {choice.skip_reason: choice.facts for choice in ranked} == cases
    assert route_best(cases.values(), policy=CHEAPEST) is None


def test_unknown_compatibility_and_missing_rate_under_preference_do_not_skip():
    best = route_best([route(1, compatible=None, rate=None, currency="XYZ")], policy=PREFERENCE)
    assert best is not None and best.usd_cost is None


def test_a_usable_route_always_comes_before_a_skipped_one():
    cheap_but_out = route(1, price="0.10", in_stock=False)
    dear = route(2, price="5")
    assert route_best([cheap_but_out, dear], policy=CHEAPEST).facts == dear


facts = st.builds(
    lambda n, price, stock, hold, position: route(
        n, price=str(price), in_stock=stock, queue_on_hold=hold, position=position
    ),
    n=st.integers(1, 10_000),
    price=st.decimals(min_value="0.01", max_value="100", places=2),
    stock=st.booleans(),
    hold=st.booleans(),
    position=st.integers(1, 5),
)


@given(st.lists(facts, max_size=6, unique_by=lambda f: f.route_id))
def test_best_is_the_cheapest_usable(routes):
    best = route_best(routes, policy=CHEAPEST)
    usable = [r for r in routes if r.in_stock and not r.queue_on_hold]
    if not usable:
        assert best is None
        return
    assert best is not None and best.facts in usable
    assert best.usd_cost == min(r.unit_price for r in usable)
    # Taking the chosen route out gives the next one, never a skipped one.
    rest = [replace(r, already_tried=r == best.facts) for r in routes]
    following = route_best(rest, policy=CHEAPEST)
    assert following is None or following.facts in usable and following.facts != best.facts
