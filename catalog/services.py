"""Writes of the catalog: refreshing an offer from find-one, pricing rules, rates, banners."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from catalog import rows as checks
from catalog.models import CurrencyRate, Offer, PriceHistory, PricingRule, ProfileChange
from catalog.selectors import filter_choices_cache_key
from reseller.core.errors import ApplicationError
from reseller.core.services import audit_record
from suppliers.clients import OfferNotFound, SupplierError
from suppliers.ratelimit import RateLimitSaturated
from suppliers.services import supplier_client


class OfferRefreshFailed(ApplicationError):
    pass


def offer_refresh_price(*, offer: Offer, by=None) -> Offer:
    """Ask the supplier (find-one) for the offer's live price and details, and record them.

    find-one is also the only source of an offer's settlement method, whether it returns a key,
    and its unit count; the sync feed carries none of them.
    """
    try:
        live = supplier_client(offer.account, max_retries=1, waiting=True).find_one(offer.offer_id)
    except OfferNotFound:
        raise OfferRefreshFailed(
            "The supplier no longer offers this to the account (not found, or hidden by the "
            "account's balance profile)."
        ) from None
    except SupplierError as error:
        raise OfferRefreshFailed(f"The supplier did not answer usefully: {error}") from None
    except RateLimitSaturated as error:
        raise OfferRefreshFailed(error.page_text) from None
    problem = checks.price_problem(live.price) or checks.currency_problem(live.currency)
    if problem:
        raise OfferRefreshFailed(
            f"The supplier answered a price the catalog cannot keep: {problem}."
        )
    now = timezone.now()
    with transaction.atomic():
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        currency_before = offer.currency
        if live.price != offer.price or (live.currency or offer.currency) != offer.currency:
            PriceHistory.objects.create(
                offer=offer,
                price=live.price,
                currency=live.currency or offer.currency,
                recorded_at=now,
                source="find-one",
            )
            offer.previous_price, offer.price_changed_at = offer.price, now
            offer.price = live.price
            offer.currency = live.currency or offer.currency
        method = checks.known_settlement_method(live.settlement_method)
        offer.settlement_method = method or offer.settlement_method
        offer.returns_key = live.returns_key
        offer.units = checks.known_units(live.count)
        offer.required_fields = list(live.required_fields)
        if live.requires_game_user_id or "gameUserId" in live.required_fields:
            offer.requires_user_id = True
        if live.requires_game_server_id or "gameServerId" in live.required_fields:
            offer.requires_server_id = True
        offer.detail_checked_at = now
        offer.save()
    if offer.currency != currency_before:
        # The browser's currency filter offers the currencies of the listed offers.
        cache.delete(filter_choices_cache_key(offer.account))
    return offer


@transaction.atomic
def pricing_rule_save(*, rule: PricingRule, by=None, request=None) -> PricingRule:
    created = rule.pk is None
    rule.full_clean()
    rule.save()
    audit_record(
        action="pricing_rule.created" if created else "pricing_rule.updated",
        actor=by,
        request=request,
        target=rule,
        data={
            "scope": rule.scope,
            "target": rule.target,
            "percent": str(rule.markup_percent),
            "fixed": str(rule.markup_fixed),
            "fixed_in_usd": rule.fixed_in_usd,
            "rounding": rule.rounding,
        },
    )
    return rule


@transaction.atomic
def pricing_rule_delete(*, rule: PricingRule, by=None, request=None) -> None:
    audit_record(
        action="pricing_rule.deleted",
        actor=by,
        request=request,
        target=rule,
        data={"scope": rule.scope, "target": rule.target},
    )
    rule.delete()


@transaction.atomic
def currency_rate_save(
    *, currency: str, usd_per_unit, valid_from=None, by=None, request=None
) -> CurrencyRate:
    """Add a rate to the currency's history, valid from `valid_from` (now by default) until its
    next one. Earlier rates stay as they were: the orders and periods they priced keep them."""
    if usd_per_unit <= 0:
        raise ApplicationError("A rate must be positive.")
    currency = currency.upper()
    valid_from = valid_from or timezone.now()
    if CurrencyRate.objects.filter(currency=currency, valid_from=valid_from).exists():
        raise ApplicationError(
            f"A {currency} rate valid from that moment exists already: choose another moment."
        )
    rate = CurrencyRate.objects.create(
        currency=currency, usd_per_unit=usd_per_unit, valid_from=valid_from
    )
    audit_record(
        action="currency_rate.saved",
        actor=by,
        request=request,
        target=rate,
        data={"usd_per_unit": str(usd_per_unit), "valid_from": valid_from.isoformat()},
    )
    return rate


def profile_change_dismiss(*, change: ProfileChange, by=None, request=None) -> None:
    ProfileChange.objects.filter(pk=change.pk).update(dismissed_at=timezone.now())
    audit_record(action="profile_change.dismissed", actor=by, request=request, target=change)
