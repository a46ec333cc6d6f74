from django.apps import AppConfig


class FinanceConfig(AppConfig):
    """Balance snapshots and alerts, the supplier ledger, and reconciliation reports."""

    name = "finance"
    verbose_name = "Finance"
