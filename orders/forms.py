"""Forms of the order pages: the manual order, the offer picker and the order list's filters
(django-filter; every filter is a query-string parameter, so a filtered list is a shareable URL).
"""

from decimal import Decimal
from typing import cast

import django_filters
import django_filters.widgets
from django import forms
from django.db.models import Q
from django.utils import timezone

from catalog.models import Offer
from catalog.selectors import catalog_accounts
from orders.models import (
    GiftReport,
    GiftReportStatus,
    Order,
    OrderStatus,
    OrderTransactionId,
    WebhookEvent,
)
from orders.states import (
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    OPEN_STATUSES,
    ORDER_AGAIN_STATUSES,
)
from reseller.core.filters import day_filter
from reseller.core.forms import DecimalField, IntegerField
from reseller.core.ids import MAX_ID, typed_id
from suppliers.clients.telegram import SALE_TYPES
from suppliers.models import SupplierAccount

#: A manual order places at most this many orders at once (a batch file is for more).
MAX_MANUAL_QUANTITY = 100
SEARCH_MAX_LENGTH = 100
# Orders found through a transaction id they used before a retry, at most.
SEARCH_FORMER_LIMIT = 1000


def is_telegram_stars(offer: Offer) -> bool:
    """Stars go to a numeric Telegram user id (the engine checks the same offer property)."""
    return offer.is_telegram_stars


class OfferSearchForm(forms.Form):
    """The manual order's first step: which account, and what to look for in its catalog."""

    account = forms.ModelChoiceField(
        queryset=SupplierAccount.objects.none(),
        empty_label=None,
        required=False,
        label="Supplier account",
    )
    q = forms.CharField(
        label="Find an offer",
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Product, offer or offer id",
                "autocomplete": "off",
                "autofocus": True,
            }
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: The accounts offered: those with a catalog.
        self.accounts = catalog_accounts()
        cast(forms.ModelChoiceField, self.fields["account"]).queryset = self.accounts


class OrderForm(forms.Form):
    """What one offer needs to be ordered. Fields the offer does not need are left out."""

    offer = IntegerField(widget=forms.HiddenInput)
    game_user_id = forms.CharField(label="Player id", max_length=64, required=False)
    game_server_id = forms.CharField(label="Server", max_length=64, required=False)
    telegram_username = forms.CharField(
        label="Telegram @username",
        max_length=64,
        required=False,
        help_text="Or the numeric Telegram user id.",
        widget=forms.TextInput(attrs={"placeholder": "@username", "autocomplete": "off"}),
    )
    email = forms.EmailField(
        label="Customer email",
        required=False,
        help_text="The key or the top-up confirmation is emailed here once the order completes.",
    )
    customer_reference = forms.CharField(
        label="Customer reference",
        max_length=120,
        required=False,
        help_text="Your order or ticket number; searchable in the order list.",
    )
    quantity = IntegerField(
        min_value=1,
        max_value=MAX_MANUAL_QUANTITY,
        initial=1,
        help_text=f"Each unit is its own order with its own transactionId (1 to "
        f"{MAX_MANUAL_QUANTITY}).",
    )
    max_unit_price = DecimalField(
        label="Highest unit price you accept",
        max_digits=18,
        decimal_places=4,
        min_value=0,
        help_text="If the supplier's price rises above this, the order is not placed.",
    )

    def __init__(self, *args, offer: Offer, servers=None, again: Order | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.for_offer = offer
        if again is not None:
            # Ordering a failed order again places one order in its place.
            self.fields["quantity"] = IntegerField(
                min_value=1, max_value=1, initial=1, widget=forms.HiddenInput
            )
        self.stars = is_telegram_stars(offer)
        fields = self.fields
        fields["offer"].initial = offer.pk
        if self.stars:
            fields["telegram_username"].required = True
            del fields["game_user_id"]
        else:
            del fields["telegram_username"]
            if offer.requires_user_id:
                fields["game_user_id"].required = True
                fields["game_user_id"].widget.attrs["autocomplete"] = "off"
            else:
                del fields["game_user_id"]
        if offer.requires_server_id:
            if servers:
                fields["game_server_id"] = forms.ChoiceField(
                    label="Server",
                    choices=[("", "Choose a server")]
                    + [(server.value, server.label) for server in servers],
                )
            else:
                fields["game_server_id"].required = True
                fields["game_server_id"].help_text = "The server id the supplier expects."
        else:
            del fields["game_server_id"]
        fields["max_unit_price"].help_text += f" In {offer.currency or 'the offer currency'}."

    def clean_offer(self):
        if self.cleaned_data["offer"] != self.for_offer.pk:
            raise forms.ValidationError("The form was for another offer; open it again.")
        return self.cleaned_data["offer"]

    def clean_max_unit_price(self):
        price = self.cleaned_data["max_unit_price"]
        if price <= Decimal(0):
            raise forms.ValidationError("The highest price must be more than 0.")
        return price

    def clean_telegram_username(self):
        username = self.cleaned_data["telegram_username"].strip()
        if username and not username.lstrip("@"):
            raise forms.ValidationError("Enter the @username or the numeric user id.")
        return username


# --- the order list's filters -------------------------------------------------------------------

STAGES = {
    "in_flight": ("In flight", IN_FLIGHT_STATUSES),
    "open": ("Not finished", OPEN_STATUSES),
    "final": ("Finished", FINAL_STATUSES),
}


class IdFilter(django_filters.NumberFilter):
    """A whole number from 1 to MAX_ID; anything else ("1e20", "1.5", 20 digits) is a form
    error, so the filter is left out and the list says it was not understood."""

    field_class = IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)

    def get_max_validator(self):
        return None  # max_value above is the bound


