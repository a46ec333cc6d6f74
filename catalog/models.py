from decimal import Decimal

from django.db import models
from django.utils import timezone

from reseller.core.jobs import ACTIVE, Job
from suppliers.models import SupplierAccount

# Which offer settlement methods each account balance profile may buy (GamesDrop "Supplier
# Settlement Compatibility"). An offer whose method is not known yet is neither.
COMPATIBLE_METHODS = {
    "FIAT": {"FIAT", "MIXED"},
    "USDT": {"USDT", "MIXED"},
    "MIXED": {"FIAT", "USDT", "MIXED"},
}


#: The product GamesDrop's partner API documents for Telegram Stars ("Telegram Stars"): a sync
#: marks a new offer of it as Stars; from then on the offer's `telegram_kind` decides, as an
#: admin set it.
SUPPLIER_STARS_PRODUCT = "Telegram Stars"


class TelegramKind(models.TextChoices):
    """What an offer sells on Telegram, when anything: sales of Stars and gifts are reported to
    Telegram (`reportGiftPurchase`). Set by an admin; nothing is inferred from a product's name."""

    NONE = "", "Not a Telegram product"
    STARS = "stars", "Telegram Stars"
    GIFT = "gift", "Telegram gift"


class Offer(models.Model):
    """One supplier offer as the last sync (or find-one) saw it.

    Offers are never deleted: orders point at them. One that stops appearing in a complete sync is
    marked delisted, and comes back when it reappears.
    """

    # Indexed by the composite indexes below, which all start with the account; a separate index
    # would only slow the sync's inserts.
    account = models.ForeignKey(
        SupplierAccount, on_delete=models.PROTECT, related_name="offers", db_index=False
    )
    offer_id = models.BigIntegerField(help_text="The supplier's offerGroupId, sent as offerId.")
    product_id = models.BigIntegerField(null=True, blank=True)
    product_name = models.CharField(max_length=200, blank=True)
    offer_name = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=60, blank=True)
    # Lower-cased "product offer" text for search; a trigram index serves it on PostgreSQL.
    search_text = models.TextField(blank=True)
    price = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=8, blank=True)
    # The price before the last change, for "changed since the last sync" at a glance.
    previous_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    price_changed_at = models.DateTimeField(null=True, blank=True)
    in_stock = models.BooleanField(default=True)
    requires_user_id = models.BooleanField(default=False)
    requires_server_id = models.BooleanField(default=False)
    # Known from find-one only; empty/None until the offer's price is refreshed once.
    returns_key = models.BooleanField(null=True, blank=True)
    settlement_method = models.CharField(max_length=10, blank=True)
    units = models.PositiveIntegerField(null=True, blank=True, help_text="find-one's count")
    required_fields = models.JSONField(default=list, blank=True)
    detail_checked_at = models.DateTimeField(null=True, blank=True)
    # Database defaults too: the sync writes offers with its own INSERT (catalog/upsert.py).
    telegram_kind = models.CharField(
        max_length=10,
        choices=TelegramKind.choices,
        blank=True,
        default=TelegramKind.NONE,
        db_default=TelegramKind.NONE,
    )
    telegram_gift_names = models.CharField(
        "Telegram gift identifiers",
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="The identifiers Telegram knows the sold gift(s) by, comma-separated "
        "(plushpepe-1, durovscap-1010); for Stars, the name the sale is reported under. One "
        "is reported as gift_name, several as gift_names.",
    )

    first_seen_at = models.DateTimeField()
    synced_at = models.DateTimeField(help_text="When a sync last wrote this row.")
    delisted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["product_name", "offer_name", "offer_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "offer_id"], name="offer_unique_per_account")
        ]
        # Each index is paid for on every offer a sync writes, so only those the catalog browser's
        # queries use (checked with EXPLAIN on 200,000 offers): listed offers and their count,
        # the default order, the price order and range. (No query gains from one on category:
        # a category filter keeps about half the offers, and the filter choices are worked out
        # once per sync.)
        indexes = [
            models.Index(fields=["account", "delisted_at"]),
            models.Index(fields=["account", "product_name"]),
            models.Index(fields=["account", "price"]),
        ]

    def __str__(self) -> str:
        return f"{self.product_name} · {self.offer_name} (#{self.offer_id})"

    @property
    def is_delisted(self) -> bool:
        return self.delisted_at is not None

    @property
    def is_bundle(self) -> bool:
        """Whether one order of it buys several units (a "5 x 310 Diamonds" offer)."""
        return bool(self.units and self.units > 1)

    @property
    def bundle_price(self) -> Decimal | None:
        """What one order of a bundle costs: the unit price (the supplier's `price`) times its
        units. None for a single unit, or while the unit count is unknown."""
        return self.price * self.units if self.is_bundle and self.units else None

    @property
    def product_type(self) -> str:
        if self.returns_key is True:
            return "Key"
        if self.returns_key is False or self.requires_user_id:
            return "Top-up"
        return "Key"

    @property
    def is_telegram_stars(self) -> bool:
        return self.telegram_kind == TelegramKind.STARS

    @property
    def telegram_gift_list(self) -> list[str]:
        return [name.strip() for name in self.telegram_gift_names.split(",") if name.strip()]

    @property
    def is_reported_to_telegram(self) -> bool:
        """Whether a completed order of it is reported to Telegram as a gift sale."""
        return bool(self.telegram_kind)

    @property
    def delivers_keys(self) -> bool:
        """Whether an order of it is delivered as keys (or PINs): not a top-up, and not Telegram
        Stars, which the supplier marks as returning data but delivers as fulfillment data."""
        return self.product_type == "Key" and not self.is_telegram_stars

    def is_compatible_with(self, balance_profile: str) -> bool | None:
        """Whether the account's balance can buy this offer; None while that is not known.

        The offer's settlement method (told by find-one) against the profile decides once both are
        known. Before that, an offer listed in the account's feed is compatible by the supplier's
        own statement: the GamesDrop sync feed holds only offers compatible with the account's
        balance profile (incompatible ones are hidden from it). A delisted offer may have left
        the feed for that very reason, so it is not known."""
        if not balance_profile:
            return None
        if self.settlement_method:
            return self.settlement_method in COMPATIBLE_METHODS.get(balance_profile, set())
        return True if self.delisted_at is None else None


