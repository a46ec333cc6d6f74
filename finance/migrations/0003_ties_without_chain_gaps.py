"""Runs stored before said "ties" whenever the balance chain telescoped, that is always: the tie
now leaves the chain gaps out, so a run with rows missing (or a wrong opening balance) shows that
it does not tie. Recompute the stored flag and the summary of the runs already kept."""

from django.db import migrations


def recompute(apps, schema_editor):
    from finance.models import totals_tie_difference

    Run = apps.get_model("finance", "ReconciliationRun")
    for run in Run.objects.exclude(totals={}).only("pk", "totals", "message").iterator():
        difference = totals_tie_difference(run.totals)
        if difference is None:
            continue
        ties = difference == 0
        message = run.message
        if not ties:
            message = message.replace(
                "; totals tie.",
                f"; TOTALS DO NOT TIE by {difference.quantize(difference.__class__('0.01'))} USD "
                "(see the chain breaks).",
            )
        Run.objects.filter(pk=run.pk).update(ties=ties, message=message)


class Migration(migrations.Migration):
    dependencies = [("finance", "0002_item_indexes_for_fast_runs")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
