from django.urls import path

from orders import product_views, views

urlpatterns = [
    path("", views.order_list, name="order_list"),
    path("export.csv", views.order_export, name="order_export"),
    path("new/", views.order_create, name="order_create"),
    path("of-offer/<int:offer_pk>/", views.offer_orders, name="offer_orders"),
    path("routing/<int:product_pk>/", views.product_routing, name="product_routing"),
    path(
        "product/<int:product_pk>/new/",
        product_views.product_order_create,
        name="product_order_create",
    ),
    path("<int:order_pk>/", views.order_detail, name="order_detail"),
    path("<int:order_pk>/keys/reveal/", views.order_key_reveal, name="order_key_reveal"),
    path("<int:order_pk>/actions/<slug:action>/", views.order_action, name="order_action"),
    path(
        "queues/<int:account_pk>/resume/",
        views.account_queue_resume,
        name="account_queue_resume",
    ),
]
