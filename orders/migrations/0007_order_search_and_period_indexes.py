from django.db import migrations, models

# The order search matches a substring of the transaction id (the current one and those an order
# used before a retry) or the customer's reference, case-insensitively: Django writes that as
# UPPER(column::text) LIKE UPPER('%value%'). On PostgreSQL a trigram GIN index on that very
# expression serves it instead of a scan of every order. SQLite scans, which is right at the sizes a
# developer's machine holds.
TRIGRAM_INDEXES = {
    "order_txid_trgm": ("orders_order", "transaction_id"),
    "order_reference_trgm": ("orders_order", "customer_reference"),
    "order_former_txid_trgm": ("orders_ordertransactionid", "transaction_id"),
}


def add_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_order_delivery_error")]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["account", "submitted_at"], name="order_account_submitted"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["batch", "final_at"], name="order_batch_final"),
        ),
        migrations.RunPython(add_trigram_indexes, drop_trigram_indexes),
    ]