class PriceHistory(models.Model):
    """A price an offer had from `recorded_at` on: written on first sight and on every change."""

    # Indexed by (offer, -recorded_at) below.
    offer = models.ForeignKey(
        Offer, on_delete=models.CASCADE, related_name="price_history", db_index=False
    )
    price = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=8, blank=True)
    recorded_at = models.DateTimeField()
    source = models.CharField(max_length=20, default="sync")  # sync | find-one

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["offer", "-recorded_at"])]

    def __str__(self) -> str:
        return f"{self.offer_id} {self.price} {self.currency} at {self.recorded_at:%Y-%m-%d %H:%M}"


class SyncJob(Job):
    """One catalog sync of one account: a job row the page polls for progress."""

    task_name = "catalog.tasks.run_sync_job"
    noun = "sync"
    one_active_per = ("account",)
    after_failure = "The catalog keeps every page written; the next sync repairs the rest."

    account = models.ForeignKey(SupplierAccount, on_delete=models.CASCADE, related_name="sync_jobs")
    rows_expected = models.PositiveIntegerField(default=0)
    pages_done = models.PositiveIntegerField(default=0)
    rows_fetched = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    rows_new = models.PositiveIntegerField(default=0)
    rows_changed = models.PositiveIntegerField(default=0)
    price_changes = models.PositiveIntegerField(default=0)
    rows_delisted = models.PositiveIntegerField(default=0)
    rows_relisted = models.PositiveIntegerField(default=0)
    # Supplier rows left out because they could not be read or stored (catalog/rows.py): all are
    # counted, the first KEPT_REJECTIONS are kept with their reasons for the sync's page.
    rows_rejected = models.PositiveIntegerField(default=0)
    rejected_rows = models.JSONField(default=list, blank=True)
    balance_profile = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one sync of an account queued or running at a time.
            models.UniqueConstraint(
                fields=["account"], condition=ACTIVE, name="one_active_sync_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"Sync #{self.pk} of {self.account} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_expected:
            return 0
        return min(99, int(self.rows_fetched * 100 / self.rows_expected))


class OfferLookupJob(Job):
    """Offers of a supplier without a catalog feed (CodeGames), looked up one by one with find-one:
    offers an admin adds by id, or the scheduled refresh of every offer the account has."""

    class Purpose(models.TextChoices):
        ADD = "add", "Add offers"
        REFRESH = "refresh", "Refresh prices"

    task_name = "catalog.tasks.run_offer_lookup_job"
    noun = "offer look-up"
    one_active_per = ("account",)
    after_failure = "Offers looked up before it are kept; the next refresh looks up the rest."

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.CASCADE, related_name="offer_lookup_jobs"
    )
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.ADD)
    offer_ids = models.JSONField(default=list)
    offers_done = models.PositiveIntegerField(default=0)
    offers_added = models.PositiveIntegerField(default=0)
    offers_updated = models.PositiveIntegerField(default=0)
    price_changes = models.PositiveIntegerField(default=0)
    offers_gone = models.PositiveIntegerField(default=0)
    offers_failed = models.PositiveIntegerField(default=0)
    # The offers that could not be looked up or stored, with why (the first KEPT_PROBLEMS).
    problems = models.JSONField(default=list, blank=True)

    KEPT_PROBLEMS = 200

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One look-up of an account's offers at a time: together they stay within its rate
            # limit anyway, and a second would only repeat the first's calls.
            models.UniqueConstraint(
                fields=["account"], condition=ACTIVE, name="one_active_offer_lookup_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"Offer look-up #{self.pk} of {self.account} ({self.status})"

    @property
    def offers_total(self) -> int:
        return len(self.offer_ids)

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.offer_ids:
            return 0
        return min(99, int(self.offers_done * 100 / len(self.offer_ids)))


class PricingRule(models.Model):
    """A retail markup. The most specific active rule for an offer wins: offer, then product,
    then category, then the account-wide default."""

    class Scope(models.TextChoices):
        OFFER = "offer", "Offer"
        PRODUCT = "product", "Product"
        CATEGORY = "category", "Category"
        DEFAULT = "default", "Everything"

    class Rounding(models.TextChoices):
        NONE = "none", "To the cent"
        UP_99 = "up_99", "Up to .99"
        UP_95 = "up_95", "Up to .95"
        UP_WHOLE = "up_whole", "Up to a whole unit"
        UP_TEN_CENTS = "up_0_10", "Up to 10 cents"

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.CASCADE, related_name="pricing_rules"
    )
    scope = models.CharField(max_length=10, choices=Scope.choices)
    # The offer id, the product id or the category name; empty for the default rule.
    target = models.CharField(max_length=60, blank=True)
    markup_percent = models.DecimalField(max_digits=7, decimal_places=3, default=Decimal("0"))
    markup_fixed = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    # A fixed markup in USD is converted into the offer's currency with CurrencyRate.
    fixed_in_usd = models.BooleanField(default=False)
    rounding = models.CharField(max_length=10, choices=Rounding.choices, default=Rounding.NONE)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "target"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "scope", "target"], name="one_rule_per_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.target or 'all'}: +{self.markup_percent}% +{self.markup_fixed}"


