"""Partial deliveries recorded before orders kept their refunded units: finance expected the
missing units back (units - units delivered), so those orders record that, and a rerun of an old
period gives the answer it gave before."""

from django.db import migrations
from django.db.models import F


def earlier_partial_deliveries_record_their_refund(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Order.objects.filter(
        status__in=["COMPLETED", "NEEDS_ATTENTION"],
        units_delivered__gt=0,
        units_delivered__lt=F("units"),
        units_refunded=0,
    ).update(units_refunded=F("units") - F("units_delivered"))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0013_spend_limits_and_approvals"),
    ]

    operations = [
        migrations.RunPython(
            earlier_partial_deliveries_record_their_refund, migrations.RunPython.noop
        ),
    ]
