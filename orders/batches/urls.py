from django.urls import path

from orders.batches import views

urlpatterns = [
    path("", views.batch_list, name="batch_list"),
    path("new/", views.batch_upload, name="batch_upload"),
    path("template.csv", views.batch_template_csv, name="batch_template_csv"),
    path("template.xlsx", views.batch_template_xlsx, name="batch_template_xlsx"),
    path("<int:batch_pk>/", views.batch_detail, name="batch_detail"),
    path("<int:batch_pk>/results.csv", views.batch_results, name="batch_results"),
    path("<int:batch_pk>/keys.csv", views.batch_keys_export, name="batch_keys_export"),
    path("<int:batch_pk>/retry-failed/", views.batch_retry, name="batch_retry"),
    path("<int:batch_pk>/rows-to-fix.xlsx", views.batch_fix_rows, name="batch_fix_rows"),
    path("<int:batch_pk>/actions/<slug:action>/", views.batch_action, name="batch_action"),
]
