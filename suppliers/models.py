from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from reseller.core.fields import EncryptedTextField

# The deadline of a supplier call made while a person waits on a page (Test connection, a live
# price, a player check, servers, a Telegram user, a balance snapshot taken by hand).
WAITING_DEADLINE = 5


class SupplierKind(models.TextChoices):
    GAMESDROP = "gamesdrop", "GamesDrop"
    CODEGAMES = "codegames", "CodeGames"


class BalanceProfile(models.TextChoices):
    """Which settlement methods an account may buy (GamesDrop "Supplier Settlement Compatibility")."""

    FIAT = "FIAT", "Fiat"
    USDT = "USDT", "USDT"
    MIXED = "MIXED", "Mixed"


class SupplierAccount(models.Model):
    """One account at a supplier: where to call, with which credentials, how fast.

    The shop token and the management credential (the supplier's separate login for the
    transaction history) are encrypted at rest and never shown again once saved: pages show only
    the last four characters, kept in `*_hint`.
    """

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(
        max_length=20, choices=SupplierKind.choices, default=SupplierKind.GAMESDROP
    )
    base_url = models.URLField(help_text="For GamesDrop: https://partner.gamesdrop.io")
    user_info_url = models.URLField(
        blank=True,
        help_text="GamesDrop's Telegram user-info address, when it is not on the base URL.",
    )
    shop_token = EncryptedTextField()
    shop_token_hint = models.CharField(max_length=4, blank=True)
    management_token = EncryptedTextField(blank=True)
    management_token_hint = models.CharField(max_length=4, blank=True)
    rate_limit_per_second = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text="Requests per second to this account, across all workers together.",
    )
    connect_timeout_seconds = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("3.05"),
        validators=[MinValueValidator(Decimal("0.1"))],
    )
    call_deadline_seconds = models.DecimalField(
        "Deadline per call (seconds)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("20"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("300"))],
        help_text=(
            "The longest one call to this supplier may take, start to end, whatever the server "
            f"does. Calls made while someone waits on a page take at most {WAITING_DEADLINE} s."
        ),
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Signed webhooks (Standard Webhooks): the secret the supplier signs with, and while it is
    # being rotated the one before it, both accepted until the previous one is removed.
    webhook_secret = EncryptedTextField(blank=True)
    webhook_secret_hint = models.CharField(max_length=4, blank=True)
    webhook_secret_previous = EncryptedTextField(blank=True)
    webhook_secret_previous_hint = models.CharField(max_length=4, blank=True)

    # What the last connection test (or balance call) learned.
    balance_profile = models.CharField(max_length=10, choices=BalanceProfile.choices, blank=True)
    is_postpaid = models.BooleanField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.CharField(max_length=500, blank=True)
    # A supplier without a balance endpoint (CodeGames) is tested with find-one of this offer:
    # the first offer added to its catalog, or the one an admin last tested with.
    check_offer_id = models.PositiveBigIntegerField(
        "Offer id for Test connection",
        null=True,
        blank=True,
        help_text="Suppliers without a balance endpoint (CodeGames) are tested with find-one of "
        "this offer. Filled with the first offer added to the catalog when empty.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<SupplierAccount {self.pk} {self.name!r} {self.kind}>"

    @property
    def capabilities(self):
        """What this account's supplier API offers (suppliers/capabilities.py)."""
        from suppliers.capabilities import capabilities_of

        return capabilities_of(self)

    @property
    def masked_shop_token(self) -> str:
        return f"••••••••{self.shop_token_hint}" if self.shop_token_hint else ""

    @property
    def webhook_secrets(self) -> list[str]:
        """The secrets a webhook may be signed with, the current one first."""
        return [secret for secret in (self.webhook_secret, self.webhook_secret_previous) if secret]

    @property
    def masked_management_token(self) -> str:
        return f"••••••••{self.management_token_hint}" if self.management_token_hint else ""


class TelegramMarketplace(models.Model):
    """Our marketplace as Telegram knows it: the bot whose token reports gift sales
    (`reportGiftPurchase`), and the currency sales are reported in.

    The bot token is encrypted at rest and never shown again once saved: pages show only its
    last four characters, kept in `bot_token_hint`."""

    class Currency(models.TextChoices):
        USD = "USD", "US dollars (cents)"
        TON = "TON", "Toncoin (nanotons)"

    name = models.CharField(max_length=80, unique=True)
    bot_api_url = models.URLField(
        "Bot API address", default="https://api.telegram.org", help_text="Telegram's Bot API."
    )
    bot_token = EncryptedTextField()
    bot_token_hint = models.CharField(max_length=4, blank=True)
    report_currency = models.CharField(
        max_length=3,
        choices=Currency.choices,
        default=Currency.USD,
        help_text="Sales are converted to this currency at the rate of the sale's time.",
    )
    enabled = models.BooleanField(
        default=True, help_text="Completed sales are reported through the enabled marketplace."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<TelegramMarketplace {self.pk} {self.name!r}>"

    @property
    def masked_bot_token(self) -> str:
        return f"••••••••{self.bot_token_hint}" if self.bot_token_hint else ""
