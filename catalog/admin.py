from django.contrib import admin

from catalog.models import Offer


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    """Offers, read-only: the sync and find-one write them (with their price history); staff
    browse them in the catalog pages. Here for admins who want the raw rows."""

    list_display = (
        "offer_id",
        "product_name",
        "offer_name",
        "category",
        "price",
        "currency",
        "in_stock",
        "settlement_method",
        "delisted_at",
        "account",
    )
    list_filter = ("category", "currency", "in_stock")
    search_fields = ("product_name", "offer_name")
    ordering = ("product_name", "offer_name", "offer_id")
    list_per_page = 50
    list_select_related = ("account",)
    # The unfiltered total is one more COUNT over every offer on each page; not worth it here.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
