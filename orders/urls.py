from django.urls import include, path

app_name = "orders"

urlpatterns = [
    path("batches/", include("orders.batches.urls")),
    path("spending/", include("orders.spend_urls")),
    path("", include("orders.order_urls")),
]
