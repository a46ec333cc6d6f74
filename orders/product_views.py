"""Ordering a product: the shop's product, routed when it is sent (not one account's offer)."""

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from catalog.models import Product
from orders.errors import AlreadyPlaced
from orders.routing import product_routes_now
from orders.services.limits import MAX_QUANTITY
from orders.services.rerouting import order_create_for_product
from reseller.core.errors import ApplicationError
from reseller.core.forms import IntegerField

NEEDS_PLAYER = (Product.CustomerGives.PLAYER_ID, Product.CustomerGives.PLAYER_AND_SERVER)


class ProductOrderForm(forms.Form):
    quantity = IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)
    game_user_id = forms.CharField(label="Player id", max_length=64, required=False)
    game_server_id = forms.CharField(label="Server", max_length=64, required=False)
    email = forms.EmailField(label="Customer email", required=False)
    customer_reference = forms.CharField(max_length=120, required=False)
    request_key = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)

    def __init__(self, *args, product: Product, **kwargs):
        super().__init__(*args, **kwargs)
        self.product = product
        if product.customer_gives not in NEEDS_PLAYER:
            del self.fields["game_user_id"]
        if product.customer_gives != Product.CustomerGives.PLAYER_AND_SERVER:
            del self.fields["game_server_id"]
        if "game_user_id" in self.fields:
            self.fields["game_user_id"].required = True
        if "game_server_id" in self.fields:
            self.fields["game_server_id"].required = True


@permission_required("orders.add_order", raise_exception=True)
@require_http_methods(["GET", "POST"])
def product_order_create(request, product_pk: int):
    product = get_object_or_404(Product, pk=product_pk)
    form = ProductOrderForm(
        request.POST or None, product=product, initial={"request_key": uuid.uuid4().hex}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            orders = order_create_for_product(
                product=product,
                quantity=data["quantity"],
                game_user_id=data.get("game_user_id", ""),
                game_server_id=data.get("game_server_id", ""),
                email=data.get("email", ""),
                customer_reference=data.get("customer_reference", ""),
                request_key=data["request_key"],
                by=request.user,
                request=request,
            )
        except AlreadyPlaced as placed:
            messages.info(request, f"{placed.message} Nothing was ordered twice.")
            return _show(placed.order_ids)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"{len(orders)} order{'s' if len(orders) != 1 else ''} of {product} placed "
                f"via {orders[0].account.name}.",
            )
            return _show([order.pk for order in orders])
    context = {"product": product, "form": form, "choices": product_routes_now(product)}
    return render(request, "orders/product_order_form.html", context)


def _show(order_ids: list[int]):
    if len(order_ids) == 1:
        return redirect("orders:order_detail", order_pk=order_ids[0])
    return redirect(f"{reverse('orders:order_list')}?ids={','.join(str(pk) for pk in order_ids)}")
