from decimal import Decimal as D

import pytest

from catalog.models import PricingRule
from catalog.pricing import RuleBook, round_price

Scope, Rounding = PricingRule.Scope, PricingRule.Rounding


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [
        ("10.00", "none", "10.00"),
        ("10.005", "none", "10.01"),
        ("10.001", "up_99", "10.99"),
        ("10.99", "up_99", "10.99"),
        ("10.991", "up_99", "11.99"),
        ("0.50", "up_99", "0.99"),
        ("10.96", "up_95", "11.95"),
        ("10.95", "up_95", "10.95"),
        ("10.01", "up_whole", "11.00"),
        ("10.00", "up_whole", "10.00"),
        ("10.01", "up_0_10", "10.10"),
        ("10.10", "up_0_10", "10.10"),
    ],
)
def test_rounding_goes_up_to_the_shelf_price(value, rounding, expected):
    assert round_price(D(value), rounding) == D(expected)


def rule(scope, target="", percent="0", fixed="0", usd=False, rounding=Rounding.NONE):
    return PricingRule(
        scope=scope,
        target=target,
        markup_percent=D(percent),
        markup_fixed=D(fixed),
        fixed_in_usd=usd,
        rounding=rounding,
    )


BOOK = RuleBook(
    [
        rule(Scope.DEFAULT, percent="5"),
        rule(Scope.CATEGORY, "Gift Cards", percent="8"),
        rule(Scope.PRODUCT, "77", percent="10", rounding=Rounding.UP_99),
        rule(Scope.OFFER, "1001", fixed="2.50"),
        rule(Scope.OFFER, "1002", percent="3", fixed="1", usd=True),
    ],
    {"USD": D("1"), "RUB": D("0.011")},
)


def price(offer_id, product_id=5, category="Top Up", cost="100.00", currency="USD"):
    return BOOK.price(
        cost=D(cost), currency=currency, offer_id=offer_id, product_id=product_id, category=category
    )


def test_the_most_specific_rule_wins():
    assert price(1001, product_id=77, category="Gift Cards").retail == D("102.50")  # offer
    assert price(5, product_id=77, category="Gift Cards").retail == D("110.99")  # product
    assert price(5, category="Gift Cards").retail == D("108.00")  # category
    assert price(5).retail == D("105.00")  # default


def test_margin_and_margin_percent():
    p = price(5, product_id=77)
    assert p.margin == D("10.99") and p.margin_percent == D("9.9")


def test_a_fixed_usd_markup_is_converted_into_the_offer_currency():
    # 1 USD = 1/0.011 RUB = 90.909... RUB; 1000 RUB * 1.03 + 90.909 = 1120.91
    assert price(1002, cost="1000.00", currency="RUB").retail == D("1120.91")


def test_an_unknown_rate_is_reported_not_guessed():
    p = price(1002, cost="5000", currency="KZT")
    assert p.retail is None and "no USD rate for KZT" in p.problem


def test_without_rules_retail_is_cost():
    p = RuleBook([], {}).price(
        cost=D("9.99"), currency="EUR", offer_id=1, product_id=1, category=""
    )
    assert p.retail == D("9.99") and p.rule is None and p.margin == 0
