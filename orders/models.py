"""Orders, batches, their history, the key vault and each supplier account's order queue.

Statuses move only through `orders.states.order_transition` (the allowed moves are a table
there); `orders.states` is also the only writer of `OrderEvent`. The exactly-once rules
(architecture.md) rest on three columns here: `transaction_id` (unique, committed before the
first create-order call) and the claim lease (`claimed_by`, `lease_expires_at`).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.models import Offer, Product
from reseller.core.fields import EncryptedTextField
from suppliers.models import SupplierAccount


class OrderStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    SUBMITTING = "SUBMITTING", "Submitting"
    SUBMITTED = "SUBMITTED", "Submitted"
    PROCESSING = "PROCESSING", "Processing"
    UNKNOWN = "UNKNOWN", "Outcome unknown"
    COMPLETED = "COMPLETED", "Completed"
    CANCELED = "CANCELED", "Canceled by the supplier"
    FAILED = "FAILED", "Failed (refunded)"
    REFUNDED = "REFUNDED", "Refunded"
    REJECTED = "REJECTED", "Rejected by the supplier"
    ON_HOLD = "ON_HOLD", "On hold"
    NEEDS_ATTENTION = "NEEDS_ATTENTION", "Needs attention"
    WITHDRAWN = "WITHDRAWN", "Withdrawn"
    RESOLVED = "RESOLVED", "Resolved"
    # Above the approval threshold: nothing is sent until a second person approves it.
    AWAITING_APPROVAL = "AWAITING_APPROVAL", "Awaiting approval"


class Batch(models.Model):
    """A CSV/XLSX upload: previewed, confirmed, then its orders run. Counts come from selectors."""

    class Status(models.TextChoices):
        # Uploaded: a worker is reading the stored file into the preview.
        READING = "READING", "Reading the file"
        # The file could not be read as a batch (`preview_summary["read_error"]` says why).
        REFUSED = "REFUSED", "File refused"
        PREVIEW = "PREVIEW", "Preview"
        # Confirmed by an operator; a worker is creating its orders (all or none).
        CONFIRMING = "CONFIRMING", "Creating orders"
        CONFIRMED = "CONFIRMED", "Confirmed"
        RUNNING = "RUNNING", "Running"
        PAUSED = "PAUSED", "Paused"
        DONE = "DONE", "Done"
        # Above the approval threshold: no order is created until a second person approves it.
        AWAITING = "AWAITING", "Awaiting approval"
        # The approver said no: nothing was ordered.
        REJECTED = "REJECTED", "Rejected"

    name = models.CharField(max_length=200)
    source_filename = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PREVIEW, db_index=True
    )
    # Where `batch_resume` returns to (CONFIRMED or RUNNING).
    status_before_pause = models.CharField(max_length=12, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Reading the uploaded file (orders.batches.uploads): when its task was last sent (None: the
    # broker could not take it), the reading worker's last sign of life, and how many workers
    # have started reading it.
    read_requested_at = models.DateTimeField(null=True, blank=True)
    read_heartbeat_at = models.DateTimeField(null=True, blank=True)
    read_attempts = models.PositiveSmallIntegerField(default=0)
    # When the operator pressed Confirm (or the sweep last sent the confirmation task again).
    confirm_requested_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The preview of an uploaded file (orders.batches.preview): the account it is checked against,
    # whether players were checked, and the summary (counts, estimate, balance, file warnings);
    # its rows are BatchPreviewRow.
    account = models.ForeignKey(
        SupplierAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="batches"
    )
    check_players = models.BooleanField(default=False)
    preview_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"Batch #{self.pk} {self.name} ({self.status})"

    @property
    def accepts_submissions(self) -> bool:
        """Whether this batch's QUEUED orders may be sent (not before confirmation, not paused)."""
        return self.status not in (
            self.Status.READING,
            self.Status.REFUSED,
            self.Status.PREVIEW,
            self.Status.CONFIRMING,
            self.Status.PAUSED,
            self.Status.AWAITING,
            self.Status.REJECTED,
        )


class BatchUpload(models.Model):
    """An uploaded batch file, kept in the database until a worker has read it (any worker on any
    host can, and it outlives a worker that dies reading it); deleted once the preview, or the
    reason the file was refused, is stored."""

    batch = models.OneToOneField(
        Batch, on_delete=models.CASCADE, primary_key=True, related_name="upload"
    )
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Upload of batch {self.batch_id} ({self.size} bytes)"


