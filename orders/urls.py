from django.urls import include, path

urlpatterns = [
    path("batches/", include("orders.batch_urls")),
    path("", include("orders.order_urls")),
]
