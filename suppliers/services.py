"""Writes of the suppliers app, and the one place a supplier client is built for an account.

Every other app reaches a supplier through `supplier_client(account)`, so credentials, timeouts,
the shared rate limit and log redaction are applied the same way everywhere.
"""

import hashlib
import threading

import requests
from django.db import transaction
from django.utils import timezone

from reseller.core.redaction import register_secrets
from reseller.core.services import audit_record
from suppliers import ratelimit
from suppliers.capabilities import capabilities_of
from suppliers.clients import CodeGamesClient, GamesDropClient, OfferNotFound, SupplierError
from suppliers.clients.telegram import TelegramBotClient
from suppliers.clients.transport import watched_session
from suppliers.models import (
    WAITING_DEADLINE,
    BalanceProfile,
    SupplierAccount,
    SupplierKind,
    TelegramMarketplace,
)

_sessions = threading.local()


def _session_key(account: SupplierAccount) -> tuple:
    """What a cached session stands for: this very account row with these credentials and URLs.

    A changed shop token, management credential, base URL or user-info URL gives another key, and
    so does a new account that reuses a deleted one's id (SQLite hands ids out again), so a session
    built for the old settings is never used for the new ones. The credentials enter as a digest:
    the cache never holds a second copy of a secret.
    """
    credentials = hashlib.sha256(
        f"{account.shop_token}\0{account.management_token}".encode()
    ).hexdigest()
    return (
        account.pk,
        account.created_at,
        account.kind,
        account.base_url,
        account.user_info_url,
        credentials,
    )


def _session(account: SupplierAccount) -> requests.Session:
    """The HTTP session of this account in this thread, kept for the life of the process, so
    that the supplier's connections (and their TLS handshakes) are reused from one order or
    status call to the next instead of opened for every client. Per thread, because a session
    is not meant to be used by two threads at once; a client handed to another thread (the
    catalog sync's page fetcher) is no longer used by the thread that made it. When the account's
    settings change, the session built for the old ones is closed and replaced."""
    by_account: dict[int, tuple[tuple, requests.Session]] | None = getattr(
        _sessions, "by_account", None
    )
    if by_account is None:
        by_account = _sessions.by_account = {}
    key = _session_key(account)
    cached = by_account.get(account.pk)
    if cached is not None and cached[0] == key:
        return cached[1]
    if cached is not None:
        cached[1].close()
    session = watched_session()
    by_account[account.pk] = (key, session)
    return session


def supplier_client(account: SupplierAccount, *, max_retries: int = 3, waiting: bool = False):
    """A client for the account, throttled by the account's shared rate limit. Each call ends
    within the account's deadline, or within `WAITING_DEADLINE` when a person `waiting` on a page
    made it."""
    register_secrets(account.shop_token, account.management_token)
    deadline = call_deadline(account, waiting=waiting)
    timeout = (float(account.connect_timeout_seconds), deadline)
    throttle = ratelimit.throttle_for(f"account-{account.pk}", account.rate_limit_per_second)
    if account.kind == SupplierKind.CODEGAMES:
        return CodeGamesClient(
            account.base_url,
            account.shop_token,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            throttle=throttle,
            session=_session(account),
        )
    return GamesDropClient(
        account.base_url,
        account.shop_token,
        management_token=account.management_token or None,
        user_info_url=account.user_info_url or None,
        timeout=timeout,
        deadline=deadline,
        max_retries=max_retries,
        throttle=throttle,
        session=_session(account),
    )


def call_deadline(account: SupplierAccount, *, waiting: bool = False) -> float:
    """Seconds one call to the account may take, start to end."""
    deadline = float(account.call_deadline_seconds)
    return min(deadline, float(WAITING_DEADLINE)) if waiting else deadline


def _hint(secret: str) -> str:
    return secret[-4:] if len(secret) >= 12 else ""


