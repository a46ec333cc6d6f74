from django.urls import path

from suppliers import views

app_name = "suppliers"

urlpatterns = [
    path("", views.supplier_list, name="supplier_list"),
    path("new/", views.supplier_create, name="supplier_create"),
    path("<int:account_id>/", views.supplier_edit, name="supplier_edit"),
    path("<int:account_id>/check/", views.supplier_check, name="supplier_check"),
    path("telegram/new/", views.marketplace_create, name="marketplace_create"),
    path("telegram/<int:marketplace_id>/", views.marketplace_edit, name="marketplace_edit"),
    path("telegram/<int:marketplace_id>/check/", views.marketplace_check, name="marketplace_check"),
]