class Order(models.Model):
    """One purchase of one offer (one `transactionId`); a quantity of N is N orders."""

    # No single-column index on account or batch: the composite indexes below start with them.
    account = models.ForeignKey(
        SupplierAccount, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="orders")
    # An order for a product: `offer` and `account` are the route it is on now; a refusal that
    # proves nothing was bought moves it to the product's next route (`OrderAttempt`).
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    batch = models.ForeignKey(
        Batch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,
    )
    row_number = models.PositiveIntegerField(null=True, blank=True)
    # Generated at creation and committed before the first create-order call; every resend of
    # this order reuses it. Replaced only after the supplier confirmed no order exists under it
    # (the old one stays in OrderTransactionId).
    transaction_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.QUEUED
    )

    # Customer.
    game_user_id = models.CharField(max_length=64, blank=True)
    game_server_id = models.CharField(max_length=64, blank=True)
    email = models.EmailField(blank=True)
    telegram_username = models.CharField(max_length=64, blank=True)
    customer_reference = models.CharField(max_length=120, blank=True, db_index=True)

    # Money, per unit, in the offer's currency.
    max_unit_price = models.DecimalField(
        max_digits=18, decimal_places=4, help_text="The highest unit price the operator accepts."
    )
    quoted_price = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The supplier's unit price as last confirmed (find-one or sync).",
    )
    price_sent = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    # Fixed when the order is sent (each create-order call), from the rate valid then: what we
    # expect the supplier to debit. A later rate never changes an order already sent, so
    # reconciliation and spend give the same answer for an old period every time.
    usd_rate = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="USD per unit of the currency, as valid when the order was sent.",
    )
    usd_cost = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The expected USD debit: units x unit price at usd_rate, to the cent per unit.",
    )

    # What the supplier said.
    supplier_order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    supplier_status = models.CharField(max_length=20, blank=True)
    supplier_message = models.CharField(max_length=500, blank=True)
    units = models.PositiveIntegerField(default=1, help_text="Units in this order (count).")
    units_delivered = models.PositiveIntegerField(default=0)
    # Units the supplier took money for but did not deliver, which it refunds: the missing units
    # of a partial delivery, or all of them when it canceled, failed or refunded the order.
    units_refunded = models.PositiveIntegerField(default=0)
    # Telegram Stars deliver through fulfillmentData (no key); it holds no secret.
    fulfillment_data = models.JSONField(default=dict, blank=True)

    # The claim: whoever holds an unexpired lease is the only one calling the supplier for it.
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    # Durable work list: the sweep finds every due order by this column (see orders.schedule).
    next_poll_at = models.DateTimeField(null=True, blank=True)  # indexed with status, below
    poll_count = models.PositiveIntegerField(default=0, help_text="Status calls made.")
    pending_polls = models.PositiveIntegerField(
        default=0,
        help_text="Status calls since the order was last sent, not counting the checks made while "
        "its outcome was UNKNOWN: the step of the polling back-off.",
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    submit_attempts = models.PositiveIntegerField(default=0, help_text="create-order calls made.")
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="First create-order call under the current transactionId."
    )
    last_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Latest create-order call; the 60-minute limit runs from it.",
    )
    final_at = models.DateTimeField(null=True, blank=True)
    # Safe to show to staff: never a key, a token or a raw supplier body.
    last_error = models.TextField(blank=True)

    # Delivery to the customer's email, once.
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivered_to = models.EmailField(blank=True)
    delivery_started_at = models.DateTimeField(null=True, blank=True)
    delivery_count = models.PositiveIntegerField(default=0)
    # Why the last sending failed (the mail server's answer); cleared when one succeeds.
    delivery_error = models.CharField(max_length=500, blank=True)

    # "Order again": the failed, refused or refunded order this one replaces (a new
    # transactionId, the same customer). One order is ordered again at most once, so a customer
    # is never served twice from one failure; `ordered_again_as` is the way back.
    reorder_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ordered_again_as",
    )

    # "Retry the failed rows": the batch whose preview took this failed order's row again. The
    # order is then neither retried nor ordered again on its own; a discarded preview frees it.
    retried_in = models.ForeignKey(
        Batch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retried_orders",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_poll_at"], name="order_status_next_poll"),
            models.Index(fields=["status", "lease_expires_at"], name="order_status_lease"),
            models.Index(fields=["status", "last_sent_at"], name="order_status_last_sent"),
            models.Index(fields=["batch", "status"], name="order_batch_status"),
            models.Index(fields=["account", "status", "created_at"], name="order_account_status"),
            # The order list: newest first, and its date range filter.
            models.Index(fields=["created_at"], name="order_created_at"),
            # A reconciliation reads an account's orders by the time they were sent.
            models.Index(fields=["account", "submitted_at"], name="order_account_submitted"),
            # The dashboard: orders that did not reach the customer, by when they finished.
            models.Index(fields=["status", "final_at"], name="order_status_final"),
            # A running batch's rate: its orders finished in the last minute.
            models.Index(fields=["batch", "final_at"], name="order_batch_final"),
            # The order search's substring match on transaction id and reference is served on
            # PostgreSQL by trigram indexes (migration 0007); SQLite scans.
        ]
        permissions = [
            ("reveal_key", "Reveal product keys and PINs"),
            ("export_keys", "Export the keys of a batch"),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} {self.transaction_id} ({self.status})"

    def __repr__(self) -> str:
        return f"<Order {self.pk} {self.transaction_id} {self.status}>"

    def get_absolute_url(self) -> str:
        return reverse("orders:order_detail", kwargs={"order_pk": self.pk})

    @property
    def is_final(self) -> bool:
        from orders.states import FINAL_STATUSES

        return self.status in FINAL_STATUSES

    @property
    def awaits_supplier_outcome(self) -> bool:
        """A create-order answer was lost on a supplier that cannot look an order up by
        transactionId (CodeGames): only a person can find out whether it was bought, and
        records it (orders.services.lost_answers)."""
        from suppliers.capabilities import capabilities_of

        return (
            self.status == OrderStatus.NEEDS_ATTENTION
            and self.supplier_order_id is None
            and self.submit_attempts > 0
            and not capabilities_of(self.account).status_by_transaction_id
        )

    @property
    def unit_price(self):
        """The unit price sent (else the last quote), in the offer's currency."""
        return self.price_sent if self.price_sent is not None else self.quoted_price

    @property
    def total_price(self):
        """What the order buys: the unit price times its units."""
        price = self.unit_price
        return None if price is None else price * self.units

    @property
    def delivered_price(self):
        """What the delivered units are worth at the unit price."""
        price = self.unit_price
        return None if price is None else price * self.units_delivered

    @property
    def refunded_price(self):
        """What the supplier refunds: the unit price times the units it did not deliver."""
        price = self.unit_price
        return None if price is None else price * self.units_refunded

    @property
    def net_price(self):
        """What the order costs once the supplier's refund is in."""
        total, refunded = self.total_price, self.refunded_price
        return None if total is None or refunded is None else total - refunded


