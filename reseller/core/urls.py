from django.urls import path

from reseller.core import views

app_name = "core"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/<int:user_id>/", views.staff_detail, name="staff_detail"),
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
]
