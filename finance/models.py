"""Finance: balance snapshots and low-balance alerts, the supplier's ledger as it came, and
reconciliation runs with their items and finance's explanations.

The reconciliation itself is pure Python (`finance.reconciliation`); these rows hold its inputs
(`LedgerEntry`, beside the orders app's `Order`) and its results (`ReconciliationRun`,
`ReconciliationItem`), so a run can be shown, explained and exported long after it ran.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from finance.reconciliation import BUCKET_LABELS, ObservedRate
from finance.reconciliation.types import on_ledger
from reseller.core.jobs import ACTIVE, Job, JobStatus  # finance's modules import JobStatus here
from suppliers.models import SupplierAccount


class BalanceSnapshot(models.Model):
    """What the balance endpoint said at one moment (USD for GamesDrop)."""

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.CASCADE, related_name="balance_snapshots"
    )
    taken_at = models.DateTimeField()
    balance = models.DecimalField(max_digits=18, decimal_places=4)
    draft_balance = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    is_postpaid = models.BooleanField(default=False)
    balance_profile = models.CharField(max_length=10, blank=True)
    currency = models.CharField(max_length=8, default="USD")
    # schedule | manual (the button) | entered (typed in by finance: no balance endpoint)
    trigger = models.CharField(max_length=20, default="schedule")
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    ENTERED = "entered"

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["account", "-taken_at"], name="snapshot_account_taken")]

    def __str__(self) -> str:
        return f"{self.account}: {self.balance} {self.currency} at {self.taken_at:%Y-%m-%d %H:%M}"

    @property
    def is_entered(self) -> bool:
        return self.trigger == self.ENTERED

    @property
    def source_text(self) -> str:
        """Where the figure came from, for pages and alerts."""
        if self.is_entered:
            who = self.taken_by.get_username() if self.taken_by else "someone since removed"
            when = timezone.localtime(self.taken_at).strftime("%Y-%m-%d %H:%M %Z")
            return f"entered by hand by {who} at {when}"
        return f"from the supplier at {timezone.localtime(self.taken_at):%Y-%m-%d %H:%M %Z}"

    @property
    def owed(self):
        """What a postpaid account owes (a negative balance), else 0."""
        return -self.balance if self.balance < 0 else 0


class BalanceAlertRule(models.Model):
    """When an account's balance is low: below `threshold_usd`, or enough for fewer than
    `runway_days` at the recent spend rate (either one, when both are set)."""

    account = models.OneToOneField(
        SupplierAccount, on_delete=models.CASCADE, related_name="balance_alert_rule"
    )
    threshold_usd = models.DecimalField(
        "Threshold (USD)", max_digits=14, decimal_places=2, null=True, blank=True
    )
    runway_days = models.DecimalField(
        "Enough for at least (days)", max_digits=6, decimal_places=1, null=True, blank=True
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Low-balance rule of {self.account}"


class BalanceAlert(models.Model):
    """A low balance. At most one open alert per account; it is emailed when raised and at most
    once per alert period while it stays open, and cleared when the balance recovers."""

    class Level(models.TextChoices):
        WARNING = "warning", "Warning"
        DANGER = "danger", "Danger"

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.CASCADE, related_name="balance_alerts"
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.WARNING)
    message = models.CharField(max_length=500)
    raised_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(help_text="The latest snapshot that found it still low.")
    balance = models.DecimalField(max_digits=18, decimal_places=4)
    runway_days = models.DecimalField(max_digits=10, decimal_places=1, null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    notify_count = models.PositiveIntegerField(default=0)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_balance = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(cleared_at__isnull=True),
                name="one_open_balance_alert_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.message}"

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None


class LedgerSync(Job):
    """One pass over an account's supplier ledger: a job row the page polls for progress."""

    task_name = "finance.tasks.run_ledger_sync"
    noun = "ledger sync"
    one_active_per = ("account",)
    after_failure = "Rows stored before it are kept; the next sync reads the whole ledger again."

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.CASCADE, related_name="ledger_syncs"
    )
    incremental = models.BooleanField(
        default=False, help_text="Stopped at the first page holding only known rows."
    )
    rows_total = models.PositiveIntegerField(default=0, help_text="The ledger's own total.")
    pages_done = models.PositiveIntegerField(default=0)
    rows_fetched = models.PositiveIntegerField(default=0)
    rows_new = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=ACTIVE, name="one_active_ledger_sync_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"Ledger sync #{self.pk} of {self.account} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_fetched * 100 / self.rows_total))


