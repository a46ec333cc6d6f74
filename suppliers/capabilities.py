"""What each supplier's API offers, as data.

Pages, tasks and finance ask `capabilities_of(account)` before offering or running anything that
needs one of these, so an account of a supplier whose API lacks an endpoint never sees the action
(and never answers 500 for it). The source is each supplier's document in the shared reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from suppliers.models import SupplierAccount, SupplierKind


@dataclass(frozen=True)
class Capabilities:
    """One supplier API's endpoints, by what they let the back-office do."""

    catalog_feed: bool  # a paged feed of every offer (catalog sync)
    balance: bool  # the account's balance and balance profile
    ledger: bool  # the supplier's transaction history
    status_by_transaction_id: (
        bool  # order-status accepts our transactionId (resolves a lost answer)
    )
    player_check: bool  # checks a player id before ordering
    servers: bool  # lists a game's servers
    telegram_user: bool  # looks up a Telegram user (Stars)
    keys_endpoint: bool  # keys come from a separate call once the order is COMPLETED
    customer_email: bool  # create-order's `customer` takes the buyer's email


CAPABILITIES: dict[str, Capabilities] = {
    SupplierKind.GAMESDROP: Capabilities(
        catalog_feed=True,
        balance=True,
        ledger=True,
        status_by_transaction_id=True,
        player_check=True,
        servers=True,
        telegram_user=True,
        keys_endpoint=False,
        customer_email=True,
    ),
    # find-one (with `required`), create-order, order-status by orderId only, and keys.
    SupplierKind.CODEGAMES: Capabilities(
        catalog_feed=False,
        balance=False,
        ledger=False,
        status_by_transaction_id=False,
        player_check=False,
        servers=False,
        telegram_user=False,
        keys_endpoint=True,
        # create-order's `customer` holds only the fields find-one lists in `required`.
        customer_email=False,
    ),
}


def capabilities_of(account: SupplierAccount | str) -> Capabilities:
    """The capabilities of an account's supplier (or of a supplier kind)."""
    kind = account if isinstance(account, str) else account.kind
    return CAPABILITIES[kind]
