"""An explanation remembers the order its item was matched to (with the bucket it already kept),
so a row that later moves to another bucket or order shows it as "explained earlier"; a run keeps
the warning that its ledger was older than the end of its period."""

from django.db import migrations, models


def remember_orders(apps, schema_editor):
    Explanation = apps.get_model("finance", "ItemExplanation")
    Item = apps.get_model("finance", "ReconciliationItem")
    for explanation in Explanation.objects.filter(run__isnull=False).iterator():
        order_key = (
            Item.objects.filter(run_id=explanation.run_id, item_key=explanation.item_key)
            .values_list("order_key", flat=True)
            .first()
        )
        if order_key:
            Explanation.objects.filter(pk=explanation.pk).update(order_key=order_key)


class Migration(migrations.Migration):
    dependencies = [("finance", "0003_ties_without_chain_gaps")]

    operations = [
        migrations.AddField(
            model_name="itemexplanation",
            name="order_key",
            field=models.CharField(
                blank=True,
                help_text="The item's order when it was explained (if any).",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="reconciliationrun",
            name="ledger_warning",
            field=models.TextField(
                blank=True, help_text="Set when the ledger was older than the end of the period."
            ),
        ),
        migrations.RunPython(remember_orders, migrations.RunPython.noop),
    ]