class LedgerEntry(models.Model):
    """One row of the supplier's transaction history, stored as it came (USD, negative for
    debits). Rows carry no order id: which order a row belongs to is what reconciliation infers."""

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.PROTECT, related_name="ledger_entries", db_index=False
    )
    supplier_id = models.BigIntegerField("Supplier id")
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    type = models.CharField(max_length=20)
    description = models.TextField(blank=True)
    balance_after = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True, help_text="The supplier's createdAt.")
    fetched_at = models.DateTimeField()
    sync = models.ForeignKey(
        LedgerSync, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-supplier_id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "supplier_id"], name="ledger_entry_unique_per_account"
            )
        ]
        indexes = [models.Index(fields=["account", "created_at"], name="ledger_account_created")]

    def __str__(self) -> str:
        return f"Ledger row {self.supplier_id} of {self.account_id}: {self.type} {self.amount}"


class ReconciliationRun(Job):
    """One reconciliation of an account's ledger against our orders for a period: a job row
    with progress while it runs, then the kept result (who ran it, when, with which settings)."""

    task_name = "finance.tasks.run_reconciliation"
    noun = "reconciliation"
    one_active_per = ("account",)
    after_failure = "It stored nothing; start it again."

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.PROTECT, related_name="reconciliation_runs"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # `finance.reconciliation.Settings.as_dict()`: tolerances, window slack, period, opening.
    engine_settings = models.JSONField(default=dict)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_label = models.CharField(max_length=80, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # What the run found.
    ledger_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the ledger was last synced before this run."
    )
    ledger_count = models.PositiveIntegerField(default=0)
    order_count = models.PositiveIntegerField(default=0)
    refund_owed_count = models.PositiveIntegerField(default=0)
    hint_count = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)  # bucket -> items
    totals = models.JSONField(default=dict, blank=True)  # Totals fields as strings
    ties = models.BooleanField(null=True, blank=True)
    ledger_warning = models.TextField(
        blank=True, help_text="Set when the ledger was older than the end of the period."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=ACTIVE, name="one_active_reconciliation_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"Reconciliation #{self.pk} of {self.account} ({self.status})"

    @property
    def percent(self) -> int:
        return 100 if self.status == JobStatus.SUCCEEDED else min(99, self.progress)

    @property
    def fx_rates(self) -> list[tuple[str, str]]:
        """Our table's FX rates the run's orders were sent at (USD per unit, by currency)."""
        return sorted((self.engine_settings or {}).get("fx_rates", {}).items())

    @property
    def observed_rates(self) -> list[ObservedRate]:
        """Per currency, the supplier's rate the run observed against our table's."""
        stored = (self.engine_settings or {}).get("observed_rates", [])
        return [ObservedRate.from_dict(data) for data in stored]

    @property
    def refund_window_text(self) -> str:
        """The refund window of the run's settings, for its page ("" for older runs)."""
        seconds = (self.engine_settings or {}).get("refund_window_seconds")
        if seconds is None:
            return ""
        hours = Decimal(seconds) / 3600
        if hours >= 1:
            return f"{hours.normalize():f} h"
        return f"{(Decimal(seconds) / 60).normalize():f} min"

    @property
    def tie_difference(self) -> Decimal | None:
        """closing - (opening + deposits - purchases + refunds + other), from the stored totals:
        what the rows held do not explain (the chain gaps); None before the run finished."""
        return totals_tie_difference(self.totals)


def totals_tie_difference(totals: dict) -> Decimal | None:
    try:
        computed = (
            Decimal(totals["opening"])
            + Decimal(totals["deposits"])
            - Decimal(totals["purchases"])
            + Decimal(totals["refunds"])
            + Decimal(totals["other"])
        )
        return Decimal(totals["closing"]) - computed
    except (KeyError, TypeError, ArithmeticError):
        return None


class ReconciliationItem(models.Model):
    """One line of a run's bucket: a ledger row, an order, both (a match), or a chain break.

    The ledger row is linked (rows never change); what the run knew of the order is kept in
    `order_data` (an order's status moves on after the run), beside the link to the order itself.
    """

    # Not indexed alone: both composite indexes below start with the run.
    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    position = models.PositiveIntegerField()
    bucket = models.CharField(max_length=30)
    item_key = models.CharField(max_length=100)
    ledger_entry = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set on chain breaks only: indexed where set (see Meta), which keeps a run's inserts light.
    previous_entry = models.ForeignKey(
        LedgerEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order_key = models.CharField(max_length=64, blank=True)
    order_data = models.JSONField(default=dict, blank=True)
    expected_usd = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    variance = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    variance_pct = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    implied_fx = models.DecimalField(max_digits=24, decimal_places=10, null=True, blank=True)
    # Chain breaks.
    expected_balance = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    actual_balance = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    gap = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "item_key"], name="recon_item_key_per_run")
        ]
        indexes = [
            models.Index(fields=["run", "bucket", "position"], name="recon_item_bucket"),
            models.Index(
                fields=["previous_entry"],
                condition=models.Q(previous_entry__isnull=False),
                name="recon_item_previous_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bucket} {self.item_key} (run {self.run_id})"

    @property
    def expected_on_ledger(self) -> Decimal | None:
        """`expected_usd` signed as the ledger shows it (a charge negative, a refund positive)."""
        return on_ledger(self.bucket, self.expected_usd)

    @property
    def bucket_label(self) -> str:
        return BUCKET_LABELS.get(self.bucket, self.bucket)

    @property
    def is_chain_break(self) -> bool:
        return self.bucket == "CHAIN_BREAK"

    @property
    def at(self):
        """When it happened: the ledger time, else the order's submission (or finality)."""
        entry = self.ledger_entry  # None without a query when the item holds no row
        if entry is not None:
            return entry.created_at
        text = self.order_data.get("submitted_at") or self.order_data.get("final_at")
        return datetime.fromisoformat(text) if text else None


class ItemExplanation(models.Model):
    """Finance's explanation of an item, by the engine's stable item key: every run of the
    account that holds the same row (or order) shows it."""

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.CASCADE, related_name="item_explanations"
    )
    item_key = models.CharField(max_length=100)
    comment = models.TextField()
    bucket = models.CharField(max_length=30, help_text="The item's bucket when it was explained.")
    order_key = models.CharField(
        max_length=64, blank=True, help_text="The item's order when it was explained (if any)."
    )
    run = models.ForeignKey(
        ReconciliationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    explained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    explained_at = models.DateTimeField()

    class Meta:
        ordering = ["-explained_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "item_key"], name="one_explanation_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.item_key}: {self.comment[:40]}"

    def applies_to(self, bucket: str, order_key: str) -> bool:
        """Whether it explains the item as it is now: the same bucket and the same order. A
        row that moved (a match that became an unexpected charge, or another order's match)
        shows it as explained earlier, and it does not count as explained."""
        return self.bucket == bucket and self.order_key == (order_key or "")

    @property
    def earlier_text(self) -> str:
        label = BUCKET_LABELS.get(self.bucket, self.bucket)
        order = f" / order #{self.order_key}" if self.order_key else ""
        return f"explained earlier as {label}{order}: {self.comment}"