class IdInFilter(django_filters.BaseInFilter, IdFilter):
    pass


class HiddenCSVInput(django_filters.widgets.BaseCSVWidget, forms.HiddenInput):
    """A comma-separated list in one hidden input."""

    surrogate = forms.HiddenInput


class OrderFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Transaction id, supplier order id, customer reference",
                "maxlength": SEARCH_MAX_LENGTH,
            }
        ),
    )
    status = django_filters.MultipleChoiceFilter(
        choices=OrderStatus.choices, widget=forms.CheckboxSelectMultiple
    )
    stage = django_filters.ChoiceFilter(
        method="filter_stage",
        empty_label="Any stage",
        choices=[(key, label) for key, (label, _) in STAGES.items()],
    )
    attention = django_filters.BooleanFilter(
        method="filter_attention", label="Needs attention", widget=forms.CheckboxInput
    )
    waiting = django_filters.BooleanFilter(
        method="filter_waiting", label="Customer still waiting", widget=forms.CheckboxInput
    )
    account = django_filters.ModelChoiceFilter(
        queryset=SupplierAccount.objects.order_by("name"), empty_label="All accounts"
    )
    batch = IdFilter(
        field_name="batch_id",
        label="Batch #",
        widget=forms.NumberInput(attrs={"min": 1, "class": "short"}),
    )
    offer = IdFilter(
        field_name="offer__offer_id",
        label="Offer id",
        widget=forms.NumberInput(attrs={"min": 1, "class": "short"}),
    )
    reference = django_filters.CharFilter(
        field_name="customer_reference", lookup_expr="iexact", label="Customer reference"
    )
    created_from = day_filter("created_at", "Created from")
    created_to = day_filter("created_at", "to", last=True)
    finished_from = day_filter("final_at", "Finished from")
    finished_to = day_filter("final_at", "to", last=True)
    # The orders one manual order placed (the page it redirects to); not shown as a field.
    ids = IdInFilter(field_name="pk", widget=HiddenCSVInput)
    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        empty_label=None,
        choices=[("created", "Oldest first"), ("-created", "Newest first")],
        widget=forms.HiddenInput,
    )

    class Meta:
        model = Order
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()[:SEARCH_MAX_LENGTH]
        if not value:
            return queryset
        # Transaction ids include the ones an order used before a retry. They are few and read
        # first, so that each alternative below can be served by its own index (a subquery inside
        # the OR would make PostgreSQL test every order against it).
        former = OrderTransactionId.objects.filter(transaction_id__icontains=value)
        match = (
            Q(transaction_id__icontains=value)
            | Q(pk__in=list(former.values_list("order_id", flat=True)[:SEARCH_FORMER_LIMIT]))
            | Q(customer_reference__icontains=value)
        )
        if (supplier_order_id := typed_id(value)) is not None:
            match |= Q(supplier_order_id=supplier_order_id)
        return queryset.filter(match)

    def filter_stage(self, queryset, name, value):
        return queryset.filter(status__in=list(STAGES[value][1]))

    def filter_attention(self, queryset, name, value):
        return queryset.filter(status=OrderStatus.NEEDS_ATTENTION) if value else queryset

    def filter_waiting(self, queryset, name, value):
        """Failed, refused or refunded, and neither ordered again nor retried in a batch: the
        customer has nothing yet."""
        if not value:
            return queryset
        return queryset.filter(
            status__in=list(ORDER_AGAIN_STATUSES),
            ordered_again_as__isnull=True,
            retried_in__isnull=True,
        )

    def filter_sort(self, queryset, name, value):
        return queryset.order_by("created_at", "id") if value == "created" else queryset

    @property
    def qs(self):
        queryset = super().qs
        data = self.form.cleaned_data if self.form.is_bound and self.form.is_valid() else {}
        if not data.get("sort"):
            queryset = queryset.order_by("-created_at", "-id")
        return queryset