class OrderEvent(models.Model):
    """One status move. Written only by `orders.states` (creation and `order_transition`)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["order", "at"], name="orderevent_order_at")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '-'} → {self.to_status}"


class OrderTransactionId(models.Model):
    """Every transactionId an order has used; `retired_at` is set when it was replaced."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transaction_ids")
    transaction_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.transaction_id


class OrderAttempt(models.Model):
    """One route an order for a product took: the offer and account, under one transactionId,
    and how it ended there (empty while it is the order's current route)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="attempts")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(SupplierAccount, on_delete=models.PROTECT, related_name="+")
    transaction_id = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.transaction_id} at {self.account_id}"


#: Characters of a key shown on a page (enough to tell keys apart) ...
KEY_CHARACTERS_SHOWN = 4
#: ... only when at least this many letters and digits stay hidden (10^8 guesses or more).
KEY_CHARACTERS_KEPT_HIDDEN = 8


def mask_secret(secret: str) -> str:
    """Every key or PIN shown on a page goes through this one rule: its last four characters
    show when at least eight letters and digits stay hidden, whatever its shape (a 12-digit
    code, a Steam key, a gift-card PIN); otherwise nothing shows, since part of a short PIN
    would make it guessable."""
    if not secret:
        return ""
    tail = secret[-KEY_CHARACTERS_SHOWN:]
    hidden = sum(character.isalnum() for character in secret) - sum(
        character.isalnum() for character in tail
    )
    if hidden < KEY_CHARACTERS_KEPT_HIDDEN:
        return "••••"
    return f"••••{tail}"


class OrderKey(models.Model):
    """One delivered unit's key or PIN, encrypted at rest; stored with the move to COMPLETED."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="keys")
    unit_index = models.PositiveIntegerField()
    secret = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "unit_index"]
        constraints = [
            models.UniqueConstraint(fields=["order", "unit_index"], name="orderkey_one_per_unit")
        ]

    def __str__(self) -> str:
        return f"Key {self.unit_index + 1} of order {self.order_id}: {self.masked}"

    def __repr__(self) -> str:
        return f"<OrderKey order={self.order_id} unit={self.unit_index} {self.masked}>"

    @property
    def masked(self) -> str:
        return mask_secret(self.secret)


