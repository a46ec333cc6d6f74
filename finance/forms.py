"""Forms of the finance pages. Periods are whole days in the site's time zone: a period "from
1 July to 7 July" is [1 July 00:00, 8 July 00:00)."""

import datetime as dt
from decimal import Decimal

from django import forms
from django.utils import timezone

from finance import selectors
from reseller.core.forms import DecimalField

DAY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "a year")]
LEDGER_TYPES = [
    ("", "Any type"),
    ("PURCHASE", "Purchase"),
    ("REFUND", "Refund"),
    ("DEPOSIT", "Deposit"),
]


def day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def today() -> dt.date:
    return timezone.localdate()


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


# Days outside these years are typing mistakes; refusing them keeps "the day after" computable.
EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2099, 12, 31)


class DayField(forms.DateField):
    """A day of a period, between EARLIEST_DAY and LATEST_DAY."""

    widget = DateInput

    def validate(self, value):
        super().validate(value)
        if value is not None and not EARLIEST_DAY <= value <= LATEST_DAY:
            raise forms.ValidationError(
                f"Choose a day between {EARLIEST_DAY:%Y} and {LATEST_DAY:%Y}.", code="out_of_range"
            )


class AccountChoiceField(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        super().__init__(queryset=selectors.finance_accounts(), empty_label=None, **kwargs)


class PeriodForm(forms.Form):
    """A period of whole days, both ends included."""

    start = DayField(label="From")
    end = DayField(label="To (included)")

    def clean(self):
        super().clean()
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "The period must end on or after the day it starts.")
        return data

    @property
    def period(self) -> tuple[dt.datetime, dt.datetime]:
        data = self.cleaned_data
        return day_start(data["start"]), day_start(data["end"] + dt.timedelta(days=1))


def default_period(days: int = 7) -> dict:
    return {"start": today() - dt.timedelta(days=days - 1), "end": today()}


class ExportForm(PeriodForm):
    account = AccountChoiceField()

    field_order = ["account", "start", "end"]


class ReconciliationForm(PeriodForm):
    account = AccountChoiceField()
    fx_tolerance_pct = DecimalField(
        label="FX tolerance (%)",
        min_value=Decimal("0"),
        max_value=Decimal("50"),
        decimal_places=3,
        initial=Decimal("3"),
        help_text="A charge within this share of our USD estimate is matched.",
    )
    abs_tolerance = DecimalField(
        label="Or within (USD)",
        min_value=Decimal("0"),
        max_value=Decimal("1000"),
        decimal_places=2,
        initial=Decimal("0.02"),
    )
    window_slack_minutes = DecimalField(
        label="Window slack (minutes)",
        min_value=Decimal("0"),
        max_value=Decimal("1440"),
        decimal_places=1,
        initial=Decimal("2"),
        help_text="How far before submission and after finality a ledger row may fall.",
    )

    refund_window_hours = DecimalField(
        label="Refund window (hours)",
        min_value=Decimal("0.05"),
        max_value=Decimal("720"),
        decimal_places=2,
        initial=Decimal("24"),
        required=False,
        help_text="How long after an order failed its refund may be booked (empty: 24).",
    )

    field_order = ["account", "start", "end", "fx_tolerance_pct", "abs_tolerance"]

    def engine_arguments(self) -> dict:
        data = self.cleaned_data
        start, end = self.period
        return {
            "account": data["account"],
            "period_start": start,
            "period_end": end,
            "fx_tolerance": data["fx_tolerance_pct"] / Decimal(100),
            "abs_tolerance": data["abs_tolerance"],
            "window_slack": dt.timedelta(minutes=float(data["window_slack_minutes"])),
            "refund_window": (
                None
                if data.get("refund_window_hours") is None
                else dt.timedelta(hours=float(data["refund_window_hours"]))
            ),
        }


class AlertRuleForm(forms.Form):
    threshold_usd = DecimalField(
        label="Alert below (USD)",
        required=False,
        min_value=Decimal("0"),
        max_digits=14,
        decimal_places=2,
    )
    runway_days = DecimalField(
        label="Or when it lasts fewer than (days)",
        required=False,
        min_value=Decimal("0"),
        max_digits=6,
        decimal_places=1,
    )


class BalanceEntryForm(forms.Form):
    """A balance read elsewhere, for a supplier without a balance endpoint."""

    balance = forms.DecimalField(
        label="Balance (USD)", max_digits=14, decimal_places=2, min_value=Decimal("-1000000000")
    )
    note = forms.CharField(
        label="Where it was read",
        required=False,
        max_length=200,
        help_text="For instance: the supplier's partner site, or their email of today.",
    )


class ExplainForm(forms.Form):
    comment = forms.CharField(
        label="Explanation",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class LedgerFilterForm(forms.Form):
    type = forms.ChoiceField(choices=LEDGER_TYPES, required=False)
    start = DayField(label="From", required=False)
    end = DayField(label="To (included)", required=False)
    q = forms.CharField(label="Id or description", required=False, max_length=100)

    def filters(self) -> dict:
        """The filters that were understood (the page shows why the others were not)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = self.cleaned_data
        return {
            "kind": data.get("type") or "",
            "start": day_start(data["start"]) if data.get("start") else None,
            "end": day_start(data["end"] + dt.timedelta(days=1)) if data.get("end") else None,
            "search": data.get("q") or "",
        }