@transaction.atomic
def supplier_account_save(
    *,
    account: SupplierAccount,
    shop_token: str = "",
    management_token: str = "",
    clear_management_token: bool = False,
    webhook_secret: str = "",
    retire_previous_webhook_secret: bool = False,
    by=None,
    request=None,
) -> SupplierAccount:
    """Create or update an account. Blank token fields keep the stored tokens.

    A new `webhook_secret` is a rotation: the one it replaces stays valid as the previous secret
    (the supplier may still sign with it) until `retire_previous_webhook_secret`."""
    created = account.pk is None
    changed_secrets = []
    if webhook_secret:
        account.webhook_secret_previous = account.webhook_secret
        account.webhook_secret_previous_hint = account.webhook_secret_hint
        account.webhook_secret, account.webhook_secret_hint = webhook_secret, _hint(webhook_secret)
        changed_secrets.append("webhook_secret")
    if retire_previous_webhook_secret:
        account.webhook_secret_previous, account.webhook_secret_previous_hint = "", ""
        changed_secrets.append("webhook_secret_previous")
    if shop_token:
        account.shop_token, account.shop_token_hint = shop_token, _hint(shop_token)
        changed_secrets.append("shop_token")
    if clear_management_token:
        account.management_token, account.management_token_hint = "", ""
        changed_secrets.append("management_token")
    elif management_token:
        account.management_token = management_token
        account.management_token_hint = _hint(management_token)
        changed_secrets.append("management_token")
    account.full_clean()
    account.save()
    audit_record(
        action="supplier_account.created" if created else "supplier_account.updated",
        actor=by,
        request=request,
        target=account,
        # Which secrets changed, never their values.
        data={"name": account.name, "secrets_replaced": changed_secrets},
    )
    return account


def known_balance_profile(answered: str | None) -> tuple[str, str | None]:
    """The balance profile to store for what the supplier answered, and what was wrong with it.

    FIAT, USDT or MIXED is stored as it is; nothing (None or empty) as unknown (""). Anything else
    is stored as unknown too, with a plain sentence saying what the supplier answered (its first
    characters only: it is the supplier's text, not ours)."""
    if not answered:
        return "", None
    if answered in BalanceProfile.values:
        return answered, None
    shown = answered if len(answered) <= 20 else f"{answered[:20]}…"
    expected = ", ".join(BalanceProfile.values)
    return "", (
        f"the supplier answered an unknown balance profile {shown!r} (expected one of "
        f"{expected}); it is stored as unknown"
    )


def supplier_account_check(
    *, account: SupplierAccount, offer_id: int | None = None, by=None, request=None
) -> tuple[bool, str]:
    """The "Test connection" button: one call with the stored token, and what it proved.

    A supplier with a balance endpoint is asked for the balance (and the profile learned is
    stored). One without (CodeGames) is asked find-one of a known offer: `offer_id` when the admin
    gives one, else the account's `check_offer_id`; an offer found is remembered for next time.
    """
    if capabilities_of(account).balance:
        ok, message, learned = _check_by_balance(account)
    else:
        ok, message, learned = _check_by_find_one(account, offer_id or account.check_offer_id)
    SupplierAccount.objects.filter(pk=account.pk).update(
        last_checked_at=timezone.now(),
        last_check_ok=ok,
        last_check_message=message[:500],
        **learned,
    )
    account.refresh_from_db()
    audit_record(
        action="supplier_account.checked",
        actor=by,
        request=request,
        target=account,
        data={"ok": ok, **({"offer_id": offer_id} if offer_id else {})},
    )
    return ok, message


def _check_by_balance(account: SupplierAccount) -> tuple[bool, str, dict]:
    try:
        balance = supplier_client(account, max_retries=0, waiting=True).balance()
    except SupplierError as error:
        return False, f"{type(error).__name__}: {error}", {}
    except ratelimit.RateLimitSaturated as error:
        # Nothing was sent: the connection is untested, not failed.
        return False, error.page_text, {}
    profile, problem = known_balance_profile(balance.balance_profile)
    message = (
        f"Connected. Balance {balance.balance} {balance.currency[:8]}"
        f"{' (postpaid)' if balance.is_postpaid else ''}, "
        + (f"but {problem}." if problem else f"profile {profile or 'not stated'}.")
    )
    learned = {"balance_profile": profile, "is_postpaid": balance.is_postpaid}
    return problem is None, message, learned


