"""Rows of the role x URL table (tests/core/test_role_url_table.py) for the finance pages.

Finance holds every finance permission; admins hold everything; operators hold none, so every
finance page refuses them. POST-only actions answer 405 to a GET once the role check passed.
"""

from tests.core.role_table import SIGN_IN, expect

SEE = expect(SIGN_IN, 403, 200, 200)
ACT = expect(SIGN_IN, 403, 405, 405)


def _run(f):
    return {"run_pk": f["finance_run"].pk}


# url name -> (function making reverse() kwargs from the fixtures, expected status per role)
ROWS: dict = {
    "finance:finance_overview": (None, SEE),
    "finance:spend_report": (None, SEE),
    "finance:spend_report_csv": (None, SEE),
    "finance:finance_snapshot_take": (None, ACT),
    "finance:finance_balance_enter": (None, ACT),
    "finance:finance_alert_rule_save": (None, ACT),
    "finance:ledger_list": (None, SEE),
    "finance:ledger_entry_detail": (lambda f: {"entry_pk": f["ledger_entry"].pk}, SEE),
    "finance:ledger_sync_start": (None, ACT),
    "finance:ledger_sync_list": (None, SEE),
    "finance:ledger_sync_detail": (lambda f: {"job_pk": f["ledger_sync"].pk}, SEE),
    "finance:reconciliation_list": (None, SEE),
    "finance:reconciliation_start": (None, ACT),
    "finance:reconciliation_detail": (_run, SEE),
    "finance:reconciliation_item_explain": (
        lambda f: {"run_pk": f["finance_run"].pk, "item_pk": f["finance_item"].pk},
        SEE,
    ),
    "finance:reconciliation_report_csv": (_run, SEE),
    "finance:reconciliation_report_xlsx": (_run, SEE),
    "finance:finance_export_ledger": (None, SEE),
    "finance:finance_export_ledger_xlsx": (None, SEE),
    "finance:finance_export_orders": (None, SEE),
}


def fixtures(make_staff) -> dict:
    """A ledger row, a ledger sync, and a finished run with one item, for the finance URLs."""
    import datetime

    from django.utils import timezone

    from finance import reconciliation as engine
    from finance.models import LedgerEntry, LedgerSync, ReconciliationItem, ReconciliationRun
    from finance.reconciliation.storing import totals_as_json
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(
        name="Finance table", base_url="http://127.0.0.1:9", shop_token="f" * 32
    )
    now = timezone.now()
    entry = LedgerEntry.objects.create(
        account=account,
        supplier_id=1,
        amount=100,
        type="DEPOSIT",
        balance_after=100,
        created_at=now,
        fetched_at=now,
    )
    result = engine.reconcile([], [])
    run = ReconciliationRun.objects.create(
        account=account,
        status="succeeded",
        period_start=now - datetime.timedelta(days=1),
        period_end=now,
        engine_settings=engine.Settings().as_dict(),
        counts={bucket.value: 0 for bucket in engine.Bucket} | {"DEPOSIT": 1},
        totals=totals_as_json(result.totals),
        ties=True,
        ledger_count=1,
    )
    item = ReconciliationItem.objects.create(
        run=run, position=0, bucket="DEPOSIT", item_key="L:1", ledger_entry=entry
    )
    return {
        "ledger_entry": entry,
        "ledger_sync": LedgerSync.objects.create(account=account, status="succeeded"),
        "finance_run": run,
        "finance_item": item,
    }
