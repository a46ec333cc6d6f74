from django.apps import AppConfig


class FinanceConfig(AppConfig):
    """Balance snapshots and alerts, the supplier ledger, and reconciliation reports."""

    name = "finance"
    verbose_name = "Finance"

    def ready(self) -> None:
        from finance.services import balance_snapshot_seen, balance_snapshots_after_batches
        from orders.signals import balance_seen, batch_finished

        batch_finished.connect(balance_snapshots_after_batches, dispatch_uid="finance-snapshot")
        balance_seen.connect(balance_snapshot_seen, dispatch_uid="finance-balance-seen")
