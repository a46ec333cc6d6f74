"""Retail prices: the supplier's cost plus the most specific markup rule, rounded for the shelf.

A rule adds a percentage and/or a fixed amount (in the offer's currency, or in USD converted at the
staff-maintained CurrencyRate). The most specific rule wins: offer, then product, then category,
then the account-wide default. Without any rule the retail price is the cost (and the page says
so). Rounding always goes up, so a rounded price never cuts into the margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from catalog.models import PricingRule
from catalog.selectors import currency_rates_at

CENT = Decimal("0.01")
ONE = Decimal("1")
HUNDRED = Decimal("100")
Scope = PricingRule.Scope
Rounding = PricingRule.Rounding


@dataclass(frozen=True, slots=True)
class RetailPrice:
    cost: Decimal
    retail: Decimal | None
    currency: str
    rule: PricingRule | None
    problem: str = ""

    @property
    def margin(self) -> Decimal | None:
        return None if self.retail is None else self.retail - self.cost

    @property
    def margin_percent(self) -> Decimal | None:
        if self.retail is None or not self.retail:
            return None
        return ((self.retail - self.cost) * HUNDRED / self.retail).quantize(
            Decimal("0.1"), ROUND_HALF_UP
        )


def usd_cost(unit_price: Decimal, units: int, usd_per_unit: Decimal) -> Decimal:
    """What an order costs in USD at a rate: the supplier converts the unit price and rounds it
    to the cent, per unit (docs/supplier-contract.md), then multiplies by the units."""
    return (unit_price * usd_per_unit).quantize(CENT, ROUND_HALF_UP) * units


def round_price(value: Decimal, rounding: str) -> Decimal:
    if rounding == Rounding.UP_WHOLE:
        return value.quantize(ONE, ROUND_CEILING).quantize(CENT)
    if rounding == Rounding.UP_TEN_CENTS:
        return (value * 10).quantize(ONE, ROUND_CEILING) / 10
    if rounding in (Rounding.UP_99, Rounding.UP_95):
        ending = Decimal("0.99") if rounding == Rounding.UP_99 else Decimal("0.95")
        # The smallest price ending in .99 (or .95) that is not below the value.
        whole = (value - ending).quantize(ONE, ROUND_CEILING)
        return (whole + ending).quantize(CENT)
    return value.quantize(CENT, ROUND_HALF_UP)


class RuleBook:
    """An account's rules and currency rates, loaded once, applied to any number of offers."""

    def __init__(self, rules, usd_rates: dict[str, Decimal]):
        self._rules = {(rule.scope, rule.target): rule for rule in rules}
        self._usd_rates = usd_rates

    @classmethod
    def for_account(cls, account) -> RuleBook:
        return cls(PricingRule.objects.filter(account=account), currency_rates_at())

    def rule_for(self, *, offer_id, product_id, category) -> PricingRule | None:
        for key in (
            (Scope.OFFER, str(offer_id)),
            (Scope.PRODUCT, str(product_id) if product_id is not None else None),
            (Scope.CATEGORY, category or None),
            (Scope.DEFAULT, ""),
        ):
            if key[1] is not None and key in self._rules:
                return self._rules[key]
        return None

    def price(self, *, cost: Decimal, currency: str, offer_id, product_id, category) -> RetailPrice:
        rule = self.rule_for(offer_id=offer_id, product_id=product_id, category=category)
        if rule is None:
            return RetailPrice(cost, round_price(cost, Rounding.NONE), currency, None)
        fixed = rule.markup_fixed
        if rule.fixed_in_usd and fixed:
            rate = self._usd_rates.get(currency)
            if not rate:
                return RetailPrice(
                    cost,
                    None,
                    currency,
                    rule,
                    f"no USD rate for {currency}: add one to price this offer",
                )
            fixed = fixed / rate
        raw = cost * (ONE + rule.markup_percent / HUNDRED) + fixed
        return RetailPrice(cost, round_price(raw, rule.rounding), currency, rule)

    def price_offer(self, offer) -> RetailPrice:
        return self.price(
            cost=offer.price,
            currency=offer.currency,
            offer_id=offer.offer_id,
            product_id=offer.product_id,
            category=offer.category,
        )

    def usd_value(self, amount: Decimal, currency: str) -> Decimal | None:
        rate = self._usd_rates.get(currency)
        return None if rate is None else (amount * rate).quantize(CENT, ROUND_HALF_UP)