class OrderRequest(models.Model):
    """One sending of the manual order form, by the one-time key the form carried: the same
    form sent twice (a double click, the browser sending it again) places its orders once."""

    key = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    order_ids = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"Order request {self.key[:8]} ({len(self.order_ids)} orders)"


class AccountQueue(models.Model):
    """The order queue of one supplier account. On hold, its orders are not sent (they wait as
    ON_HOLD) until the balance covers the next one, or an operator resumes it."""

    account = models.OneToOneField(
        SupplierAccount, on_delete=models.CASCADE, related_name="order_queue"
    )
    on_hold = models.BooleanField(default=False)
    hold_reason = models.CharField(max_length=500, blank=True)
    held_since = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_message = models.CharField(max_length=500, blank=True)
    # The balance the previous check saw (USD), for when a held order's USD cost is unknown.
    last_seen_balance = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["on_hold", "next_check_at"], name="accountqueue_due")]

    def __str__(self) -> str:
        return f"Queue of {self.account_id} ({'on hold' if self.on_hold else 'running'})"


class BatchPreviewRow(models.Model):
    """One row of an uploaded batch file as the preview read it: what it asked for and its
    problems (the row will not be ordered) and warnings. Rows without problems become orders on
    confirmation; the rows with problems stay as the record of what was skipped."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="preview_rows")
    row_number = models.PositiveIntegerField()
    offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    offer_ref = models.BigIntegerField(null=True, blank=True, help_text="The file's offer id.")
    # A row naming a product instead: its orders are routed when they are sent, and `offer`,
    # `unit_price` and `currency` are the route the preview saw (for the estimate, not pinned).
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    product_ref = models.CharField(max_length=60, blank=True, help_text="The file's product.")
    route_account = models.CharField(max_length=120, blank=True)
    route_usd_cost = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    quantity = models.PositiveIntegerField(null=True, blank=True)
    game_user_id = models.CharField(max_length=64, blank=True)
    game_server_id = models.CharField(max_length=64, blank=True)
    email = models.CharField(max_length=254, blank=True)
    telegram_username = models.CharField(max_length=64, blank=True)
    customer_reference = models.CharField(max_length=120, blank=True)
    max_unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    # The offer's price and currency when the preview was made (what the estimate used).
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    player_login = models.CharField(max_length=120, blank=True)
    has_problems = models.BooleanField(default=False)
    problems = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # Column key → the file's text of a value that could not be used, shown in its column.
    bad_values = models.JSONField(default=dict, blank=True)

    # The two prices as the supplier wrote them, set by the preview page for display (not stored).
    unit_price_text: Decimal | None
    max_unit_price_text: Decimal | None

    class Meta:
        ordering = ["batch", "row_number"]
        indexes = [
            models.Index(
                fields=["batch", "has_problems", "row_number"], name="batchpreviewrow_problems"
            )
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number} of batch {self.batch_id}"

    @property
    def estimated_cost(self):
        """Price × product units per order (the offer's `count`) × orders, as the preview
        estimated it."""
        if self.unit_price is None or self.quantity is None:
            return None
        units = self.offer.units if self.offer is not None and self.offer.units else 1
        return self.unit_price * units * self.quantity


class SpendLimit(models.Model):
    """A spending limit in USD, set by an admin (every change audited, before and after).

    A person's limits (per day, per single order or batch) hold for everyone unless that person
    has their own; an account's daily limit is the account's own. The approval threshold is one
    amount for everyone: above it an order or batch waits for a second person."""

    class Kind(models.TextChoices):
        PERSON_DAY = "PERSON_DAY", "Per person, per day"
        PERSON_REQUEST = "PERSON_REQUEST", "Per person, per order or batch"
        ACCOUNT_DAY = "ACCOUNT_DAY", "Per supplier account, per day"
        APPROVAL_ABOVE = "APPROVAL_ABOVE", "Approval needed above"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # PERSON_*: the person it is for (none: everyone without their own); ACCOUNT_DAY: the account.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(
        SupplierAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    amount_usd = models.DecimalField(max_digits=14, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.amount_usd} USD"


class SpendUsage(models.Model):
    """What one person or one supplier account has ordered on one day, in USD: the counter each
    daily limit is checked and moved against in one conditional UPDATE (so two confirmations at
    the same moment cannot both pass the limit)."""

    class Scope(models.TextChoices):
        PERSON = "person", "Person"
        ACCOUNT = "account", "Supplier account"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    subject_id = models.PositiveBigIntegerField(help_text="The user's or the account's id.")
    day = models.DateField()
    used_usd = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "subject_id", "day"], name="spendusage_one_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.subject_id} on {self.day}: {self.used_usd} USD"


class SpendApproval(models.Model):
    """An order (its `quantity` orders) or a batch above the approval threshold, waiting for a
    second person, and what they decided."""

    class Status(models.TextChoices):
        WAITING = "WAITING", "Waiting"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"

    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.WAITING, db_index=True
    )
    batch = models.OneToOneField(
        Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="approval"
    )
    # A manual order: the orders it created (one per unit of quantity), all awaiting approval.
    order_ids = models.JSONField(default=list, blank=True)
    account = models.ForeignKey(SupplierAccount, on_delete=models.PROTECT, related_name="+")
    amount_usd = models.DecimalField(max_digits=14, decimal_places=2)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    # When the approvers were told by email (once).
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_spend", "Can approve or reject orders above the threshold")]

    def __str__(self) -> str:
        what = f"batch #{self.batch_id}" if self.batch_id else f"orders {self.order_ids}"
        return f"Approval of {what} ({self.status})"

    @property
    def first_order_id(self) -> int | None:
        return self.order_ids[0] if self.order_ids else None


class GiftReportStatus(models.TextChoices):
    PENDING = "PENDING", "Waiting to be sent"
    SENDING = "SENDING", "Being sent"
    SENT = "SENT", "Reported"
    NEEDS_ATTENTION = "NEEDS_ATTENTION", "Needs attention"
    WITHHELD = "WITHHELD", "Not reported (refunded first)"


class GiftReport(models.Model):
    """A sale of Telegram Stars or a gift that Telegram must be told of (``reportGiftPurchase``):
    an outbox row, written in the transaction that completes the order and sent by a task
    (orders.services.gift_reports). `transaction_id` is the order's own, Telegram's idempotency
    key: every resend of the report uses it."""

    order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="gift_report"
    )
    marketplace = models.ForeignKey(
        "suppliers.TelegramMarketplace",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gift_reports",
    )
    transaction_id = models.CharField(max_length=64, unique=True)
    transaction_at = models.DateTimeField(help_text="When the sale completed.")
    status = models.CharField(
        max_length=20, choices=GiftReportStatus.choices, default=GiftReportStatus.PENDING
    )
    # The reportGiftPurchase parameters, fixed when the sale completed (amount at that time's
    # rate); empty when they could not be built (the reason is in last_error).
    parameters = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="reportGiftPurchase calls made.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The claim: whoever holds an unexpired lease is the only one calling Telegram for it.
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A call whose answer was lost: the next attempt resends it under the same transaction_id.
    outcome_unknown = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The order was refunded after the sale was reported: finance must know.
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-transaction_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="giftreport_status_next"),
            models.Index(fields=["transaction_at"], name="giftreport_transaction_at"),
        ]

    def __str__(self) -> str:
        return f"Telegram report {self.transaction_id} ({self.get_status_display()})"

    @property
    def refunded_after_report(self) -> bool:
        return self.refunded_at is not None and self.status == GiftReportStatus.SENT

    @property
    def amount_display(self) -> str:
        amount, currency = self.parameters.get("amount"), self.parameters.get("currency")
        if not isinstance(amount, int) or currency not in ("USD", "TON"):
            return ""
        places = 2 if currency == "USD" else 9
        return f"{Decimal(amount).scaleb(-places):f} {currency}"


class WebhookEvent(models.Model):
    """One webhook a supplier account sent us, as it came: verified (and then processed by a
    task, orders.webhooks) or rejected with the reason. A verified event is kept once per
    `webhook_id` (the supplier's retries and duplicates are dropped)."""

    class Status(models.TextChoices):
        REJECTED = "REJECTED", "Rejected"
        RECEIVED = "RECEIVED", "Received, not processed yet"
        PROCESSED = "PROCESSED", "Processed"
        IGNORED = "IGNORED", "Changed nothing"

    account = models.ForeignKey(SupplierAccount, on_delete=models.CASCADE, related_name="+")
    webhook_id = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    # The rejection's reason, or what processing did.
    note = models.CharField(max_length=500, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    # The verified body (a rejected one is kept cut short: it may be anybody's).
    body = models.TextField(blank=True)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "webhook_id"],
                condition=~models.Q(status="REJECTED"),
                name="webhookevent_once_per_id",
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="webhookevent_status")]

    def __str__(self) -> str:
        return f"{self.event_type or 'webhook'} {self.webhook_id} ({self.get_status_display()})"
