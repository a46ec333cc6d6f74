from decimal import Decimal

import django.core.validators
from django.db import migrations, models


def at_least_one_second(apps, schema_editor):
    SupplierAccount = apps.get_model("suppliers", "SupplierAccount")
    SupplierAccount.objects.filter(call_deadline_seconds__lt=1).update(call_deadline_seconds=1)


class Migration(migrations.Migration):
    dependencies = [("suppliers", "0001_initial")]

    operations = [
        # The read timeout (per socket read) becomes the deadline of the whole call.
        migrations.RenameField(
            model_name="supplieraccount",
            old_name="read_timeout_seconds",
            new_name="call_deadline_seconds",
        ),
        migrations.AlterField(
            model_name="supplieraccount",
            name="call_deadline_seconds",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("20"),
                help_text=(
                    "The longest one call to this supplier may take, start to end, whatever the "
                    "server does. Calls made while someone waits on a page take at most 5 s."
                ),
                max_digits=5,
                validators=[
                    django.core.validators.MinValueValidator(Decimal("1")),
                    django.core.validators.MaxValueValidator(Decimal("300")),
                ],
                verbose_name="Deadline per call (seconds)",
            ),
        ),
        migrations.RunPython(at_least_one_second, migrations.RunPython.noop),
    ]
