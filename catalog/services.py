"""Writes of the catalog: refreshing an offer from find-one, pricing rules, rates, banners."""

from __future__ import annotations

from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from catalog import rows as checks
from catalog.models import CurrencyRate, Offer, PriceHistory, PricingRule, ProfileChange
from catalog.selectors import currency_rate_at, filter_choices_cache_key
from reseller.core.errors import ApplicationError
from reseller.core.services import audit_record
from suppliers.capabilities import capabilities_of
from suppliers.clients import Offer as LiveOffer
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
        if not capabilities_of(offer.account).catalog_feed:
            # No feed will ever delist it: find-one is the only word on whether it still exists.
            Offer.objects.filter(pk=offer.pk, delisted_at__isnull=True).update(
                delisted_at=timezone.now(), in_stock=False
            )
            raise OfferRefreshFailed(
                "The supplier no longer knows this offer (OFFER_NOT_FOUND): it is marked delisted."
            ) from None
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
        offer_apply_live(offer, live, now=now, source="find-one")
        offer.save()
    if offer.currency != currency_before:
        # The browser's currency filter offers the currencies of the listed offers.
        cache.delete(filter_choices_cache_key(offer.account))
    return offer


def offer_apply_live(offer: Offer, live: LiveOffer, *, now, source: str, new: bool = False) -> bool:
    """Put find-one's answer on `offer` (not saved): price (a change writes price history, unless
    the offer is `new`), settlement method, key or not, units, required fields. True when the
    price or currency changed."""
    currency = live.currency or offer.currency
    changed = not new and (live.price != offer.price or currency != offer.currency)
    if changed:
        PriceHistory.objects.create(
            offer=offer, price=live.price, currency=currency, recorded_at=now, source=source
        )
        offer.previous_price, offer.price_changed_at = offer.price, now
    offer.price, offer.currency = live.price, currency
    offer.settlement_method = (
        checks.known_settlement_method(live.settlement_method) or offer.settlement_method
    )
    offer.returns_key = live.returns_key
    units = checks.known_units(live.count)
    # No count in the answer: keep the one known.
    offer.units = units if units is not None else offer.units
    offer.required_fields = list(live.required_fields)
    if live.requires_game_user_id or "gameUserId" in live.required_fields:
        offer.requires_user_id = True
    if live.requires_game_server_id or "gameServerId" in live.required_fields:
        offer.requires_server_id = True
    offer.detail_checked_at = now
    return changed


def _plain(number) -> str:
    """A decimal as typed, whatever places the column keeps: 10.000 and 10 read alike."""
    return format(Decimal(number).normalize(), "f")


def _rule_terms(rule: PricingRule) -> dict:
    return {
        "scope": rule.scope,
        "target": rule.target,
        "percent": _plain(rule.markup_percent),
        "fixed": _plain(rule.markup_fixed),
        "fixed_in_usd": rule.fixed_in_usd,
        "rounding": rule.rounding,
    }


@transaction.atomic
def pricing_rule_save(*, rule: PricingRule, by=None, request=None) -> PricingRule:
    """Save a rule; the audit keeps its terms before and after the change."""
    stored = PricingRule.objects.select_for_update().filter(pk=rule.pk).first() if rule.pk else None
    rule.full_clean()
    rule.save()
    audit_record(
        action="pricing_rule.updated" if stored else "pricing_rule.created",
        actor=by,
        request=request,
        target=rule,
        data={"before": _rule_terms(stored) if stored else None, "after": _rule_terms(rule)},
    )
    return rule


@transaction.atomic
def pricing_rule_delete(*, rule: PricingRule, by=None, request=None) -> None:
    audit_record(
        action="pricing_rule.deleted",
        actor=by,
        request=request,
        target=rule,
        data={"before": _rule_terms(rule), "after": None},
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
    before = currency_rate_at(currency, valid_from)
    rate = CurrencyRate.objects.create(
        currency=currency, usd_per_unit=usd_per_unit, valid_from=valid_from
    )
    audit_record(
        action="currency_rate.saved",
        actor=by,
        request=request,
        target=rate,
        data={
            "before": {"usd_per_unit": _plain(before) if before is not None else None},
            "after": {"usd_per_unit": _plain(usd_per_unit)},
            "valid_from": valid_from.isoformat(),
        },
    )
    return rate


def profile_change_dismiss(*, change: ProfileChange, by=None, request=None) -> None:
    ProfileChange.objects.filter(pk=change.pk).update(dismissed_at=timezone.now())
    audit_record(action="profile_change.dismissed", actor=by, request=request, target=change)


def offer_mark_out_of_stock(*, offer_id: int) -> None:
    """A supplier refused an order OUT_OF_STOCK: the catalog says so until the next sync or
    look-up finds the offer in stock again, so routing skips it meanwhile."""
    Offer.objects.filter(pk=offer_id, in_stock=True).update(in_stock=False)
