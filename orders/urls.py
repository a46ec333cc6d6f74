from django.urls import include, path

app_name = "orders"

urlpatterns = [
    path("batches/", include("orders.batches.urls")),
    path("", include("orders.order_urls")),
]
