"""The catalog browser's filter form (django-filter). Every filter is a query-string parameter,
so a filtered view is a URL that can be bookmarked and shared."""

import django_filters
from django import forms

from catalog.models import Offer
from catalog.selectors import SORTABLE, compatibility_q
from reseller.core.filters import NumberFilter

SEARCH_MAX_LENGTH = 100


class OfferFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Product or offer", "maxlength": 100}
        ),
    )
    category = django_filters.ChoiceFilter(empty_label="All categories")
    currency = django_filters.ChoiceFilter(empty_label="All currencies")
    stock = django_filters.ChoiceFilter(
        method="filter_stock",
        empty_label="Any stock",
        choices=[("in", "In stock"), ("out", "Out of stock")],
    )
    compatibility = django_filters.ChoiceFilter(
        method="filter_compatibility",
        label="Settlement",
        empty_label="Any settlement",
        choices=[
            ("compatible", "Compatible"),
            ("incompatible", "Incompatible"),
            ("unknown", "Not known"),
        ],
    )
    listing = django_filters.ChoiceFilter(
        method="filter_listing",
        empty_label="Listed",
        choices=[("delisted", "Delisted"), ("all", "Listed and delisted")],
    )
    changed = django_filters.BooleanFilter(
        method="filter_changed",
        label="Price changed",
        widget=forms.CheckboxInput,
    )
    min_price = NumberFilter(field_name="price", lookup_expr="gte", label="Price from")
    max_price = NumberFilter(field_name="price", lookup_expr="lte", label="to")
    product = NumberFilter(field_name="product_id", widget=forms.HiddenInput)
    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        empty_label=None,
        choices=[(key, key) for key in SORTABLE] + [(f"-{key}", f"-{key}") for key in SORTABLE],
        widget=forms.HiddenInput,
    )

    class Meta:
        model = Offer
        fields: list[str] = []

    def __init__(self, *args, account, categories, currencies, last_sync=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account, self.last_sync = account, last_sync
        self.filters["category"].extra["choices"] = [(c, c or "(none)") for c in categories]
        self.filters["currency"].extra["choices"] = [(c, c) for c in currencies]

    @property
    def searches(self) -> bool:
        """Whether the list is narrowed by a text search (a valid one, with at least one word)."""
        data = self.form.cleaned_data if self.form.is_bound and self.form.is_valid() else {}
        return bool((data.get("q") or "").split())

    @property
    def qs(self):
        queryset = super().qs
        data = self.form.cleaned_data if self.form.is_bound and self.form.is_valid() else {}
        if not data.get("listing"):
            queryset = queryset.filter(delisted_at__isnull=True)
        if not data.get("sort"):
            queryset = queryset.order_by(*SORTABLE["product"])
        return queryset

    def filter_search(self, queryset, name, value):
        # Lower-cased substring over "product offer"; Django escapes % and _ itself, and a
        # trigram index serves it on PostgreSQL.
        words = value.lower().split()[:8]
        for word in words:
            queryset = queryset.filter(search_text__contains=word[:SEARCH_MAX_LENGTH])
        return queryset

    def filter_stock(self, queryset, name, value):
        return queryset.filter(in_stock=(value == "in"))

    def filter_compatibility(self, queryset, name, value):
        return queryset.filter(compatibility_q(self.account.balance_profile, value))

    def filter_listing(self, queryset, name, value):
        if value == "delisted":
            return queryset.filter(delisted_at__isnull=False)
        return queryset

    def filter_changed(self, queryset, name, value):
        if not value:
            return queryset
        since = self.last_sync.started_at if self.last_sync else None
        changed = queryset.filter(previous_price__isnull=False)
        return changed.filter(price_changed_at__gte=since) if since else changed

    def filter_sort(self, queryset, name, value):
        descending = value.startswith("-")
        columns = SORTABLE[value.lstrip("-")]
        return queryset.order_by(*[f"-{c}" if descending else c for c in columns])
