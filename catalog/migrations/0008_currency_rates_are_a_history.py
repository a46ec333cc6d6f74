import datetime

from django.db import migrations, models
import django.utils.timezone

#: The rates kept before they had a history priced every order until now: they stand for all of
#: that past, so an old period keeps the answer it had.
BEFORE_HISTORY = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def rates_valid_since_before_history(apps, schema_editor):
    CurrencyRate = apps.get_model("catalog", "CurrencyRate")
    CurrencyRate.objects.update(valid_from=BEFORE_HISTORY)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0007_offer_lookup_job"),
    ]

    operations = [
        migrations.RenameField("currencyrate", "updated_at", "recorded_at"),
        migrations.AlterField(
            model_name="currencyrate",
            name="recorded_at",
            field=models.DateTimeField(auto_now_add=True),
        ),
        migrations.AddField(
            model_name="currencyrate",
            name="valid_from",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(rates_valid_since_before_history, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="currencyrate",
            name="currency",
            field=models.CharField(max_length=8),
        ),
        migrations.AlterModelOptions(
            name="currencyrate", options={"ordering": ["currency", "-valid_from"]}
        ),
        migrations.AddConstraint(
            model_name="currencyrate",
            constraint=models.UniqueConstraint(
                fields=("currency", "valid_from"), name="currency_rate_one_per_moment"
            ),
        ),
    ]
