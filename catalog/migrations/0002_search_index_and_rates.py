from decimal import Decimal

from django.db import migrations

# Rough starting points for staff to correct on the pricing page; the supplier's own conversion
# shows in its ledger after each purchase.
STARTING_RATES = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "RUB": Decimal("0.011"),
    "KZT": Decimal("0.0021"),
    "TRY": Decimal("0.031"),
}


def add_trigram_index(apps, schema_editor):
    # Substring search over 100,000+ offers: a trigram GIN index on PostgreSQL. SQLite scans,
    # which is right at the sizes a developer's machine holds.
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS catalog_offer_search_trgm "
        "ON catalog_offer USING gin (search_text gin_trgm_ops)"
    )


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_offer_search_trgm")


def seed_rates(apps, schema_editor):
    CurrencyRate = apps.get_model("catalog", "CurrencyRate")
    for currency, rate in STARTING_RATES.items():
        CurrencyRate.objects.get_or_create(currency=currency, defaults={"usd_per_unit": rate})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunPython(add_trigram_index, drop_trigram_index),
        migrations.RunPython(seed_rates, migrations.RunPython.noop),
    ]
