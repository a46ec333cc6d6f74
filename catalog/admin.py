from django.contrib import admin

from catalog.models import Offer

READ_ONLY = (
    "account",
    "offer_id",
    "product_name",
    "offer_name",
    "category",
    "price",
    "currency",
    "in_stock",
    "requires_user_id",
    "settlement_method",
    "delisted_at",
)


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    """Offers as the sync and find-one wrote them (with their price history); staff browse them
    in the catalog pages. Here for admins who want the raw rows, and who set what an offer sells
    on Telegram (its sales are then reported to Telegram): the only fields changed here."""

    list_display = (
        "offer_id",
        "product_name",
        "offer_name",
        "category",
        "price",
        "currency",
        "in_stock",
        "settlement_method",
        "telegram_kind",
        "delisted_at",
        "account",
    )
    list_filter = ("category", "currency", "in_stock", "telegram_kind")
    fields = ("telegram_kind", "telegram_gift_names", *READ_ONLY)
    readonly_fields = READ_ONLY
    search_fields = ("product_name", "offer_name")
    ordering = ("product_name", "offer_name", "offer_id")
    list_per_page = 50
    list_select_related = ("account",)
    # The unfiltered total is one more COUNT over every offer on each page; not worth it here.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return bool(request.user.is_active and request.user.is_staff)

    def has_delete_permission(self, request, obj=None):
        return False
