from django.urls import path

from orders import batch_views

urlpatterns = [
    path("", batch_views.batch_list, name="batch_list"),
    path("new/", batch_views.batch_upload, name="batch_upload"),
    path("template.csv", batch_views.batch_template_csv, name="batch_template_csv"),
    path("template.xlsx", batch_views.batch_template_xlsx, name="batch_template_xlsx"),
    path("<int:batch_pk>/", batch_views.batch_detail, name="batch_detail"),
    path("<int:batch_pk>/results.csv", batch_views.batch_results, name="batch_results"),
    path("<int:batch_pk>/keys.csv", batch_views.batch_keys_export, name="batch_keys_export"),
    path("<int:batch_pk>/actions/<slug:action>/", batch_views.batch_action, name="batch_action"),
]
