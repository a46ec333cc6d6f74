import django_filters
from django import forms

from reseller.core.forms import DecimalField
from reseller.core.models import AuditEvent


class NumberFilter(django_filters.NumberFilter):
    """A number filter that takes the digits 0-9 only (reseller.core.forms.DecimalField)."""

    field_class = DecimalField


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(lookup_expr="istartswith", label="Action starts with")
    actor_name = django_filters.CharFilter(lookup_expr="iexact", label="User")
    target = django_filters.CharFilter(method="filter_target", label="Target id")
    since = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_target(self, queryset, name, value):
        return queryset.filter(target_id=value)
