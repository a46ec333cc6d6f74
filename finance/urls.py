from django.urls import path

from finance import views

app_name = "finance"

urlpatterns = [
    path("", views.finance_overview, name="finance_overview"),
    path("spending/", views.spend_report, name="spend_report"),
    path("spending.csv", views.spend_report_csv, name="spend_report_csv"),
    path("snapshot/", views.finance_snapshot_take, name="finance_snapshot_take"),
    path("balance/enter/", views.finance_balance_enter, name="finance_balance_enter"),
    path("alert-rule/", views.finance_alert_rule_save, name="finance_alert_rule_save"),
    path("ledger/", views.ledger_list, name="ledger_list"),
    path("ledger/<int:entry_pk>/", views.ledger_entry_detail, name="ledger_entry_detail"),
    path("ledger/sync/", views.ledger_sync_start, name="ledger_sync_start"),
    path("ledger/syncs/", views.ledger_sync_list, name="ledger_sync_list"),
    path("ledger/syncs/<int:job_pk>/", views.ledger_sync_detail, name="ledger_sync_detail"),
    path("reconciliation/", views.reconciliation_list, name="reconciliation_list"),
    path("reconciliation/start/", views.reconciliation_start, name="reconciliation_start"),
    path("reconciliation/<int:run_pk>/", views.reconciliation_detail, name="reconciliation_detail"),
    path(
        "reconciliation/<int:run_pk>/items/<int:item_pk>/explain/",
        views.reconciliation_item_explain,
        name="reconciliation_item_explain",
    ),
    path(
        "reconciliation/<int:run_pk>/report.csv",
        views.reconciliation_report_csv,
        name="reconciliation_report_csv",
    ),
    path(
        "reconciliation/<int:run_pk>/report.xlsx",
        views.reconciliation_report_xlsx,
        name="reconciliation_report_xlsx",
    ),
    path("export/ledger.csv", views.finance_export_ledger, name="finance_export_ledger"),
    path("export/ledger.xlsx", views.finance_export_ledger_xlsx, name="finance_export_ledger_xlsx"),
    path("export/orders.csv", views.finance_export_orders, name="finance_export_orders"),
    path("products/", views.product_report, name="product_report"),
]
