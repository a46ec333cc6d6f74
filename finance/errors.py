"""The finance app's refusals: each an ApplicationError whose message is safe to show to staff."""

from reseller.core.errors import ApplicationError


class FinanceError(ApplicationError):
    """A finance rule refused the request."""


class BalanceUnavailableForAccount(FinanceError):
    """The supplier did not give the balance (or this kind of account has no balance endpoint)."""


class LedgerCredentialMissing(FinanceError):
    """The ledger needs the account's management credential, and none is set."""


class JobAlreadyRunning(FinanceError):
    """A ledger sync or a reconciliation of the account is already queued or running."""


class ReconciliationInputError(FinanceError):
    """The stored ledger or orders cannot be reconciled as they are (a row without its balance)."""
