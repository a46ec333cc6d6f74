from django.urls import path

from catalog import product_views, views

app_name = "catalog"

urlpatterns = [
    path("", views.catalog_browse, name="catalog_browse"),
    path("export.csv", views.catalog_export, name="catalog_export"),
    path("offers/<int:offer_pk>/", views.offer_detail, name="offer_detail"),
    path("offers/<int:offer_pk>/refresh/", views.offer_refresh, name="offer_refresh"),
    path("offers/<int:offer_pk>/servers/", views.offer_servers, name="offer_servers"),
    path("sync/", views.sync_list, name="sync_list"),
    path("sync/start/", views.sync_start, name="sync_start"),
    path("sync/<int:job_pk>/", views.sync_detail, name="sync_detail"),
    path(
        "profile-changes/<int:change_pk>/dismiss/",
        views.profile_change_dismiss,
        name="profile_change_dismiss",
    ),
    path("lookups/", views.offer_lookup_list, name="offer_lookup_list"),
    path("lookups/start/", views.offer_lookup_start, name="offer_lookup_start"),
    path("lookups/refresh/", views.offer_lookup_refresh, name="offer_lookup_refresh"),
    path("lookups/<int:job_pk>/", views.offer_lookup_detail, name="offer_lookup_detail"),
    path("products/", product_views.product_list, name="product_list"),
    path("products/new/", product_views.product_create, name="product_create"),
    path("products/<int:product_pk>/", product_views.product_detail, name="product_detail"),
    path("products/<int:product_pk>/edit/", product_views.product_edit, name="product_edit"),
    path(
        "products/<int:product_pk>/attach/",
        product_views.product_route_attach,
        name="product_route_attach",
    ),
    path("routes/<int:route_pk>/", product_views.product_route_change, name="product_route_change"),
    path("pricing/", views.pricing, name="pricing"),
    path("pricing/<int:rule_pk>/", views.pricing_rule_edit, name="pricing_rule_edit"),
    path("pricing/rates/", views.currency_rate_save, name="currency_rate_save"),
]
