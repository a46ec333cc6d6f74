from django.urls import include, path

urlpatterns = [
    path("batches/", include("orders.batches.urls")),
    path("", include("orders.order_urls")),
]