def _check_by_find_one(account: SupplierAccount, offer_id: int | None) -> tuple[bool, str, dict]:
    kind = account.get_kind_display()
    if offer_id is None:
        return (
            False,
            f"Not tested: {kind} has no balance endpoint, so Test connection asks find-one for "
            "a known offer. Add an offer to the catalog, or give an offer id here.",
            {},
        )
    try:
        offer = supplier_client(account, max_retries=0, waiting=True).find_one(offer_id)
    except OfferNotFound:
        return (
            False,
            f"find-one of offer {offer_id}: {kind} does not know this offer (OFFER_NOT_FOUND). "
            "The token was accepted; test with an offer of the account's catalog.",
            {},
        )
    except SupplierError as error:
        return False, f"find-one of offer {offer_id}: {type(error).__name__}: {error}", {}
    except ratelimit.RateLimitSaturated as error:
        return False, error.page_text, {}
    except ValueError as error:
        return False, f"Not tested: {error}.", {}
    what = " · ".join(name for name in (offer.product_name, offer.offer_name) if name)
    returns = {True: "returns a key", False: "a top-up, no key"}.get(offer.returns_key, "")
    message = (
        f"Connected. find-one of offer {offer_id} answered: {what or 'an offer'}, "
        f"{offer.price} {offer.currency[:8]}{f' ({returns})' if returns else ''}. "
        f"Checked: the shop token and the offers API ({kind} has no balance endpoint)."
    )
    return True, message, {"check_offer_id": offer_id}


# --- Telegram marketplaces -----------------------------------------------------------------------

#: Seconds one reportGiftPurchase call may take, start to end (a worker waits, not a person).
BOT_CALL_DEADLINE = 20.0


def telegram_bot_client(
    marketplace: TelegramMarketplace, *, waiting: bool = False
) -> TelegramBotClient:
    """The Bot API client of a marketplace, its token registered for log redaction."""
    register_secrets(marketplace.bot_token)
    deadline = float(WAITING_DEADLINE) if waiting else BOT_CALL_DEADLINE
    return TelegramBotClient(
        marketplace.bot_token, marketplace.bot_api_url, timeout=(3.05, deadline), deadline=deadline
    )


@transaction.atomic
def telegram_marketplace_save(
    *, marketplace: TelegramMarketplace, bot_token: str = "", by=None, request=None
) -> TelegramMarketplace:
    """Create or update a marketplace. A blank `bot_token` keeps the stored one."""
    created = marketplace.pk is None
    if bot_token:
        marketplace.bot_token, marketplace.bot_token_hint = bot_token, _hint(bot_token)
    marketplace.full_clean()
    marketplace.save()
    audit_record(
        action="telegram_marketplace.created" if created else "telegram_marketplace.updated",
        actor=by,
        request=request,
        target=marketplace,
        data={"name": marketplace.name, "secrets_replaced": ["bot_token"] if bot_token else []},
    )
    return marketplace


def telegram_marketplace_check(
    *, marketplace: TelegramMarketplace, by=None, request=None
) -> tuple[bool, str]:
    """The "Test connection" button: ``getMe`` with the stored bot token (reports nothing)."""
    try:
        with telegram_bot_client(marketplace, waiting=True) as client:
            bot = client.get_me()
    except SupplierError as error:
        ok, message = False, f"{type(error).__name__}: {error}"
    else:
        username = str(bot.get("username") or "")[:64]
        ok, message = True, f"Connected as the bot @{username} (id {bot.get('id')})."
    TelegramMarketplace.objects.filter(pk=marketplace.pk).update(
        last_checked_at=timezone.now(), last_check_ok=ok, last_check_message=message[:500]
    )
    marketplace.refresh_from_db()
    audit_record(
        action="telegram_marketplace.checked",
        actor=by,
        request=request,
        target=marketplace,
        data={"ok": ok},
    )
    return ok, message