class CurrencyRate(models.Model):
    """What one unit of a currency is worth in USD from `valid_from` on, until the currency's
    next rate (an estimate: the supplier's own conversion is known only after a purchase, from
    its ledger). A new rate is a new row, never an edit of an old one, so an old period is priced
    with the rates it had and a rerun of it gives the same answer (`catalog.selectors.RateTable`)."""

    currency = models.CharField(max_length=8)
    usd_per_unit = models.DecimalField(max_digits=18, decimal_places=8)
    valid_from = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "valid_from"], name="currency_rate_one_per_moment"
            )
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.usd_per_unit} USD from {self.valid_from:%Y-%m-%d %H:%M}"


class ProfileChange(models.Model):
    """The account's balance profile changed: offers appear or vanish on the next sync."""

    account = models.ForeignKey(
        SupplierAccount, on_delete=models.CASCADE, related_name="profile_changes"
    )
    old_profile = models.CharField(max_length=10, blank=True)
    new_profile = models.CharField(max_length=10)
    detected_at = models.DateTimeField(auto_now_add=True)
    # Filled by the first complete sync after the change.
    synced_job = models.ForeignKey(
        SyncJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.account}: {self.old_profile or '?'} → {self.new_profile}"


class Product(models.Model):
    """What the shop sells ("PUBG Mobile 60 UC", "Steam US 20 USD"), whichever supplier account
    delivers it: its routes are offers of several accounts (`ProductRoute`)."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", "Top-up"
        KEY = "key", "Key / gift card"
        STARS = "stars", "Telegram Stars"

    class CustomerGives(models.TextChoices):
        NOTHING = "nothing", "Nothing (an email for the key)"
        PLAYER_ID = "player_id", "Player id"
        PLAYER_AND_SERVER = "player_and_server", "Player id and server"
        TELEGRAM_USERNAME = "telegram_username", "Telegram username"

    class Policy(models.TextChoices):
        CHEAPEST = "cheapest", "Cheapest in-stock route (cost in USD)"
        PREFERENCE = "preference", "Fixed preference order"

    code = models.SlugField(
        max_length=60, unique=True, help_text="What batch files and the order page name it by."
    )
    name = models.CharField(max_length=200, help_text='The game or card: "PUBG Mobile".')
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TOP_UP)
    denomination = models.CharField(max_length=60, help_text='"60 UC", "20 USD".')
    region = models.CharField(max_length=60, blank=True, help_text='"US", "EU", blank: global.')
    customer_gives = models.CharField(
        max_length=20, choices=CustomerGives.choices, default=CustomerGives.NOTHING
    )
    retail_price = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, help_text="In USD."
    )
    policy = models.CharField(max_length=20, choices=Policy.choices, default=Policy.CHEAPEST)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "denomination", "code"]

    def __str__(self) -> str:
        region = f" ({self.region})" if self.region else ""
        return f"{self.name} {self.denomination}{region}"


class ProductRoute(models.Model):
    """One supplier offer that delivers a product, at a place in the product's preference order.

    The offer's names and currency are kept as they were when an admin confirmed the match: an
    offer that is delisted or renamed, or now priced in another currency, drops out (`dropped_at`,
    with the reason shown on the product's page) instead of silently selling something else."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="routes")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="product_routes")
    position = models.PositiveIntegerField(default=1, help_text="1 is tried first (preference).")
    matched_product_name = models.CharField(max_length=200, blank=True)
    matched_offer_name = models.CharField(max_length=200, blank=True)
    matched_currency = models.CharField(max_length=8, blank=True)
    max_unit_price = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The highest unit price accepted on this route (offer currency); blank: the "
        "price when the order is routed, no drift.",
    )
    added_at = models.DateTimeField(default=timezone.now)
    dropped_at = models.DateTimeField(null=True, blank=True)
    dropped_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "offer"], name="product_route_unique_offer")
        ]

    def __str__(self) -> str:
        return f"{self.product} via {self.offer}"

    @property
    def is_active(self) -> bool:
        return self.dropped_at is None