class GiftReportFilter(django_filters.FilterSet):
    """The Telegram reports page: by state, transaction id, when the sale completed, refunds."""

    q = django_filters.CharFilter(
        field_name="transaction_id",
        lookup_expr="icontains",
        label="Transaction id",
        widget=forms.TextInput(attrs={"type": "search", "maxlength": 64}),
    )
    status = django_filters.ChoiceFilter(
        choices=GiftReportStatus.choices, empty_label="Any state", label="State"
    )
    refunded = django_filters.BooleanFilter(
        method="filter_refunded", label="Refunded after the report", widget=forms.CheckboxInput
    )
    sold_from = day_filter("transaction_at", "Sold from")
    sold_to = day_filter("transaction_at", "to", last=True)

    class Meta:
        model = GiftReport
        fields: list[str] = []

    def filter_refunded(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(status=GiftReportStatus.SENT, refunded_at__isnull=False)


class WebhookEventFilter(django_filters.FilterSet):
    account = django_filters.ModelChoiceFilter(
        queryset=SupplierAccount.objects.order_by("name"), empty_label="All accounts"
    )
    status = django_filters.ChoiceFilter(
        choices=WebhookEvent.Status.choices, empty_label="Any state", label="State"
    )

    class Meta:
        model = WebhookEvent
        fields: list[str] = []


class GiftSaleForm(forms.Form):
    """A gift sale made outside the order pages, to report to Telegram."""

    transaction_id = forms.CharField(
        label="Transaction id",
        max_length=64,
        help_text="The sale's own id at the marketplace (1-64 characters); Telegram keeps it once.",
    )
    sold_at = forms.DateTimeField(
        label="Sold at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="When the payment was confirmed.",
    )
    amount = DecimalField(label="Amount", min_value=Decimal("0.000000001"), decimal_places=9)
    currency = forms.ChoiceField(
        choices=[("USD", "USD"), ("TON", "TON")],
        help_text="Telegram takes USD or TON; convert another currency at the sale's rate.",
    )
    sale_type = forms.ChoiceField(choices=[(kind, kind.capitalize()) for kind in SALE_TYPES])
    gift_names = forms.CharField(
        label="Gift identifiers",
        max_length=500,
        help_text="As Telegram knows them, comma-separated (plushpepe-1, durovscap-1010).",
    )
    buyer_id = IntegerField(label="Buyer's Telegram user id", min_value=1)
    recipient_id = IntegerField(label="Recipient's Telegram user id", min_value=1, required=False)
    seller_id = IntegerField(label="Seller's Telegram user id", min_value=1, required=False)

    def clean_sold_at(self):
        value = self.cleaned_data["sold_at"]
        if value > timezone.now():
            raise forms.ValidationError("A sale is reported once it happened, not before.")
        return value

    def clean_gift_names(self) -> list[str]:
        names = [name.strip() for name in self.cleaned_data["gift_names"].split(",")]
        names = [name for name in names if name]
        if not names:
            raise forms.ValidationError("Give at least one gift identifier.")
        if len(set(names)) != len(names):
            raise forms.ValidationError("The same gift is listed twice.")
        return names
