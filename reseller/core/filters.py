import django_filters
from django import forms

from reseller.core.audit import ACTION_GROUPS
from reseller.core.forms import DecimalField
from reseller.core.models import AuditEvent


class NumberFilter(django_filters.NumberFilter):
    """A number filter that takes the digits 0-9 only (reseller.core.forms.DecimalField)."""

    field_class = DecimalField


def day_filter(field_name: str, label: str, *, last: bool = False) -> django_filters.DateFilter:
    """A period's first day (or, `last`, its last day, included) on a date-time field, typed in
    the browser's date picker."""
    return django_filters.DateFilter(
        field_name=field_name,
        lookup_expr="date__lte" if last else "date__gte",
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def _action_choices():
    choices = []
    for group, actions in ACTION_GROUPS.items():
        choices.append((group, [(group, f"{group}: any"), *actions.items()]))
    return choices


class AuditEventFilter(django_filters.FilterSet):
    person = django_filters.ChoiceFilter(
        field_name="actor_name", label="Person", empty_label="Anyone", choices=()
    )
    action = django_filters.ChoiceFilter(
        method="filter_action", label="Action", empty_label="Any action", choices=_action_choices
    )
    target = django_filters.CharFilter(method="filter_target", label="Target id")
    since = day_filter("created_at", "From")
    until = day_filter("created_at", "To", last=True)

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The people who appear in the log (a former colleague's events stay findable).
        names = (
            AuditEvent.objects.exclude(actor_name="")
            .order_by("actor_name")
            .values_list("actor_name", flat=True)
            .distinct()
        )
        self.filters["person"].extra["choices"] = [(name, name) for name in names]

    def filter_action(self, queryset, name, value):
        if value in ACTION_GROUPS:
            return queryset.filter(action__in=list(ACTION_GROUPS[value]))
        return queryset.filter(action=value)

    def filter_target(self, queryset, name, value):
        return queryset.filter(target_id=value)
