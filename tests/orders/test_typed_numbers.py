"""Every number typed into a form or written in a batch file is read with the digits 0-9 only:
"١٢" (Arabic-Indic) or "２００１" (full-width) is refused with a message, never read as 12 or 2001."""

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.models import CurrencyRate
from orders.batches.parsing import parse_row
from orders.batches.reading import RawRow
from orders.forms import OrderFilter, OrderForm
from orders.models import Order
from reseller.core.forms import ASCII_DIGITS_MESSAGE, DecimalField, IntegerField
from reseller.core.ids import ascii_digits_only

OTHER_DIGITS = ["١٢", "２００１", "۱۲", "१२", "12²", "1٢"]


@pytest.mark.parametrize("text", OTHER_DIGITS)
def test_other_scripts_digits_are_not_ascii_digits(text):
    assert not ascii_digits_only(text)


@pytest.mark.parametrize("text", ["12", "0.50", "1 234,50", "-3", "", "abc"])
def test_ascii_text_passes(text):
    assert ascii_digits_only(text)


@pytest.mark.parametrize("text", OTHER_DIGITS)
def test_form_fields_refuse_other_digits(text):
    from django.core.exceptions import ValidationError

    for field in (IntegerField(), DecimalField()):
        with pytest.raises(ValidationError, match="digits 0-9"):
            field.clean(text)
    assert IntegerField().clean("12") == 12 and DecimalField().clean("2.5") == Decimal("2.5")


def test_the_manual_order_form_refuses_a_quantity_of_arabic_indic_digits(offline_offer):
    data = {"offer": offline_offer.pk, "quantity": "١٢", "max_unit_price": "10"}
    form = OrderForm(data, offer=offline_offer)
    assert not form.is_valid()
    assert form.errors["quantity"] == [ASCII_DIGITS_MESSAGE]
    price = OrderForm({**data, "quantity": "1", "max_unit_price": "١٠"}, offer=offline_offer)
    assert not price.is_valid() and price.errors["max_unit_price"] == [ASCII_DIGITS_MESSAGE]


def test_posting_such_a_quantity_orders_nothing(client_as, offline_offer):
    response = client_as("operator").post(
        reverse("orders:order_create"),
        {"offer": offline_offer.pk, "quantity": "١٢", "max_unit_price": "10"},
    )
    assert response.status_code == 200 and not Order.objects.exists()
    assert ASCII_DIGITS_MESSAGE in response.content.decode()


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"quantity": "١٢"}, "quantity '١٢' is not written with the digits 0-9"),
        ({"offer_id": "２００１"}, "offer_id '２００１' is not written with the digits 0-9"),
    ],
)
def test_a_batch_cell_of_other_digits_is_a_row_problem(values, problem):
    parsed = parse_row(RawRow(3, {"offer_id": "101", "quantity": "1", **values}))
    assert problem in parsed.problems and not parsed.ok


def test_id_filters_and_rates_take_ascii_digits_only(client_as, db):
    assert not OrderFilter({"batch": "١٢"}).form.is_valid()
    client_as("admin").post(
        reverse("catalog:currency_rate_save"), {"currency": "PLN", "usd_per_unit": "٠٫٢٥"}
    )
    assert not CurrencyRate.objects.filter(currency="PLN").exists()
