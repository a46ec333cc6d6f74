from django.urls import path

from orders import gift_report_views, product_views, views, webhook_views

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
    path("telegram-reports/", gift_report_views.gift_report_list, name="gift_report_list"),
    path("telegram-reports/new/", gift_report_views.gift_sale_create, name="gift_sale_create"),
    path("telegram-reports/import/", gift_report_views.gift_sale_import, name="gift_sale_import"),
    path(
        "telegram-reports/export.csv",
        gift_report_views.gift_report_export,
        name="gift_report_export",
    ),
    path(
        "telegram-reports/export.xlsx",
        gift_report_views.gift_report_export_xlsx,
        name="gift_report_export_xlsx",
    ),
    path(
        "telegram-reports/<int:report_pk>/retry/",
        gift_report_views.gift_report_retry,
        name="gift_report_retry",
    ),
    path("webhooks/<int:account_id>/", webhook_views.supplier_webhook, name="supplier_webhook"),
    path("webhook-events/", webhook_views.webhook_event_list, name="webhook_event_list"),
    path(
        "webhook-events/<int:event_pk>/replay/",
        webhook_views.webhook_event_replay,
        name="webhook_event_replay",
    ),
]
